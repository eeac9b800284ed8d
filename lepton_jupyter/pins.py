"""The run ledger: what this process resolved, and the pins a rerun must honour.

Every floating reference a notebook resolves (a dataset ``rev`` to a commit, a model
``name@alias`` to a version) is recorded here as an entry ``{kind, key, ...}``. A run
manifest stores the ledger; a rerun exports it as pins (``LEPTON_PINS`` names a JSON file)
so the same ``key`` resolves to the recorded value instead of the current one.

Kinds: ``dataset`` (key ``url|path|rev``), ``browse`` (key ``url|rev``), ``model`` and
``lineage`` (key ``ref``), ``job`` (key job id), ``publish`` (key ``name:version``),
``alias`` (key ``name@alias``), ``grant``, ``metric`` (key metric name). ``publish``,
``alias`` and ``grant`` entries say whether they were ``applied`` (a dry-run rerun only
records them).

The ledger is process-global and created on first use, so it works in any process (kernel,
papermill batch, job rank) whether or not the IPython extension was loaded. When a run
engine sets ``LEPTON_LEDGER``, every entry is also appended to that JSON-lines file, which
is how a kernel's ledger reaches the run manifest written by the process that started it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from .errors import Invalid

PINS_ENV = "LEPTON_PINS"
LEDGER_ENV = "LEPTON_LEDGER"
RUN_ID_ENV = "LEPTON_RUN_ID"
NOTEBOOK_ENV = "LEPTON_NOTEBOOK_PATH"

# Kinds whose entries are resolutions of floating references: a rerun must reproduce them.
PIN_KINDS = ("dataset", "model", "lineage", "browse")
# Fields of an entry that describe when it was recorded, not what was resolved.
_BOOKKEEPING = frozenset({"kind", "key", "at"})


class Ledger:
    """An append-only list of resolutions, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.path = path
        self.created = time.time()

    def record(self, kind: str, key: str, **data: Any) -> dict[str, Any]:
        entry = {"kind": kind, "key": key, "at": time.time(), **data}
        with self._lock:
            self._entries.append(entry)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # One write per line in append mode: ranks of a job may share the file.
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


def read_ledger_file(path: Path) -> list[dict[str, Any]]:
    """Entries of a JSON-lines ledger mirror; a line cut short by a killed kernel is skipped."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "kind" in entry and "key" in entry:
            entries.append(entry)
    return entries


def resolution(entry: dict[str, Any]) -> dict[str, Any]:
    """What an entry resolved to, without its kind, key and timestamp (compared by diffs)."""
    return {k: v for k, v in entry.items() if k not in _BOOKKEEPING}


def metrics_of(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The last value logged for each metric."""
    return {e["key"]: e.get("value") for e in entries if e.get("kind") == "metric"}


RerunMode = Literal["dry-run", "apply"]
RERUN_MODES: tuple[RerunMode, ...] = ("dry-run", "apply")


def write_pins(
    entries: Iterable[dict[str, Any]],
    path: Path,
    *,
    mode: RerunMode | None = None,
    workdir: Path | None = None,
) -> Path:
    """Write the pins file a rerun exports as ``LEPTON_PINS``: every entry but metrics.

    ``mode`` says whether the rerun may change shared things (``apply``) or only records
    what it would have done (``dry-run``); ``workdir`` is the rerun's own working folder,
    where its datasets are placed (see ``workdir.py``).
    """
    pinned_entries = [e for e in entries if e.get("kind") != "metric"]
    document: dict[str, Any] = {"entries": pinned_entries}
    if mode is not None:
        document["mode"] = mode
    if workdir is not None:
        document["workdir"] = str(workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=str))
    return path


class PinsFile:
    """The pins in force (by kind and key) and how the rerun that set them runs."""

    def __init__(self, document: Any = None) -> None:
        # A bare list is the format written before reruns had a mode (an applying rerun).
        if isinstance(document, list):
            document = {"entries": document}
        document = document or {}
        self.entries: list[dict[str, Any]] = list(document.get("entries") or [])
        self.mode: RerunMode | None = document.get("mode")
        self.workdir = Path(document["workdir"]) if document.get("workdir") else None
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in self.entries:
            self.by_key.setdefault((entry["kind"], entry["key"]), entry)


