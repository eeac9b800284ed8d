"""The job service: validate and launch, read back, cancel. No web framework in here.

The kernel (through the public API), the CLI and the server's handlers all call a
:class:`JobService`; they differ only in how they present its answers.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import Conflict, Invalid
from ..settings import Settings
from .backends import backend_class, check_backend
from .devices import (
    VISIBLE_ENV,
    DeviceError,
    check_dist_backend,
    check_gpu_job,
)
from .folder import JobFolder, process_matches, read_lines_from, read_tail
from .gpu_pool import claim_gpus
from .schema import JobFailed, JobInfo, JobSpec, JobStatus, LogChunk, join_chunks
from .store import JobStore, adopt_store, sqlite_url, store_path, utcnow
from .supervision import (
    append_log,
    being_recorded,
    record_lost_supervisor,
    start_supervisor,
    supervisor_ended,
)
from .target import check_count, check_gpus, job_slug, launch_environment, resolve_target

#: Most seconds ``wait()`` goes without checking that the job's supervisor lives.
LIVENESS_INTERVAL = 1.0


class JobService:
    """Jobs: one folder each under ``settings.jobs_path`` (shared with the nodes), and the
    SQLite store on this machine's disk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jobs_path = settings.jobs_path
        self.store = JobStore(sqlite_url(store_path(settings.state_dir)))
        adopt_store(self.store, self.jobs_path / "jobs.db")

    # -- launching -------------------------------------------------------------------

    def launch(
        self,
        target: Callable[..., Any] | str | os.PathLike[str],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        nprocs: int = 1,
        nnodes: int = 1,
        backend: str = "local",
        name: str | None = None,
        env: dict[str, str] | None = None,
        max_restarts: int = 0,
        gpus: int | Sequence[int | str] | None = None,
        dist_backend: str | None = None,
        init_process_group: bool = False,
        share_gpus: bool = False,
    ) -> JobInfo:
        """Check everything, write the job folder, store the job and start its supervisor.

        Raises Invalid, before anything is written or started, for a bad count, an unknown
        backend, a missing script or module, a target or argument that cannot be pickled,
        or ranks the GPUs cannot serve (more ranks than GPUs for NCCL, NCCL without GPUs).
        """
        kwargs = dict(kwargs or {})
        check_count("nprocs", nprocs, 1)
        check_count("nnodes", nnodes, 1)
        check_count("max_restarts", max_restarts, 0)
        check_backend(backend)
        engine = backend_class(backend)
        max_nodes = engine.max_nodes
        if max_nodes is not None and nnodes > max_nodes:
            raise Invalid(
                f"The {backend!r} backend runs on at most {max_nodes} node(s); "
                f"nnodes={nnodes} needs a cluster backend."
            )
        env = dict(env or {})
        bad_env = [k for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad_env:
            raise Invalid(f"env must map names to strings; not so for {bad_env}.")
        if VISIBLE_ENV in env:
            raise Invalid(
                f"Choose a job's GPUs with gpus=N or gpus=[ids], not env={{'{VISIBLE_ENV}': "
                f"...}}: lepton gives each job its own devices."
            )
        requested_gpus = check_gpus(gpus)
        if dist_backend is not None:
            try:
                dist_backend = check_dist_backend(dist_backend)
            except DeviceError as e:
                raise Invalid(str(e)) from None

        # Keywords the backend takes (Slurm's partition, time...) do not reach the target.
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in engine.option_names}
        backend_options = engine.resolve_options(given, self.settings)
        gpus_per_node, candidates, where = engine.resolve_gpus(
            requested_gpus, nprocs, backend_options
        )
        try:
            check_gpu_job(nprocs, gpus_per_node, dist_backend, where)
        except DeviceError as e:
            raise Invalid(str(e)) from None
        kind, description, payload, script = resolve_target(target, args, kwargs)
        default_name = description.rsplit(":", 1)[-1].rsplit("/", 1)[-1].removesuffix(".py")
        name = name or default_name
        job_id = f"{job_slug(name)}-{secrets.token_hex(3)}"
        folder = JobFolder(self.jobs_path / job_id)
        spec = JobSpec(
            id=job_id,
            name=name,
            backend=backend,
            nprocs=nprocs,
            nnodes=nnodes,
            max_restarts=max_restarts,
            kind=kind,
            target=description,
            script_args=[str(a) for a in args] if kind == "script" else [],
            script_process_group=init_process_group and kind == "script",
            env=env,
            gpus=gpus_per_node,
            devices=[],
            dist_backend=dist_backend,
            backend_options=backend_options,
            cwd=os.getcwd(),
            sys_path=[p or os.getcwd() for p in sys.path],
            python=sys.executable,
            store_url=self.store.url,
            created_at=utcnow(),
        )
        engine.check(spec, folder)
        # Free GPUs of this machine (local jobs): held from here by this process, then by
        # the supervisor for the job's life; Conflict when too few are free.
        claim = claim_gpus(candidates, gpus_per_node, job_id, share_gpus) if candidates else None
        try:
            if claim is not None:
                spec.devices = claim.devices
            folder.create()
            folder.spec.write_text(spec.model_dump_json(indent=2))
            folder.target.write_bytes(payload)
            if script is not None:
                shutil.copyfile(script, folder.script)
            folder.environment.write_text(json.dumps(launch_environment(spec), indent=2))
            info = self.store.create(spec, folder.path)
            try:
                on_end = functools.partial(supervisor_ended, self.store)
                pid = start_supervisor(
                    spec, folder, claim.fds if claim else [], self.settings, on_end
                )
            except Exception as e:  # no process to run it: the job ends here, saying why
                why = f"The job's supervisor could not start: {e}"
                append_log(folder, f"lepton: {why}")
                self.store.finish(job_id, JobStatus.failed, error=why)
                return self.store.get(job_id)
        finally:
            if claim is not None:
                claim.release()
        self.store.set_supervisor(job_id, pid)
        return info.model_copy(update={"supervisor_pid": pid})

    # -- reading ---------------------------------------------------------------------

    def get(self, job_id: str) -> JobInfo:
        """The job, with a dead supervisor noticed (and the job failed) on the way."""
        return self._check_alive(self.store.get(job_id))

    def list(
        self, status: JobStatus | None = None, limit: int | None = None, offset: int = 0
    ) -> list[JobInfo]:
        """Jobs, newest first (``limit`` of them after the ``offset`` newest; all when None).

        Only the active ones are checked for a dead supervisor: a page costs the same
        however many jobs ended before.
        """
        jobs = [self._check_alive(job) for job in self.store.list(status, limit, offset)]
        return [job for job in jobs if status is None or job.status is status]

    def count(self, status: JobStatus | None = None) -> int:
        return self.store.count(status)

    def active(self) -> list[JobInfo]:
        """Jobs queued or running (a dead supervisor's found and failed on the way)."""
        jobs = [self._check_alive(job) for job in self.store.active()]
        return [job for job in jobs if not job.status.ended]

    def folder(self, job_id: str) -> JobFolder:
        return JobFolder(self.store.get(job_id).job_dir)

    def log_chunks(
        self,
        job_id: str,
        rank: int | None = None,
        tail: int | None = None,
        since: list[int] | None = None,
    ) -> list[LogChunk]:
        """Rank ``rank``'s output (every rank's when None): its last ``tail`` lines, or what
        was written after byte ``since[i]`` of the i-th rank's log. Each chunk carries the
        offset to ask from next, so a client reads only what is new."""
        job = self.store.get(job_id)
        folder = JobFolder(job.job_dir)
        world_size = job.nprocs * job.nnodes
        if tail is not None and tail < 0:
            raise Invalid(f"tail must be 0 or more lines, got {tail}.")
        if rank is not None and not 0 <= rank < world_size:
            raise Invalid(f"Job {job_id} has ranks 0..{world_size - 1}; there is no rank {rank}.")
        ranks = [rank] if rank is not None else list(range(world_size))
        if since is None:
            read = [read_tail(folder.rank_log(r), tail) for r in ranks]
        else:
            if len(since) != len(ranks) or any(s < 0 for s in since):
                raise Invalid(
                    f"since takes one byte offset (0 or more) per rank asked for "
                    f"({len(ranks)}), got {since}."
                )
            read = [
                read_lines_from(folder.rank_log(r), s) for r, s in zip(ranks, since, strict=True)
            ]
        return [LogChunk(rank=r, text=t, offset=o) for r, (t, o) in zip(ranks, read, strict=True)]

    def logs(self, job_id: str, rank: int | None = None, tail: int | None = None) -> str:
        """Rank ``rank``'s output, or every rank's under ``==> rank N <==`` headers."""
        return join_chunks(self.log_chunks(job_id, rank, tail), headers=rank is None)

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        return self.folder(job_id).read_metrics()[0]

    def metrics_since(self, job_id: str, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The records reported after byte ``since`` of the metrics file, and the next offset."""
        if since < 0:
            raise Invalid(f"since must be a byte offset of 0 or more, got {since}.")
        return self.folder(job_id).read_metrics(since)

    def rank_devices(self, job_id: str) -> dict[int, str]:
        """What each started rank computes on (``cuda:0 (NVIDIA H200, GPU 3)``, ``cpu``)."""
        return self.folder(job_id).rank_devices()

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job ends; raise JobFailed carrying the failing rank's error.

        Woken by the store as the job's status moves; every second at the latest, to
        notice a supervisor that died without recording anything.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.store.changes() as changes:
            job = self.get(job_id)
            while not job.status.ended:
                left = LIVENESS_INTERVAL if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"Job {job_id} is still {job.status.value} after {timeout} s."
                    )
                changes.wait(min(left, LIVENESS_INTERVAL))
                job = self.get(job_id)
        if job.status is JobStatus.failed:
            raise JobFailed(f"Job {job_id} failed. {job.error or ''}".rstrip())
        return job.status

    def result(self, job_id: str, timeout: float | None = None) -> Any:
        """Rank 0's return value, once the job succeeded."""
        status = self.wait(job_id, timeout)
        if status is JobStatus.cancelled:
            raise Conflict(f"Job {job_id} was cancelled; it has no result.")
        job = self.store.get(job_id)
        if job.kind == "script":
            raise Conflict(f"Job {job_id} ran a script; scripts return no value.")
        import cloudpickle

        with JobFolder(job.job_dir).result.open("rb") as f:
            return cloudpickle.load(f)

    # -- changing --------------------------------------------------------------------

    def cancel(self, job_id: str, grace: float = 10.0) -> JobInfo:
        """End every rank and the supervisor; SIGKILL whatever outlives ``grace`` seconds."""
        job = self.get(job_id)
        if job.status.ended:
            raise Conflict(f"Job {job_id} already {job.status.value}; nothing to cancel.")
        self.store.request_cancel(job_id)
        backend_class(job.backend)(self.store).cancel(job, JobFolder(job.job_dir), grace)
        # The supervisor records the cancel itself unless it was killed before it could.
        self.store.finish(job_id, JobStatus.cancelled)
        return self.store.get(job_id)

    def _check_alive(self, job: JobInfo) -> JobInfo:
        if job.status.ended or job.supervisor_pid is None:
            return job
        pid = job.supervisor_pid
        if process_matches(pid, job.job_dir) or being_recorded(job.id, pid):
            return job
        # The supervisor may have recorded the end just before exiting: read again.
        job = self.store.get(job.id)
        if job.status.ended:
            return job
        record_lost_supervisor(self.store, job, "ended", "it was killed or crashed")
        return self.store.get(job.id)
