"""The run manifest: everything needed to rerun a notebook run exactly and to compare runs.

Notebook digests cover cell types and sources only (outputs, execution counts and metadata
are not content), so a notebook saved again with fresh outputs is still "the same
notebook". Output digests cover normalised outputs (``normalized_outputs``).
"""

from __future__ import annotations

import copy
import getpass
import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    model_validator,
)

from .outcome import RunFailure
from .parameters import INJECTED_TAG, decode_all, encode_all

# Packages whose versions decide whether a rerun can reproduce the original.
KEY_PACKAGES = ("lepton_jupyter", "papermill", "torch", "numpy", "dvc", "nbclient", "ipykernel")

# crashed: the process running it ended without recording how the run ended (kill -9, OOM).
RunStatus = Literal["running", "completed", "failed", "crashed"]
NotebookSource = Literal["file", "url", "stdin", "object"]


def _decode_json(value: Any, info: ValidationInfo) -> Any:
    return decode_all(value) if info.mode == "json" else value


# Parameter values keep their type through JSON (see parameters.py); Python callers see values.
Parameters = Annotated[
    dict[str, Any],
    BeforeValidator(_decode_json),
    PlainSerializer(encode_all, when_used="json"),
]


class NotebookInfo(BaseModel):
    """The notebook a run executed, as it was before papermill injected parameters."""

    path: str = Field(
        description="The input as papermill resolved it: an absolute path, a URL, '-' (stdin) "
        "or '' (a NotebookNode passed to papermill.execute_notebook)."
    )
    source: NotebookSource = Field(
        default="file",
        description="file, url, stdin or object; a rerun of anything but a file runs the copy "
        "kept in the run folder.",
    )
    digest: str = Field(description="sha256 of the cells' types and sources.")
    cells: list[str] = Field(default_factory=list, description="sha256 of each cell's source.")


class GitInfo(BaseModel):
    """The workspace's git state when the run started."""

    root: str
    commit: str | None = Field(description="HEAD commit; None in a repo without commits.")
    dirty: bool = Field(description="Tracked files differ from HEAD (untracked files ignored).")


class CheckResult(BaseModel):
    """One check of a scheduled run's metrics (``accuracy >= 0.9``) and how it came out."""

    check: str = Field(description="The check as written on the job definition.")
    passed: bool
    message: str = Field(description="What was compared, in words.")


class ScheduledJob(BaseModel):
    """The jupyter-scheduler job that executed a run (see ``lepton_jupyter.scheduler``)."""

    job_id: str
    job_definition_id: str | None = Field(
        default=None, description="The job definition it ran from; None for a one-off job."
    )
    job_name: str = ""
    previous_run: str | None = Field(
        default=None,
        description="The latest earlier successful run of the same definition: what this "
        "run is diffed and checked against.",
    )
    checks: list[CheckResult] = Field(default_factory=list)


class Manifest(BaseModel):
    """One run of a notebook: inputs, what it resolved, what it produced."""

    id: str
    status: RunStatus = "running"
    engine: str = Field(default="lepton", description="'lepton' (papermill) or 'interactive'.")
    notebook: NotebookInfo
    kernel_name: str = ""
    cwd: str = ""
    parameters: Parameters = Field(
        default_factory=dict,
        description="What the notebook ran with: declared defaults overlaid by injected values.",
    )
    injected: Annotated[
        dict[str, Any] | None,
        BeforeValidator(_decode_json),
        PlainSerializer(encode_all, when_used="json"),
    ] = Field(
        default=None,
        description="Values of the injected-parameters cell that ran (papermill's -p/-r/-y/-f, "
        "or a cell saved in the input); None when none ran. A rerun injects them again.",
    )
    ledger: list[dict[str, Any]] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    packages: dict[str, str | None] = Field(default_factory=dict)
    python: str = ""
    git: GitInfo | None = None
    started_at: datetime
    ended_at: datetime | None = None
    output_path: str | None = Field(
        default=None,
        description="Where papermill wrote the output: absolute path, URL or '-' (stdout).",
    )
    output_digest: str | None = None
    error: str | None = Field(default=None, description="The failure in one line ('In [4]: ...').")
    failure: RunFailure | None = Field(default=None, description="The failure papermill raised.")
    exit_code: int | None = Field(
        default=None, description="What the `papermill` command exits with for this outcome."
    )
    rerun_of: str | None = Field(default=None, description="Id of the run this one reran.")
    rerun_mode: Literal["dry-run", "apply"] | None = Field(
        default=None,
        description="A rerun's mode: 'dry-run' (the default) records what it would have "
        "published, moved or granted without doing it; 'apply' does it.",
    )
    workdir: str | None = Field(
        default=None,
        description="A rerun's own working folder (the workspace mirrored by links, its "
        "datasets placed at the pinned commits); ``cwd`` stays the workspace.",
    )
    user: str = ""
    pid: int | None = Field(default=None, description="Process executing the run.")
    pid_started: float | None = Field(
        default=None, description="Start time of that process (a reused pid is not the run's)."
    )
    host: str = Field(default="", description="Machine of that process.")
    scheduled: ScheduledJob | None = Field(
        default=None, description="The scheduler job that ran it; None for other runs."
    )

    @model_validator(mode="before")
    @classmethod
    def _injected_of_older_manifests(cls, data: Any, info: ValidationInfo) -> Any:
        # Manifests written before `injected` existed recorded only the injected values.
        if (
            info.mode == "json"
            and isinstance(data, dict)
            and "injected" not in data
            and data.get("parameters")
        ):
            data = {**data, "injected": data["parameters"]}
        return data

    @property
    def duration(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def pin_entries(self) -> list[dict[str, Any]]:
        """Ledger entries that resolved floating references (what a rerun pins)."""
        from ..pins import PIN_KINDS

        return [e for e in self.ledger if e.get("kind") in PIN_KINDS]


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
    import pygit2

    found = pygit2.discover_repository(str(folder))
    if found is None:
        return None
    repo = pygit2.Repository(found)
    if repo.is_bare:
        return None
    commit = None if repo.head_is_unborn else str(repo.head.target)
    changes = repo.status(untracked_files="no")
    dirty = any(flags != pygit2.enums.FileStatus.CURRENT for flags in changes.values())
    return GitInfo(root=str(Path(repo.workdir).resolve()), commit=commit, dirty=dirty)


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
