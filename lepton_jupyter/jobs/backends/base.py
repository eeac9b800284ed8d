"""The backend contract: one fixed job lifecycle, with the engine-specific steps left open.

:meth:`Backend.process` runs in the job's supervisor and is the only place a job's status
moves after launch: ``before_start -> submit -> poll ... -> on_complete | on_failure |
on_cancel``. A backend fills in :meth:`submit`, :meth:`poll` and :meth:`cancel`; the local
backend runs torch's elastic agent, a Slurm backend would call ``sbatch``/``sacct``/
``scancel``. Statuses, error text and exit codes are recorded here, the same way for all.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ...errors import Invalid
from ...settings import Settings
from ..devices import VISIBLE_ENV, device_env, visible_gpus
from ..folder import JOB_DIR_ENV, JOB_ID_ENV, JobFolder
from ..schema import JobInfo, JobSpec, JobStatus
from ..store import JobStore

LOG_LINES_IN_ERROR = 20


def job_env(
    spec: JobSpec,
    job_dir: Path,
    inherited: Mapping[str, str] | None = None,
    threads: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a job's processes: ``inherited`` (the launching process's), the
    spec's variables, its devices and threads, where its folder is and its id."""
    env = {
        **(inherited or {}),
        **spec.env,
        **device_env(spec.gpus, spec.devices),
        **(threads or {}),
        JOB_DIR_ENV: str(job_dir),
        JOB_ID_ENV: spec.id,
    }
    if env.get("MPLBACKEND", "").startswith("module://"):
        env["MPLBACKEND"] = "Agg"  # the kernel's inline backend means nothing in a rank
    return env


@dataclass
class Outcome:
    """How a job's ranks ended, as a backend observed it."""

    status: JobStatus
    exit_codes: dict[int, int | None] = field(default_factory=dict)
    failed_rank: int | None = None
    error: str | None = None


def describe_failure(folder: JobFolder, rank: int, exit_code: int | None) -> str:
    """The failing rank's traceback when it wrote one, else its exit code and log tail."""
    traceback = folder.read_error(rank)
    if traceback:
        return f"Rank {rank} raised:\n{traceback}"
    log = folder.tail(folder.rank_log(rank), LOG_LINES_IN_ERROR).strip()
    text = f"Rank {rank} exited with code {exit_code}."
    return f"{text} Last lines of its log:\n{log}" if log else text


