"""What a run record holds: the manifest and its parts, for storage and for REST.

Notebook digests cover cell types and sources only (outputs, execution counts and metadata
are not content), so a notebook saved again with fresh outputs is still "the same
notebook". Output digests cover normalised outputs (``manifest.normalized_outputs``).
"""

from __future__ import annotations

from datetime import datetime
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
from .parameters import decode_all, encode_all

# crashed: the process running it ended without recording how the run ended (kill -9, OOM).
RunStatus = Literal["running", "completed", "failed", "crashed"]
NotebookSource = Literal["file", "url", "stdin", "object"]


def _decode_json(value: Any, info: ValidationInfo) -> Any:
    return decode_all(value) if info.mode == "json" else value


# Parameter values keep their type through JSON (see parameters.py); Python callers see values.
Parameters = Annotated[
    dict[str, Any],
    BeforeValidator(_decode_json),
    PlainSerializer(encode_all, return_type=dict[str, Any], when_used="json"),
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


# -- REST requests -------------------------------------------------------------------


class ListQuery(BaseModel):
    notebook: str | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class DiffQuery(BaseModel):
    against: str | None = None
    abs_tol: float = Field(default=0.0, ge=0)
    rel_tol: float = Field(default=0.0, ge=0)


class RerunRequest(BaseModel):
    parameters: dict[str, Any] = Field(default_factory=dict)
    from_copy: bool = False
    apply: bool = Field(
        default=False,
        description="Publish, move aliases and grant for real; by default a rerun records "
        "what it would have done and changes nothing shared.",
    )
