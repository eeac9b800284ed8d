"""The run ledger: what this process resolved, and the pins a rerun must honour.

Every floating reference a notebook resolves (a dataset ``rev`` to a commit, a model
``name@alias`` to a version) is recorded here as an entry ``{kind, key, ...}``. A run
manifest stores the ledger; a rerun exports it as pins (``LEPTON_PINS`` names a JSON file)
so the same ``key`` resolves to the recorded value instead of the current one.

Kinds: ``dataset`` (key ``url|path|rev``), ``model`` (key ``ref``), ``job`` (key job id),
``publish`` (key ``name:version``), ``metric`` (key metric name).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PINS_ENV = "LEPTON_PINS"
LEDGER_ENV = "LEPTON_LEDGER"


class Ledger:
    """An append-only list of resolutions, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.path = path

    def record(self, kind: str, key: str, **data: Any) -> dict[str, Any]:
        entry = {"kind": kind, "key": key, "at": time.time(), **data}
        with self._lock:
            self._entries.append(entry)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as f:
                    f.write(json.dumps(entry, default=str) + "\n")
        return entry

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if kind is None or e["kind"] == kind]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_ledger: Ledger | None = None
_pins: dict[tuple[str, str], dict[str, Any]] | None = None


def ledger() -> Ledger:
    """This process's ledger (mirrored to ``$LEPTON_LEDGER`` when a run engine set it)."""
    global _ledger
    if _ledger is None:
        path = os.environ.get(LEDGER_ENV)
        _ledger = Ledger(Path(path) if path else None)
    return _ledger


def record(kind: str, key: str, **data: Any) -> dict[str, Any]:
    """Append a resolution to this process's ledger."""
    return ledger().record(kind, key, **data)


def pins() -> dict[tuple[str, str], dict[str, Any]]:
    """The pins in force: the recorded ledger of the run being rerun, keyed by (kind, key)."""
    global _pins
    if _pins is None:
        _pins = {}
        path = os.environ.get(PINS_ENV)
        if path:
            for entry in json.loads(Path(path).read_text()):
                _pins[(entry["kind"], entry["key"])] = entry
    return _pins


def pinned(kind: str, key: str) -> dict[str, Any] | None:
    """The recorded resolution a rerun must reuse for ``key``, or None outside a rerun."""
    return pins().get((kind, key))


def reset() -> None:
    """Forget the ledger and pins (tests, and a kernel starting a new run)."""
    global _ledger, _pins
    _ledger = None
    _pins = None