_ledger: Ledger | None = None
_pins: PinsFile | None = None


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


def log_metric(name: str, value: Any, step: int | None = None) -> None:
    """Record a metric in the run ledger; the manifest keeps the last value per name.

    A rerun's diff compares these values (within a tolerance) against the original run.
    ``value`` may be any real number, including a 0-d tensor or numpy scalar, or a 1-d
    sequence of them (list, array, tensor): per-example results, which ``compare()`` pairs
    across candidates. Returns nothing, so a cell ending with it displays nothing (no
    clock time that would tell two identical runs apart).
    """
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"Metric name must be a non-empty string, got {name!r}.")
    if getattr(value, "ndim", 0) >= 1 or isinstance(value, list | tuple):
        value = _per_example(name, value)
    elif isinstance(value, bool) or not isinstance(value, int):
        try:
            value = float(value)
        except (TypeError, ValueError) as e:
            raise Invalid(
                f"Metric {name!r} must be a real number, got {type(value).__name__} {value!r}."
            ) from e
        if not math.isfinite(value):
            raise Invalid(f"Metric {name!r} is {value}; log finite numbers only.")
    data: dict[str, Any] = {"value": value}
    if step is not None:
        data["step"] = int(step)
    record("metric", name, **data)


def _per_example(name: str, values: Any) -> list[float]:
    """A 1-d sequence of finite numbers as a list of floats; Invalid naming the metric."""
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    if not values or any(isinstance(v, list) for v in values):
        raise Invalid(f"Metric {name!r}: per-example results must be a non-empty 1-d sequence.")
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError) as e:
        raise Invalid(f"Metric {name!r}: per-example results must be numbers ({e}).") from e
    if not all(math.isfinite(v) for v in floats):
        raise Invalid(f"Metric {name!r}: per-example results contain NaN or infinity.")
    return floats


def metrics() -> dict[str, Any]:
    """The last value of each metric logged in this process."""
    return metrics_of(ledger().entries("metric"))


def _pins_file() -> PinsFile:
    global _pins
    if _pins is None:
        document = None
        path = os.environ.get(PINS_ENV)
        if path:
            try:
                document = json.loads(Path(path).read_text())
                _pins = PinsFile(document)
            except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise Invalid(f"Cannot read the pins file {path} named by {PINS_ENV}: {e}") from e
        else:
            _pins = PinsFile()
    return _pins


def pins() -> dict[tuple[str, str], dict[str, Any]]:
    """The pins in force: the recorded ledger of the run being rerun, keyed by (kind, key).

    When a key was resolved more than once in the recorded run, the first resolution wins:
    it is what the run saw first.
    """
    return _pins_file().by_key


def pinned(kind: str, key: str) -> dict[str, Any] | None:
    """The recorded resolution a rerun must reuse for ``key``, or None outside a rerun."""
    return pins().get((kind, key))


def recorded(kind: str) -> list[dict[str, Any]]:
    """Every entry of ``kind`` the rerun's original run recorded, in order."""
    return [e for e in _pins_file().entries if e.get("kind") == kind]


def rerun_mode() -> RerunMode | None:
    """``dry-run`` or ``apply`` in a rerun that says; None otherwise."""
    return _pins_file().mode


def dry_run() -> bool:
    """Whether this process is a rerun that must change nothing shared (the default)."""
    return rerun_mode() == "dry-run"


def rerun_workdir() -> Path | None:
    """The rerun's own working folder, where its datasets are placed; None outside one."""
    return _pins_file().workdir


def run_id() -> str | None:
    """The id of the run this process belongs to (set by the papermill engine), if any."""
    return os.environ.get(RUN_ID_ENV) or None


def notebook_path() -> str | None:
    """The notebook this kernel runs: set by the papermill engine, or by Jupyter's session."""
    return os.environ.get(NOTEBOOK_ENV) or os.environ.get("JPY_SESSION_NAME") or None


def activate() -> Ledger:
    """Create the ledger and read the pins now, so a bad pins file fails at kernel start."""
    pins()
    return ledger()


def reset() -> None:
    """Forget the ledger and pins (tests, and a kernel starting a new run)."""
    global _ledger, _pins
    _ledger = None
    _pins = None
