"""The local backend: torch's elastic agent (what torchrun runs) on this machine.

The supervisor runs the agent in its main thread with a *binary* entrypoint, the worker
module in a fresh interpreter per rank, so nothing is forked from the kernel and a
notebook-defined function arrives by value (cloudpickle) rather than by name from a
``__main__`` the rank does not have. Rendezvous is c10d on a port the agent picks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import ClassVar

from ..folder import JobFolder, process_matches
from ..reaping import end_job_processes
from ..schema import JobInfo, JobSpec, JobStatus
from .base import Backend, Outcome, describe_failure

WORKER_MODULE = "lepton_jupyter.jobs.worker"


class LocalBackend(Backend):
    """Ranks as local processes under ``torch.distributed.launcher.api.elastic_launch``."""

    name: ClassVar[str] = "local"
    max_nodes: ClassVar[int | None] = 1

    def submit(self, spec: JobSpec, folder: JobFolder) -> Outcome:
        from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.launcher.api import LaunchConfig, elastic_launch

        config = LaunchConfig(
            min_nodes=spec.nnodes,
            max_nodes=spec.nnodes,
            nproc_per_node=spec.nprocs,
            run_id=spec.id,
            rdzv_backend="c10d",
            rdzv_endpoint="localhost:0",
            max_restarts=spec.max_restarts,
            start_method="spawn",
            monitor_interval=0.1,
            # Ranks redirect their own output to logs/rank-N.log; the agent keeps its
            # error files here instead of a temporary folder nobody cleans.
            logs_specs=DefaultLogsSpecs(log_dir=str(folder.elastic_logs)),
        )
        world_size = spec.nprocs * spec.nnodes
        try:
            elastic_launch(config, spec.python)("-u", "-m", WORKER_MODULE, str(folder.path))
        except ChildFailedError as e:
            end_job_processes(folder.path)  # what the failed ranks started, before the status
            exit_codes: dict[int, int | None] = dict.fromkeys(range(world_size))
            exit_codes.update({r: f.exitcode for r, f in e.failures.items()})
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
