"""Every process a rank starts ends with its job: a subprocess, a multiprocessing worker and
a daemon in a session of its own, after a rank is killed, the supervisor is killed, or the
job is cancelled (real 2-rank gloo jobs), whether the job started fresh or from the warm
pool."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lepton_jupyter import launch
from lepton_jupyter.jobs.api import Job
from lepton_jupyter.jobs.folder import JobFolder
from lepton_jupyter.jobs.reaping import job_processes
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.processes import pid_alive, wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 180
#: What the issue promises: a job's grandchildren are gone this soon after its end.
GONE_WITHIN = 10.0


@pytest.fixture(params=["fresh", "pool"])
def start(request, jobs_path) -> str:
    """How the test's jobs start: a fresh supervisor, or forked by the warm pool."""
    if request.param == "pool":
        request.getfixturevalue("job_pool")
    return request.param


def started_job() -> tuple[Job, list[int]]:
    """A running 2-rank job whose ranks each started three grandchildren; their PIDs."""
    job = launch("tests.fixtures.jobs:start_grandchildren", nprocs=2)
    files = [Path(job.folder) / f"grandchildren-{r}.txt" for r in (0, 1)]
    wait_for(lambda: all(f.exists() for f in files), TIMEOUT, message="grandchildren started")
    pids = [int(p) for f in files for p in f.read_text().split()]
    assert len(pids) == 6 and all(pid_alive(p) for p in pids)
    return job, pids


def assert_all_gone(job: Job, pids: list[int], since: float) -> None:
    """The grandchildren are gone within 10 s of ``since``, and soon after the supervisor
    (which ends them, then exits)."""
    wait_for(
        lambda: not any(pid_alive(p) for p in pids),
        max(0.5, since + GONE_WITHIN - time.monotonic()),
        message=f"grandchildren {pids} gone within {GONE_WITHIN:.0f} s",
    )
    wait_for(lambda: not job_processes(job.folder), 30, message="no process of the job left")


def test_grandchildren_end_when_a_rank_is_killed(start):
    # Given a running job whose ranks started grandchildren
    job, pids = started_job()
    # When rank 1 is killed -9 (its grandchildren are orphaned)
    os.kill(JobFolder(job.folder).rank_pids()[1], signal.SIGKILL)
    killed = time.monotonic()
    # Then the job fails, and every grandchild of both ranks is gone within 10 s
    wait_for(lambda: job.status is JobStatus.failed, TIMEOUT, message="job failed")
    assert_all_gone(job, pids, killed)


def test_grandchildren_end_when_the_supervisor_is_killed(start):
    # Given a running job whose ranks started grandchildren
    job, pids = started_job()
    # When its supervisor is killed -9 (nothing of it can clean up)
    os.kill(job.info.supervisor_pid, signal.SIGKILL)
    killed = time.monotonic()
    # Then a reader (here: this test, as a monitor would) finds it failed within 10 s, as
    # the process that collects the supervisor (the launching kernel, or the warm pool)
    # recorded it: saying how it died, every process of the job ended, grandchildren too
    wait_for(lambda: job.status is JobStatus.failed, GONE_WITHIN, message="job failed")
    assert "supervisor" in job.info.error and "was killed by SIGKILL" in job.info.error
    assert_all_gone(job, pids, killed)


def test_grandchildren_end_when_the_job_supervisor_process_is_killed(start):
    # Given a running job, When the supervisor's lifecycle process (the elastic agent, the
    # one the OOM killer would pick) is killed -9
    job, pids = started_job()
    supervisor = job.info.supervisor_pid
    (agent,) = [p for p in job_processes(job.folder) if _parent(p) == supervisor]
    os.kill(agent, signal.SIGKILL)
    killed = time.monotonic()
    # Then the supervisor itself records the failure and ends everything, with no reader
    assert_all_gone(job, pids, killed)
    assert job.status is JobStatus.failed
    assert "was killed by SIGKILL" in job.info.error


def test_grandchildren_end_when_the_job_is_cancelled(start):
    job, pids = started_job()
    cancelled = time.monotonic()
    assert job.cancel() is JobStatus.cancelled
    assert_all_gone(job, pids, cancelled)


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[-1].split()[1])