class Backend(ABC):
    """Runs a job's ranks on some engine. Subclasses implement submit, poll and cancel.

    Args of every method: ``spec`` is the job's :class:`JobSpec`, ``folder`` its
    :class:`JobFolder`. The store is the one named in the spec.
    """

    name: ClassVar[str]
    #: Seconds between two :meth:`poll` calls while the job runs.
    poll_interval: ClassVar[float] = 1.0
    #: Most nodes one job may span; None for no limit.
    max_nodes: ClassVar[int | None] = None
    #: Keyword arguments of ``launch()`` that configure this backend rather than the target
    #: (Slurm's ``partition``, ``time``...).
    option_names: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def resolve_options(cls, given: dict[str, Any], settings: Settings) -> dict[str, Any]:
        """One job's backend options: ``given`` over the configured defaults, validated.

        Runs in the launching process; raises Invalid naming a bad option.
        """
        return {}

    @classmethod
    def resolve_gpus(
        cls, requested: int | list[str] | None, nprocs: int, options: dict[str, Any]
    ) -> tuple[int, list[str], str]:
        """(GPUs per node, the devices of this machine to take them from, where they come
        from, for messages).

        The default is this machine's GPUs (``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi``):
        ``None`` asks one per rank where there are GPUs, none where there are not; a number
        asks that many of them; a list names the devices. Raises Invalid for more than
        there are. Which free ones a job gets is decided when it is launched.
        """
        pool = visible_gpus()
        where = (
            f"this machine has {len(pool)} visible GPU(s)"
            + (f": {VISIBLE_ENV}={','.join(pool)}" if pool else "")
            if pool or VISIBLE_ENV in os.environ
            else "this machine has no GPU"
        )
        if requested is None:
            if pool and nprocs > len(pool):
                raise Invalid(
                    f"nprocs={nprocs} ranks need one GPU each, and {where}. Use nprocs="
                    f"{len(pool)}, or gpus=0 to run on the CPU."
                )
            return (nprocs if pool else 0), pool, where
        if isinstance(requested, list):
            unknown = [d for d in requested if d not in pool]
            if unknown:
                raise Invalid(f"No GPU {', '.join(unknown)} here: {where}.")
            if len(set(requested)) != len(requested):
                raise Invalid(f"gpus lists a device twice: {requested}.")
            return len(requested), list(requested), where
        if requested > len(pool):
            raise Invalid(f"The job asks for {requested} GPU(s), and {where}.")
        return requested, pool, where

    @classmethod
    def check(cls, spec: JobSpec, folder: JobFolder) -> None:
        """Raise Invalid, before anything is written or started, for a job the engine
        cannot run (asked of the engine itself where it can answer)."""
        return None

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def process(self, spec: JobSpec, folder: JobFolder) -> JobStatus:
        """Drive the job from queued to a final status (runs in the supervisor)."""
        if not self.before_start(spec, folder):
            return self.on_cancel(spec, folder)
        try:
            handle = self.submit(spec, folder)
            outcome = self.poll(spec, folder, handle)
            while outcome is None:
                time.sleep(self.poll_interval)
                outcome = self.poll(spec, folder, handle)
        except BaseException as e:
            if self.store.get(spec.id).cancel_requested:
                return self.on_cancel(spec, folder)
            return self.on_failure(
                spec,
                folder,
                Outcome(JobStatus.failed, error=f"The {self.name} backend failed: {e!r}"),
            )
        if self.store.get(spec.id).cancel_requested:
            return self.on_cancel(spec, folder)
        if outcome.status is JobStatus.succeeded:
            return self.on_complete(spec, folder, outcome)
        return self.on_failure(spec, folder, outcome)

    def before_start(self, spec: JobSpec, folder: JobFolder) -> bool:
        """Mark the job running; False when it was cancelled before it could start."""
        return self.store.mark_running(spec.id) and not self.store.get(spec.id).cancel_requested

    @abstractmethod
    def submit(self, spec: JobSpec, folder: JobFolder) -> Any:
        """Start the ranks; return a handle that :meth:`poll` understands.

        May block until the ranks end (the local backend does, because torch's elastic
        agent must run in the supervisor's main thread to handle signals); then
        :meth:`poll` returns the outcome at once. Raising fails the job with the message.
        """

    @abstractmethod
    def poll(self, spec: JobSpec, folder: JobFolder, handle: Any) -> Outcome | None:
        """The outcome once every rank ended, None while the job still runs."""

    @abstractmethod
    def cancel(self, job: JobInfo, folder: JobFolder, grace: float) -> None:
        """Stop every rank and the supervisor (called from the cancelling process).

        Ask politely first, and force after ``grace`` seconds; return when no process of
        the job is left. The store is already marked ``cancel_requested``.
        """

    def on_complete(self, spec: JobSpec, folder: JobFolder, outcome: Outcome) -> JobStatus:
        self.store.finish(spec.id, JobStatus.succeeded, exit_codes=outcome.exit_codes)
        return JobStatus.succeeded

    def on_failure(self, spec: JobSpec, folder: JobFolder, outcome: Outcome) -> JobStatus:
        self.store.finish(
            spec.id,
            JobStatus.failed,
            exit_codes=outcome.exit_codes,
            failed_rank=outcome.failed_rank,
            error=outcome.error,
        )
        return JobStatus.failed

    def on_cancel(self, spec: JobSpec, folder: JobFolder) -> JobStatus:
        self.store.finish(spec.id, JobStatus.cancelled)
        return JobStatus.cancelled
