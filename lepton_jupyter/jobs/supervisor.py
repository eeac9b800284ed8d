"""The detached supervisor: ``python -m lepton_jupyter.jobs.supervisor <job_dir>``.

Started by ``launch()`` in a session of its own, with no terminal and its output in the
job folder, so neither a kernel restart nor a kernel crash reaches it. It is two
processes: this one, small (no torch), which forks the one that hands the job to its
backend's fixed lifecycle, waits for it, then ends every process the job left (its
cgroup, and a sweep by job folder), also when the lifecycle was killed -9 midway. The
lifecycle process dies with it, and the ranks with the lifecycle.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from .folder import JOB_ID_ENV
from .reaping import JobCgroup, die_with_parent, end_job_processes, exit_with

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def supervise(job_dir: str) -> int:
    """Run the job's lifecycle (in the forked process); 0 when it succeeded."""
    from .backends import backend_class
    from .folder import JobFolder
    from .schema import JobSpec, JobStatus
    from .store import JobStore

    folder = JobFolder(job_dir)
    spec = JobSpec.model_validate(folder.read_spec())
    store = JobStore(spec.store_url)
    try:
        status = backend_class(spec.backend)(store).process(spec, folder)
    except BaseException:
        # The lifecycle records every failure of the ranks; this is the supervisor's own.
        store.finish(
            spec.id, JobStatus.failed, error=f"The job supervisor failed:\n{traceback.format_exc()}"
        )
        raise
    return 0 if status is JobStatus.succeeded else 1


def _record_lost_lifecycle(job_dir: str, how: str) -> None:
    """The lifecycle process died without recording the end (killed -9, out of memory)."""
    from .folder import JobFolder
    from .schema import JobSpec, JobStatus
    from .store import JobStore

    spec = JobSpec.model_validate(JobFolder(job_dir).read_spec())
    store = JobStore(spec.store_url)
    if store.get(spec.id).cancel_requested:
        store.finish(spec.id, JobStatus.cancelled)
    else:
        store.finish(
            spec.id,
            JobStatus.failed,
            error=f"The job's supervisor process (the torch elastic agent) {how} before it "
            f"could record how the job ended; every process of the job was stopped.",
        )


def main(job_dir: str) -> int:
    job_id = os.environ.get(JOB_ID_ENV) or Path(job_dir).name
    cgroup = JobCgroup.create(job_id, Path(job_dir))
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:

        def lifecycle() -> int:
            die_with_parent()
            if cgroup is not None:
                cgroup.add(os.getpid())
            return supervise(job_dir)

        exit_with(lifecycle)

    def forward(signum: int, _frame: object) -> None:
        # Cancel signals this process; the lifecycle stops the ranks politely.
        os.kill(child, signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    _, status = os.waitpid(child, 0)
    end_job_processes(job_dir)
    if os.WIFSIGNALED(status):
        how = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        _record_lost_lifecycle(job_dir, how)
        return 1
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
