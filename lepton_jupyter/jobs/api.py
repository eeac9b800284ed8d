"""What notebooks call: ``launch``, ``Job``, ``jobs``.

A :class:`Job` is a handle on a job id; every property reads the store, so a handle made
before a kernel restart (or with :meth:`Job.attach` after it) always tells the truth.
The service (SQLAlchemy, pydantic) is imported at the first call, not with this module:
``from lepton_jupyter import launch`` costs a kernel nothing until it launches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import pins
from ..errors import Invalid

if TYPE_CHECKING:
    from .schema import JobInfo, JobStatus
    from .service import JobService


def _manager() -> JobService:
    from ..settings import load_settings
    from .service import JobService

    return JobService(load_settings())


#: Job id -> what to call once this kernel sees the job ended (the monitors' final redraw).
_end_callbacks: dict[str, list[Callable[[], None]]] = {}


def on_job_end(job_id: str, callback: Callable[[], None]) -> None:
    """Call ``callback`` once, when :meth:`Job.wait` (or ``result``) in this kernel sees the
    job end: in the waiting cell, so a papermill run records what it does."""
    _end_callbacks.setdefault(job_id, []).append(callback)


#: Builds a job's monitor view (an object with ``show()``). A view is a surface, so the
#: jobs domain does not import one: the package root installs the widgets' JobMonitor with
#: :func:`show_jobs_with` (it runs before this module can be imported).
_monitor_view: Callable[[Job], Any] | None = None


def show_jobs_with(view: Callable[[Job], Any]) -> None:
    """Make ``view(job)`` what :meth:`Job.monitor` returns and a notebook shows for a Job."""
    global _monitor_view
    _monitor_view = view


def _job_ended(job_id: str) -> None:
    for callback in _end_callbacks.pop(job_id, []):
        with contextlib.suppress(Exception):  # a view failing to redraw is no job failure
            callback()


class Job:
    """A launched job: status, logs, metrics, wait, cancel, result."""

    def __init__(self, job_id: str, manager: JobService | None = None) -> None:
        self.id = job_id
        self._manager = manager or _manager()

    @classmethod
    def attach(cls, job_id: str) -> Job:
        """Reconnect to a job launched earlier (by this kernel, a previous one, the CLI)."""
        manager = _manager()
        manager.get(job_id)  # NotFound, with close ids, for a wrong one
        return cls(job_id, manager)

    @property
    def info(self) -> JobInfo:
        return self._manager.get(self.id)

    @property
    def status(self) -> JobStatus:
        return self.info.status

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def folder(self) -> str:
        return self.info.job_dir

    def logs(self, rank: int | None = None, tail: int | None = None) -> str:
        """Rank ``rank``'s output (all ranks under headers when None), last ``tail`` lines."""
        return self._manager.logs(self.id, rank, tail)

    def metrics(self) -> list[dict[str, Any]]:
        """Every ``report()`` so far: dicts with rank, step, time and the metrics."""
        return self._manager.metrics(self.id)

    def metrics_since(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The reports after byte ``offset`` of the metrics file, and the offset to pass
        next time: following a long job costs what is new, not all of it again."""
        return self._manager.metrics_since(self.id, offset)

    def devices(self) -> dict[int, str]:
        """What each started rank computes on: ``{0: "cuda:0 (NVIDIA H200, GPU 3)"}``."""
        return self._manager.rank_devices(self.id)

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job ends; raises JobFailed with the failing rank's traceback."""
        try:
            return self._manager.wait(self.id, timeout)
        finally:
            if self.id in _end_callbacks and self.status.ended:
                _job_ended(self.id)

    def result(self, timeout: float | None = None) -> Any:
        """Rank 0's return value (waits for the job to end first)."""
        self.wait(timeout)
        return self._manager.result(self.id, 0)

    def cancel(self, grace: float = 10.0) -> JobStatus:
        """Stop every rank and the supervisor; no process of the job is left afterwards."""
        return self._manager.cancel(self.id, grace).status

    def monitor(self) -> Any:
        """The live job monitor widget."""
        if _monitor_view is None:
            raise RuntimeError("No job monitor view is installed (see show_jobs_with).")
        return _monitor_view(self)

    def _ipython_display_(self) -> None:
        self.monitor().show()

    def __repr__(self) -> str:
        info = self.info
        return f"<Job {info.id} {info.name!r} {info.status.value}, {info.nprocs} rank(s)>"


def launch(
    target: Callable[..., Any] | str | os.PathLike[str],
    *args: Any,
    nprocs: int = 1,
    nnodes: int = 1,
    backend: str = "local",
    name: str | None = None,
    env: dict[str, str] | None = None,
    max_restarts: int = 0,
    gpus: int | list[int | str] | None = None,
    dist_backend: str | None = None,
    init_process_group: bool = False,
    share_gpus: bool = False,
    **kwargs: Any,
) -> Job:
    """Run ``target(*args, **kwargs)`` on ``nprocs`` ranks as a job that outlives the kernel.

    ``target`` is a function (a notebook-defined one travels by value), an importable
    ``"module:function"``, or a script path (``args`` become its argv). Each rank is a
    fresh interpreter with the process group ready (scripts set up their own, as under
    torchrun); inside, ``report(step=..., loss=...)`` feeds the monitor.

    ``gpus``: GPUs per node. By default one per rank where the machine has GPUs, none where
    it has not; 0 runs on the CPU (the ranks see no GPU); a list names the devices. A local
    job takes free GPUs, which no other job gets until it ends (unless both pass
    ``share_gpus=True``). Rank ``LOCAL_RANK`` gets ``cuda:LOCAL_RANK`` set.
    ``dist_backend`` overrides the process group's backend (default ``cpu:gloo,cuda:nccl``
    on GPUs, ``gloo`` on CPUs).
    ``init_process_group=True`` sets the group up for a script too (``%%lepton launch``).
    """
    manager = _manager()
    info = manager.launch(
        target,
        args,
        kwargs,
        nprocs=nprocs,
        nnodes=nnodes,
        backend=backend,
        name=name,
        env=env,
        max_restarts=max_restarts,
        gpus=gpus,
        dist_backend=dist_backend,
        init_process_group=init_process_group,
        share_gpus=share_gpus,
    )
    # This process's run ledger: the job is part of the run that launched it (lineage).
    pins.record(
        "job",
        info.id,
        name=info.name,
        nprocs=info.nprocs,
        nnodes=info.nnodes,
        backend=info.backend,
        target=info.target,
    )
    return Job(info.id, manager)


def jobs(status: str | None = None) -> list[Job]:
    """Jobs in the store, newest first; ``status`` filters (e.g. ``"running"``)."""
    from .schema import JobStatus

    manager = _manager()
    if status is not None and status not in JobStatus.__members__:
        raise Invalid(f"Unknown job status {status!r}; one of {', '.join(JobStatus.__members__)}.")
    wanted = JobStatus(status) if status else None
    return [Job(info.id, manager) for info in manager.list(wanted)]
