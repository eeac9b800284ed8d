"""What a job is: the spec written at launch, its status, and the record the store returns."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import LeptonError


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


TargetKind = Literal["function", "module", "script"]


class JobSpec(BaseModel):
    """Everything the supervisor and the ranks need, written to ``spec.json`` at launch.

    The supervisor reads only this file (and the store), so a job can be started, and
    restarted by a backend, without the kernel that launched it.
    """

    id: str
    name: str
    backend: str = "local"
    nprocs: int = Field(ge=1, description="Processes (ranks) per node.")
    nnodes: int = Field(default=1, ge=1)
    max_restarts: int = Field(default=0, ge=0)
    kind: TargetKind
    target: str = Field(description="Function qualname, 'module:function' or the script path.")
    script_args: list[str] = Field(default_factory=list)
    script_process_group: bool = Field(
        default=False,
        description="Scripts only: set up the process group before the script runs (cells "
        "of %%lepton launch); functions always have it.",
    )
    env: dict[str, str] = Field(default_factory=dict, description="Set in every rank.")
    gpus: int | None = Field(
        default=None,
        ge=0,
        description="GPUs per node; 0 for a CPU job (its ranks see none). None in jobs "
        "launched before GPUs were counted: every visible one.",
    )
    devices: list[str] = Field(
        default_factory=list,
        description="The GPUs taken for the job on this machine (local backend), as "
        "CUDA_VISIBLE_DEVICES ids; empty where the engine allocates them (Slurm).",
    )
    dist_backend: str | None = Field(
        default=None,
        description="Backend of the ranks' process group; None: cpu:gloo,cuda:nccl where "
        "a rank sees CUDA, else gloo.",
    )
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="The backend's own options (Slurm: partition, time...)."
    )
    cwd: str
    sys_path: list[str] = Field(default_factory=list)
    python: str = Field(description="Interpreter every rank runs (the launching kernel's).")
    store_url: str = Field(description="SQLAlchemy URL of the job store to report to.")
    created_at: datetime


class JobFailed(LeptonError):
    """The job ended in failure; the message carries the failing rank's exception."""

    status = 409


class JobInfo(BaseModel):
    """A job as the store knows it: what ``jobs()``, the REST API and the monitor show."""

    id: str
    name: str
    status: JobStatus
    backend: str
    nprocs: int
    nnodes: int
    max_restarts: int
    kind: str
    target: str
    job_dir: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    supervisor_pid: int | None = None
    exit_codes: dict[int, int | None] = Field(
        default_factory=dict,
        description="Global rank -> exit code; None for a rank the agent stopped because "
        "another failed.",
    )
    failed_rank: int | None = None
    error: str | None = Field(default=None, description="The failing rank's traceback.")
    gpus: int | None = Field(default=None, description="GPUs per node; 0 for a CPU job.")
    devices: list[str] = Field(
        default_factory=list, description="GPUs taken for the job on this machine (local)."
    )
    dist_backend: str | None = None
    cancel_requested: bool = False
    detail: str | None = Field(
        default=None,
        description="What the engine says about the job (Slurm: its job id, pending reason).",
    )


class LogChunk(BaseModel):
    """Part of one rank's log, and the byte offset to read on from."""

    rank: int
    text: str
    offset: int = Field(description="Byte offset just after this text: the next since.")


class JobList(BaseModel):
    """``GET /jobs``: the jobs asked for (one page, or all), newest first."""

    jobs: list[JobInfo]
    total: int = Field(description="Jobs matching the query, on every page together.")


class JobLogs(BaseModel):
    """``GET /jobs/<id>/logs``: the ranks' logs as one text and as per-rank chunks."""

    id: str
    rank: int | None = Field(description="The rank asked for; None: every rank.")
    tail: int | None = Field(description="Lines asked for per rank; None: all.")
    text: str
    chunks: list[LogChunk]


class MetricRecord(BaseModel):
    """One ``report()`` line: rank, step and wall-clock time, then the metrics themselves."""

    model_config = ConfigDict(extra="allow")

    rank: int
    step: int | None
    time: float


class JobMetrics(BaseModel):
    """``GET /jobs/<id>/metrics``: records reported after ``since``, and the next offset."""

    id: str
    metrics: list[MetricRecord]
    offset: int


def join_chunks(chunks: list[LogChunk], headers: bool) -> str:
    """Chunks as one text: each under a ``==> rank N <==`` header when ``headers``."""
    if not headers:
        return "".join(c.text for c in chunks)
    return "".join(f"==> rank {c.rank} <==\n{c.text}" for c in chunks)


# -- REST requests -------------------------------------------------------------------


class ListQuery(BaseModel):
    status: JobStatus | None = None
    limit: int | None = Field(
        default=None, ge=1, le=1000, description="At most this many jobs (a page); None: all."
    )
    offset: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Skip this many of the newest first."
    )


class LogsQuery(BaseModel):
    rank: int | None = Field(default=None, ge=0)
    tail: int | None = Field(default=None, ge=0)
    since: list[int] | None = Field(
        default=None,
        description="Byte offsets, comma-separated, one per rank asked for: only what each "
        "rank's log gained after its offset (the chunks' offsets of the previous answer).",
    )

    @field_validator("since", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value


class MetricsQuery(BaseModel):
    since: int = Field(
        default=0, ge=0, description="Byte offset: only records after it (the last offset)."
    )
