"""What a manifest records of a notebook: content digests, normalised outputs, the
packages and git state a run saw. The manifest's models are in ``schema.py``."""

from __future__ import annotations

import copy
import getpass
import hashlib
import json
import platform
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ..gitstate import git_state
from .parameters import INJECTED_TAG
from .schema import GitInfo, NotebookInfo, NotebookSource

# Packages whose versions decide whether a rerun can reproduce the original.
KEY_PACKAGES = ("lepton_jupyter", "papermill", "torch", "numpy", "dvc", "nbclient", "ipykernel")


def now() -> datetime:
    return datetime.now(timezone.utc)


def _sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def strip_injected(nb: Any) -> Any:
    """A copy of ``nb`` as the user wrote it: no papermill-injected cell, no outputs."""
    clean = without_outputs(nb)
    clean.cells = [c for c in clean.cells if INJECTED_TAG not in _tags(c)]
    return clean


def without_outputs(nb: Any) -> Any:
    """A copy of ``nb`` as it ran (an injected parameters cell kept), without outputs."""
    clean = copy.copy(nb)
    clean.metadata = copy.copy(nb.metadata)
    clean.cells = [
        copy.deepcopy(c) if c.get("cell_type") != "code" else _code_without_outputs(c)
        for c in nb.cells
    ]
    for cell in clean.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    clean.metadata.pop("papermill", None)
    return clean


def _code_without_outputs(cell: Any) -> Any:
    # Outputs can be large (images): copy everything else.
    outputs = cell.get("outputs")
    cell["outputs"] = []
    try:
        return copy.deepcopy(cell)
    finally:
        cell["outputs"] = outputs


def notebook_location(location: Any, base: str) -> tuple[NotebookSource, str]:
    """(kind, where) of a papermill input or output as papermill resolves it: a NotebookNode
    ('object', ''), '-' (stdin/stdout), a URL of an I/O handler, or a path against ``base``."""
    if location is None or isinstance(location, dict):
        return "object", ""
    text = str(location)
    if text == "-":
        return "stdin", "-"
    if "://" in text:
        return "url", text
    return "file", str((Path(base) / text).resolve())


def notebook_info(nb: Any, path: str) -> NotebookInfo:
    """Path and content digests of ``nb`` (papermill-injected cells are not content)."""
    cells = [
        _sha256([c.get("cell_type"), c.get("source", "")])
        for c in nb.cells
        if INJECTED_TAG not in _tags(c)
    ]
    return NotebookInfo(path=path, digest=_sha256(cells), cells=cells)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def normalized_outputs(cell: Any) -> list[dict[str, Any]]:
    """A code cell's results, without what differs between identical executions.

    Left out: execution counts, output metadata, transient display ids, stderr (progress
    bars and warnings) and widget views (live progress bars and monitors: a first attach
    shows one, a rerun that finds the data already attached does not). Consecutive stdout
    chunks are joined, since how a kernel splits a stream is timing.
    """
    result: list[dict[str, Any]] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr":
                continue
            if result and result[-1]["type"] == "stream":
                result[-1]["text"] += out.get("text", "")
            else:
                result.append({"type": "stream", "text": out.get("text", "")})
        elif kind in ("execute_result", "display_data"):
            data = dict(out.get("data", {}))
            if WIDGET_VIEW in data:
                continue
            result.append({"type": "data", "data": data})
        elif kind == "error":
            result.append({"type": "error", "ename": out.get("ename"), "evalue": out.get("evalue")})
    return result


def code_cells(nb: Any) -> list[Any]:
    """The code cells the user wrote (injected parameter cells left out), in order."""
    return [c for c in nb.cells if c.get("cell_type") == "code" and INJECTED_TAG not in _tags(c)]


def output_digest(nb: Any) -> str:
    return _sha256([normalized_outputs(c) for c in code_cells(nb)])


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_info(folder: str | Path) -> GitInfo | None:
    """HEAD and dirty flag of the git repo containing ``folder``; None outside a repo."""
    state = git_state(folder)
    return None if state is None else GitInfo(**asdict(state))


def kernel_python(nb: Any) -> str:
    """The kernel's Python version as papermill recorded it, else this process's."""
    info = nb.get("metadata", {}).get("language_info", {})
    if info.get("name") == "python" and info.get("version"):
        return str(info["version"])
    return platform.python_version()


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
