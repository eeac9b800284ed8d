"""Starting a job's supervisor, and recording how it ended when it could not say so itself.

A supervisor records its job's end in the store. One killed -9 or out of memory cannot: the
process that collects it (the kernel that started it fresh, or the warm pool) records the
signal or exit code, and a reader that finds it gone first leaves that record to the
collector for ``RECORDING_GRACE`` seconds before writing its own guess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from .._process import ended_child, pid_ending
from ..settings import Settings
from . import pool
from .backends.base import job_env
from .devices import thread_env
from .folder import JobFolder, process_matches
from .reaping import end_job_processes
from .schema import JobInfo, JobSpec, JobStatus
from .store import JobStore

#: Most seconds a fresh supervisor's exec may take before launch() gives up on it.
SUPERVISOR_EXEC_TIMEOUT = 60.0
#: Most seconds a reader leaves an ended supervisor's record to the process collecting it
#: (the warm pool, or the kernel that started it fresh), which knows how it ended.
RECORDING_GRACE = 30.0
#: When this process first saw a job's supervisor ended, uncollected ((job, pid) -> s).
_ended_since: dict[tuple[str, int], float] = {}


def being_recorded(job_id: str, pid: int) -> bool:
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
    append_log(JobFolder(job.job_dir), f"lepton: the job's supervisor (pid {pid}) {how}")
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


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def append_log(folder: JobFolder, line: str) -> None:
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


def start_supervisor(
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
