"""The local backend: torch's elastic agent (what torchrun runs) on this machine.

The supervisor runs the agent in its main thread. The agent forks each rank from itself
(``start_method="fork"``): an interpreter with torch imported that never ran user code
nor touched CUDA, so a rank starts in milliseconds instead of importing torch again, and
nothing is forked from the kernel. A notebook-defined function arrives by value
(cloudpickle). Rendezvous is a one-agent static one on a port the OS picks
(:mod:`.rendezvous`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import ClassVar

from ..folder import JobFolder, process_matches
from ..reaping import end_job_processes
from ..schema import JobInfo, JobSpec, JobStatus
from .base import Backend, Outcome, describe_failure

#: Makes ``torch.cuda.is_available()`` ask NVML, which does not initialise CUDA: the
#: agent asks it (LaunchConfig), and a CUDA driver initialised before a fork is unusable
#: in the forked ranks.
NVML_CHECK_ENV = "PYTORCH_NVML_BASED_CUDA_CHECK"


def _flush_std_streams() -> None:
    # What the agent buffered must not be written again by each forked rank.
    sys.stdout.flush()
    sys.stderr.flush()


class LocalBackend(Backend):
    """Ranks as local processes under ``torch.distributed.launcher.api.elastic_launch``."""

    name: ClassVar[str] = "local"
    max_nodes: ClassVar[int | None] = 1

    def submit(self, spec: JobSpec, folder: JobFolder) -> Outcome:
        from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.launcher.api import LaunchConfig, elastic_launch

        from .. import worker
        from .rendezvous import BACKEND

        nvml_check = os.environ.get(NVML_CHECK_ENV)
        os.environ[NVML_CHECK_ENV] = "1"
        try:
            config = LaunchConfig(
                min_nodes=spec.nnodes,
                max_nodes=spec.nnodes,
                nproc_per_node=spec.nprocs,
                run_id=spec.id,
                rdzv_backend=BACKEND,
                rdzv_endpoint="localhost:0",
                max_restarts=spec.max_restarts,
                start_method="fork",
                monitor_interval=0.1,
                # Ranks redirect their own output to logs/rank-N.log; the agent keeps its
                # error files here instead of a temporary folder nobody cleans.
                logs_specs=DefaultLogsSpecs(log_dir=str(folder.elastic_logs)),
            )
        finally:
            if nvml_check is None:
                del os.environ[NVML_CHECK_ENV]
            else:
                os.environ[NVML_CHECK_ENV] = nvml_check
        os.register_at_fork(before=_flush_std_streams)
        world_size = spec.nprocs * spec.nnodes
        try:
            elastic_launch(config, worker.forked_rank)(str(folder.path))
        except ChildFailedError as e:
            end_job_processes(folder.path)  # what the failed ranks started, before the status
            exit_codes: dict[int, int | None] = dict.fromkeys(range(world_size))
            exit_codes.update({r: f.exitcode for r, f in e.failures.items()})
            # The agent reports the first forked rank it found ended; one that left a
            # traceback exited 1 (worker._fail), whichever the agent saw first.
            for r in range(world_size):
                if exit_codes[r] is None and folder.read_error(r) is not None:
                    exit_codes[r] = 1
            # The agent sees every failed rank in the same poll; the first traceback
            # written names the cause, the others usually report the broken connection.
            rank = folder.first_failed_rank()
            if rank is None:
                rank = e.get_first_failure()[0]
            return Outcome(
                JobStatus.failed,
                exit_codes,
                rank,
                describe_failure(folder, rank, exit_codes.get(rank)),
            )
        end_job_processes(folder.path)
        return Outcome(JobStatus.succeeded, dict.fromkeys(range(world_size), 0))

    def poll(self, spec: JobSpec, folder: JobFolder, handle: Outcome) -> Outcome:
        return handle

    def cancel(self, job: JobInfo, folder: JobFolder, grace: float) -> None:
        """SIGTERM the supervisor (its elastic agent stops the ranks, then it ends what
        they started), and SIGKILL every process of the job still there after ``grace``."""
        marker = str(folder.path)
        pid = job.supervisor_pid
        if pid and process_matches(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while process_matches(pid, marker) and time.monotonic() < deadline:
                time.sleep(0.1)
        end_job_processes(folder.path)
