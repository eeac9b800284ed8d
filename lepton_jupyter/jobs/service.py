"""The job service: validate and launch, read back, cancel. No web framework in here.

The kernel (through the public API), the CLI and the server's handlers all call a
:class:`JobService`; they differ only in how they present its answers.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .._process import ended_child, pid_ending
from ..errors import Conflict, Invalid
from ..settings import Settings
from . import pool
from .backends import backend_class, check_backend
from .backends.base import job_env
from .devices import (
    VISIBLE_ENV,
    DeviceError,
    check_dist_backend,
    check_gpu_job,
    thread_env,
)
from .folder import JobFolder, process_matches, read_lines_from, read_tail
from .gpu_pool import claim_gpus
from .reaping import end_job_processes
from .schema import JobFailed, JobInfo, JobSpec, JobStatus, LogChunk, join_chunks
from .store import JobStore, adopt_store, sqlite_url, store_path, utcnow

#: Most seconds ``wait()`` goes without checking that the job's supervisor lives.
LIVENESS_INTERVAL = 1.0
#: Most seconds a fresh supervisor's exec may take before launch() gives up on it.
SUPERVISOR_EXEC_TIMEOUT = 60.0
#: Most seconds a reader leaves an ended supervisor's record to the process collecting it
#: (the warm pool, or the kernel that started it fresh), which knows how it ended.
RECORDING_GRACE = 30.0
#: When this process first saw a job's supervisor ended, uncollected ((job, pid) -> s).
_ended_since: dict[tuple[str, int], float] = {}


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
        _check_count("nprocs", nprocs, 1)
        _check_count("nnodes", nnodes, 1)
        _check_count("max_restarts", max_restarts, 0)
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
        requested_gpus = _check_gpus(gpus)
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
        kind, description, payload, script = _resolve_target(target, args, kwargs)
        default_name = description.rsplit(":", 1)[-1].rsplit("/", 1)[-1].removesuffix(".py")
        name = name or default_name
        job_id = f"{_slug(name)}-{secrets.token_hex(3)}"
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
            folder.environment.write_text(json.dumps(_environment(spec), indent=2))
            info = self.store.create(spec, folder.path)
            try:
                on_end = functools.partial(supervisor_ended, self.store)
                pid = _start_supervisor(
                    spec, folder, claim.fds if claim else [], self.settings, on_end
                )
            except Exception as e:  # no process to run it: the job ends here, saying why
                why = f"The job's supervisor could not start: {e}"
                _append_log(folder, f"lepton: {why}")
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
        if process_matches(pid, job.job_dir) or _being_recorded(job.id, pid):
            return job
        # The supervisor may have recorded the end just before exiting: read again.
        job = self.store.get(job.id)
        if job.status.ended:
            return job
        record_lost_supervisor(self.store, job, "ended", "it was killed or crashed")
        return self.store.get(job.id)


def _being_recorded(job_id: str, pid: int) -> bool:
    """Whether the job's supervisor ``pid`` is ending, and its parent (the warm pool, or
    the kernel that started it fresh) about to record how, before collecting it: a reader
    leaves the record to the parent, which knows the signal or exit code, for
    ``RECORDING_GRACE`` seconds."""
    if not pid_ending(pid):
        _ended_since.pop((job_id, pid), None)
        return False
    now = time.monotonic()
    return now - _ended_since.setdefault((job_id, pid), now) < RECORDING_GRACE


def supervisor_ended(store: JobStore, job_id: str, pid: int, returncode: int) -> None:
    """The job's supervisor ``pid`` ended with ``returncode`` (negative: killed by that
    signal), as the process collecting it saw (the kernel that started it fresh, or the
    warm pool): when it recorded no end, record how it ended, in its log and as the job's
    error."""
    job = store.get(job_id)
    if job.status.ended:
        return
    how = (
        f"was killed by {_signal_name(-returncode)}"
        if returncode < 0
        else f"exited with code {returncode}"
    )
    _append_log(JobFolder(job.job_dir), f"lepton: the job's supervisor (pid {pid}) {how}")
    record_lost_supervisor(store, job.model_copy(update={"supervisor_pid": pid}), how)


def record_lost_supervisor(store: JobStore, job: JobInfo, how: str, guess: str = "") -> None:
    """End a job whose supervisor is gone without recording the end, and every process
    it left (what the ranks started is orphaned)."""
    end_job_processes(job.job_dir)
    if job.cancel_requested or store.get(job.id).cancel_requested:
        store.finish(job.id, JobStatus.cancelled)
        return
    folder = JobFolder(job.job_dir)
    log = folder.tail(folder.supervisor_log, 20).strip()
    store.finish(
        job.id,
        JobStatus.failed,
        error=(
            f"The job's supervisor (pid {job.supervisor_pid}) {how} without recording "
            f"how the job ended{'; ' + guess if guess else ''}. Last lines of "
            f"{folder.supervisor_log}:\n{log}"
        ),
    )


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Invalid(f"{name} must be an integer of at least {minimum}, got {value!r}.")


def _check_gpus(gpus: Any) -> int | list[str] | None:
    """``gpus`` as a count or a list of device ids; Invalid for anything else."""
    if gpus is None:
        return None
    if isinstance(gpus, int) and not isinstance(gpus, bool):
        _check_count("gpus", gpus, 0)
        return gpus
    if isinstance(gpus, list | tuple) and gpus:
        ids = [str(g) for g in gpus if isinstance(g, int | str) and not isinstance(g, bool)]
        if len(ids) == len(gpus) and all(i.strip() for i in ids):
            return ids
    raise Invalid(
        f"gpus must be a number of GPUs (0 for a CPU job) or a list of device ids such as "
        f"[0, 1], got {gpus!r}."
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:40] or "job"


def _resolve_target(
    target: Any, args: Sequence[Any], kwargs: dict[str, Any]
) -> tuple[str, str, bytes, Path | None]:
    """(kind, description, pickled payload, script to copy) for what the user launched."""
    if callable(target):
        description = getattr(target, "__qualname__", None) or repr(target)
        return "function", description, _pickle_payload(target, args, kwargs), None
    if not isinstance(target, str | os.PathLike):
        raise Invalid(
            f"launch() takes a function, 'module:function' or a script path, "
            f"not {type(target).__name__}."
        )
    text = os.fspath(target)
    looks_like_script = text.endswith(".py") or os.sep in text or Path(text).is_file()
    if looks_like_script:
        script = Path(text).expanduser().resolve()
        if not script.is_file():
            raise Invalid(f"Script not found: {text} (looked in {Path.cwd()}).")
        if kwargs:
            raise Invalid(
                f"A script takes positional arguments (its argv), not keyword "
                f"arguments: {sorted(kwargs)}."
            )
        return "script", str(script), _pickle_payload(None, (), {}), script
    module, sep, attr = text.partition(":")
    if not sep or not module or not attr:
        raise Invalid(f"{text!r} is neither a script path nor 'module:function'.")
    try:
        found = find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise Invalid(
            f"Module {module!r} of target {text!r} cannot be imported from this kernel's sys.path."
        )
    return "module", text, _pickle_payload(None, args, kwargs), None


def _pickle_payload(
    function: Callable[..., Any] | None, args: Sequence[Any], kwargs: dict[str, Any]
) -> bytes:
    import cloudpickle

    payload = {"function": function, "args": tuple(args), "kwargs": kwargs}
    try:
        return cloudpickle.dumps(payload)
    except Exception as e:
        culprit = _unpicklable(function, args, kwargs) or "the target"
        raise Invalid(
            f"Cannot send {culprit} to the ranks: it cannot be pickled ({e}). "
            f"Create it inside the training function instead."
        ) from e


def _unpicklable(
    function: Callable[..., Any] | None, args: Sequence[Any], kwargs: dict[str, Any]
) -> str | None:
    """Name the first object that cannot be pickled, following functions it refers to."""
    import cloudpickle

    candidates: list[tuple[str, Any]] = [
        (f"argument {i} ({type(a).__name__})", a) for i, a in enumerate(args)
    ]
    candidates += [(f"keyword argument {k!r} ({type(v).__name__})", v) for k, v in kwargs.items()]
    seen: set[int] = set()

    def referenced(fn: Any) -> list[tuple[str, Any]]:
        if not inspect.isfunction(fn) or id(fn) in seen:
            return []
        seen.add(id(fn))
        refs = inspect.getclosurevars(fn)
        found = [
            (f"closure variable {n!r} ({type(v).__name__}) of {fn.__qualname__}", v)
            for n, v in refs.nonlocals.items()
        ]
        found += [
            (f"global {n!r} ({type(v).__name__}) used by {fn.__qualname__}", v)
            for n, v in refs.globals.items()
        ]
        return found

    if function is not None:
        candidates += referenced(function)
    while candidates:
        label, obj = candidates.pop(0)
        try:
            cloudpickle.dump(obj, io.BytesIO())
        except Exception:
            deeper = referenced(obj)
            if not deeper:
                return label
            candidates = deeper
    return None


def _environment(spec: JobSpec) -> dict[str, Any]:
    """What the launching interpreter looked like; variable values stay out (secrets).
    A package it has loaded says its own version (what it runs, and reading installed
    metadata costs ~10 ms a package on the launch's path); others, their metadata's."""
    versions = {}
    for package in ("torch", "lepton_jupyter", "cloudpickle", "numpy"):
        loaded = getattr(sys.modules.get(package), "__version__", None)
        try:
            versions[package] = str(loaded) if loaded else version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version,
        "executable": sys.executable,
        "platform": sys.platform,
        "hostname": os.uname().nodename,
        "cwd": spec.cwd,
        "sys_path": spec.sys_path,
        "packages": versions,
        "env_overrides": spec.env,
        "inherited_env_names": sorted(os.environ),
    }


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _append_log(folder: JobFolder, line: str) -> None:
    with folder.supervisor_log.open("a") as log:
        log.write(line.rstrip("\n") + "\n")


def _await_exec(proc: subprocess.Popen, marker: str) -> None:
    """Return once ``proc``'s command line names ``marker`` (or it ended).

    Popen returns when the child's exec began, and Linux shows a process's new command
    line only once exec has loaded the interpreter: a few microseconds, or tens of ms
    under load. A liveness check (``process_matches``) in that gap takes the starting
    supervisor for a dead one, fails the job and kills it.
    """
    deadline = time.monotonic() + SUPERVISOR_EXEC_TIMEOUT
    while not process_matches(proc.pid, marker) and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(
                f"the supervisor (pid {proc.pid}) did not start within "
                f"{SUPERVISOR_EXEC_TIMEOUT:.0f} s"
            )
        time.sleep(0.0005)


def _start_supervisor(
    spec: JobSpec,
    folder: JobFolder,
    keep_fds: list[int],
    settings: Settings,
    on_end: Callable[[str, int, int], None],
) -> int:
    """Start the supervisor detached: own session, no stdin, output to the job folder,
    holding ``keep_fds`` (the job's GPU locks). A local job's comes from the warm pool
    when one can take it; else it starts fresh, and a pool is started for the next.
    A fresh one is reaped here: ``on_end(job_id, pid, returncode)`` when it ends."""
    # Local ranks share this machine's CPUs; a Slurm job's script splits its own.
    threads = thread_env(spec.nprocs, spec.env) if spec.backend == "local" else None
    env = job_env(spec, folder.path, os.environ, threads)
    pooled = spec.backend == "local" and settings.job_pool
    if pooled:
        try:
            return pool.hand_over(spec.python, folder.path, env, spec.cwd, keep_fds)
        except pool.PoolUnavailable as e:
            with folder.supervisor_log.open("a") as log:
                log.write(f"lepton: started without the warm job pool: {e}\n")
    with folder.supervisor_log.open("ab") as log:
        proc = subprocess.Popen(
            [spec.python, "-m", pool.SUPERVISOR_MODULE, str(folder.path)],
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            pass_fds=keep_fds,
        )
    try:
        _await_exec(proc, str(folder.path))
    finally:
        # Reap it when it ends, so it never lingers as a zombie of this kernel, and say
        # how it ended if it could not.
        def reap() -> None:
            try:
                returncode = ended_child(proc.pid)
            except ChildProcessError:  # collected already (never, but proc knows how)
                returncode = proc.wait()
            try:
                on_end(spec.id, proc.pid, returncode)
            except Exception as e:  # the store gone with the kernel's state; get() still checks
                print(f"lepton: could not record the end of job {spec.id}: {e!r}", file=sys.stderr)
            finally:
                proc.wait()  # collected once recorded: readers wait while it is a zombie

        threading.Thread(target=reap, name=f"reap-{spec.id}", daemon=True).start()
    if pooled:
        pool.start_in_background(spec.python, settings.job_pool_preload)
    return proc.pid
