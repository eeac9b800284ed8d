"""Real 2-rank gloo jobs on the CPU: success, a failing rank, cancel, a killed supervisor,
elastic restarts, and the CLI over a finished job."""

from __future__ import annotations

import os
import signal
from datetime import datetime, timezone

import pytest

from lepton_jupyter import Job, jobs, launch, pins
from lepton_jupyter.cli import main as lepton_cli
from lepton_jupyter.errors import Conflict
from lepton_jupyter.jobs.folder import JobFolder, job_processes
from lepton_jupyter.jobs.schema import JobFailed, JobStatus
from tests.fixtures.processes import wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 180


def test_two_ranks_succeed_with_result_metrics_logs_and_ledger(jobs_path, capsys):
    # Given an importable training function
    # When it is launched on 2 ranks and waited for
    job = launch("tests.fixtures.jobs:train", 3, nprocs=2)
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    # Then rank 0's return value comes back, both ranks took part and exited 0
    assert job.result() == {"world_size": 2, "total": 1 + 3 + 5}
    assert job.info.exit_codes == {0: 0, 1: 0}
    # and every rank's reports and output are kept
    steps = {(m["rank"], m["step"]) for m in job.metrics()}
    assert steps == {(r, s) for r in (0, 1) for s in range(3)}
    assert "rank 1 step 2" in job.logs(rank=1)
    assert job.logs(rank=0, tail=1) == "rank 0 step 2\n"
    # and the kernel's ledger names the job, so a published model can point at it
    (entry,) = pins.ledger().entries("job")
    assert entry["key"] == job.id and entry["nprocs"] == 2 and entry["backend"] == "local"
    assert [j.id for j in jobs()] == [job.id]
    # and the CLI shows the same job
    assert lepton_cli(["jobs", "list"]) == 0
    assert job.id in capsys.readouterr().out
    assert lepton_cli(["jobs", "show", job.id]) == 0
    assert "status:      succeeded" in capsys.readouterr().out
    assert lepton_cli(["jobs", "logs", job.id, "--rank", "1", "--tail", "1"]) == 0
    assert capsys.readouterr().out == "rank 1 step 2\n"
    assert lepton_cli(["jobs", "cancel", job.id]) == 2
    assert "already succeeded; nothing to cancel" in capsys.readouterr().err


def test_a_rank_that_raises_fails_the_job_with_its_traceback(jobs_path):
    # Given a job whose rank 1 raises at step 1 while rank 0 would go on for long
    job = launch("tests.fixtures.jobs:train", 200, fail_rank=1, pause=0.05, nprocs=2)
    # When it is waited for, Then the failing rank's exception is what the user sees
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=TIMEOUT)
    message = str(info.value)
    assert "Rank 1 raised" in message
    assert "RuntimeError: rank 1 fails on purpose" in message
    assert 'in train\n    raise RuntimeError(f"rank {rank} fails on purpose")' in message
    # and the other rank was torn down, not left in its next all-reduce (gloo waits 30
    # minutes there): the job ended with rank 0 stopped at the step it was waiting in.
    # (No timing threshold: a 2-core machine under load cannot promise one.)
    assert job.info.failed_rank == 1
    assert job.info.exit_codes[1] == 1
    assert job.info.exit_codes[0] != 0
    assert max(m["step"] for m in job.metrics() if m["rank"] == 0) <= 2
    # (the supervisor records the end, then exits)
    wait_for(lambda: not job_processes(job.folder), 30, message="job processes gone")
    with pytest.raises(JobFailed):
        job.result()


def test_cancel_ends_every_rank_and_the_supervisor(jobs_path):
    # Given a running job whose ranks have reported
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.05, nprocs=2)
    wait_for(lambda: len(job.metrics()) >= 2, TIMEOUT, message="first reports")
    ranks = JobFolder(job.folder).rank_pids()
    assert len(ranks) == 2 and job_processes(job.folder)
    # When it is cancelled
    assert job.cancel() is JobStatus.cancelled
    # Then no process of the job is left, and the status says so
    assert job_processes(job.folder) == []
    assert not any(os.path.exists(f"/proc/{pid}") for pid in ranks.values())
    assert job.status is JobStatus.cancelled
    assert job.wait(timeout=5) is JobStatus.cancelled
    with pytest.raises(Conflict, match="already cancelled"):
        job.cancel()


def test_a_killed_supervisor_fails_the_job_and_takes_its_ranks(jobs_path):
    # Given a running job
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.05, nprocs=2)
    wait_for(lambda: len(job.metrics()) >= 2, TIMEOUT, message="first reports")
    # When its supervisor is killed -9 (it cannot record anything)
    os.kill(job.info.supervisor_pid, signal.SIGKILL)
    # Then the job reads as failed, naming the supervisor, and its ranks die with it
    wait_for(lambda: job.status is JobStatus.failed, 30, message="job marked failed")
    assert "supervisor" in job.info.error and "killed" in job.info.error
    wait_for(lambda: not job_processes(job.folder), 30, message="ranks gone")


def test_max_restarts_restarts_failed_ranks(jobs_path):
    # Given a function whose rank 1 fails in the first elastic attempt only
    # When launched with one restart allowed
    job = launch("tests.fixtures.jobs:fail_first_attempt", nprocs=2, max_restarts=1)
    # Then the agent restarts the ranks and the job succeeds
    assert job.result(timeout=TIMEOUT) == "succeeded on attempt 1"
    assert "first attempt fails" in job.logs(rank=1)


def test_attach_reads_the_store_not_the_handle(jobs_path):
    # A handle made from the id alone (as after a kernel restart) sees the same job
    launched_after = datetime.now(timezone.utc)
    job = launch("tests.fixtures.jobs:train", 1, nprocs=1)
    again = Job.attach(job.id)
    assert again.wait(timeout=TIMEOUT) is JobStatus.succeeded
    assert job.result() == {"world_size": 1, "total": 0.0}
    assert repr(again) == f"<Job {job.id} 'train' succeeded, 1 rank(s)>"
    assert launched_after <= again.info.created_at <= datetime.now(timezone.utc)
