"""Jobs started from the warm pool (real pool process, real 2-rank gloo jobs): the same
guarantees as a fresh start. The supervisor is the pool's child, named by its job; ranks
are new for every job; cancel, a killed supervisor or a killed pool leave nothing behind
and lose nothing; elastic restarts work; a job the pool cannot serve as a fresh start
would, starts fresh."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from lepton_jupyter import launch
from lepton_jupyter.jobs import pool
from lepton_jupyter.jobs.api import Job
from lepton_jupyter.jobs.folder import JobFolder, job_processes, process_matches
from lepton_jupyter.jobs.schema import JobFailed, JobStatus
from tests.fixtures.jobs import pool_serves
from tests.fixtures.processes import pid_alive, wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 180
FRESH_START = "started without the warm job pool"


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[-1].split()[1])


def supervisor_log(job: Job) -> str:
    return JobFolder(job.folder).supervisor_log.read_text()


def assert_from_pool(job: Job, job_pool: subprocess.Popen) -> None:
    """The pool started the job's supervisor (its log says so), which, while it runs, is
    the pool's child, with a command line naming the job."""
    assert FRESH_START not in supervisor_log(job)
    log = (pool.pool_dir() / "pool.log").read_text()
    assert f"job {job.folder}: supervisor {job.info.supervisor_pid}" in log
    supervisor = job.info.supervisor_pid
    if not job.status.ended:
        assert process_matches(supervisor, job.folder)
        assert parent(supervisor) == job_pool.pid


def running_job(job_pool: subprocess.Popen) -> tuple[Job, dict[int, int]]:
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.05, nprocs=2)
    wait_for(lambda: len(job.metrics()) >= 2, TIMEOUT, message="first reports")
    assert_from_pool(job, job_pool)
    return job, JobFolder(job.folder).rank_pids()


def test_jobs_start_from_the_pool_with_fresh_ranks_each_time(job_pool, tmp_path):
    # Given a warm pool, When two jobs are launched one after the other
    first = launch("tests.fixtures.jobs:train", 3, nprocs=2)
    assert first.wait(timeout=TIMEOUT) is JobStatus.succeeded
    first_ranks = JobFolder(first.folder).rank_pids()
    second = launch("tests.fixtures.jobs:rank_setup", nprocs=2, env={"TMPDIR": str(tmp_path)})
    assert second.wait(timeout=TIMEOUT) is JobStatus.succeeded
    # Then both came from the pool and did what a fresh start does
    assert_from_pool(first, job_pool)
    assert first.result() == {"world_size": 2, "total": 1 + 3 + 5}
    assert "rank 1 step 2" in first.logs(rank=1)
    assert {(m["rank"], m["step"]) for m in first.metrics()} == {
        (r, s) for r in (0, 1) for s in range(3)
    }
    # with the job's own environment: one thread per rank's share of the CPUs, no GPU
    setup = second.result()
    assert setup["backend"] == "gloo" and setup["visible"] == "" and not setup["cuda"]
    assert setup["torch_threads"] == int(setup["omp_threads"])
    assert setup["tmp"] == str(tmp_path)  # not the pool's (tempfile caches it)
    # and the second job's ranks are new processes: the first's ran user code and are gone
    second_ranks = JobFolder(second.folder).rank_pids()
    assert not set(first_ranks.values()) & set(second_ranks.values())
    assert not any(pid_alive(p) for p in [*first_ranks.values(), *second_ranks.values()])
    assert job_pool.poll() is None


def test_a_rank_from_the_pool_has_what_a_training_step_imports(job_pool):
    # When a pool job wraps a model in DDP and takes a step
    job = launch("tests.fixtures.jobs:imported_for_a_step", nprocs=1)
    imported = job.result(timeout=TIMEOUT)
    assert_from_pool(job, job_pool)
    # Then it imported nothing heavy: without the pool's preload, DDP's constructor
    # imports torch._dynamo and sympy, seconds per rank before the first step
    heavy = ("torch._dynamo", "torch._inductor", "sympy")
    assert [m for m in imported if m.startswith(heavy)] == []


def test_cancel_of_a_pool_job_ends_every_process_and_the_pool_serves_on(job_pool):
    job, ranks = running_job(job_pool)
    assert job.cancel() is JobStatus.cancelled
    assert job_processes(job.folder) == []
    assert not any(pid_alive(pid) for pid in ranks.values())
    # the pool is untouched and starts the next job
    nxt = launch("tests.fixtures.jobs:train", 1, nprocs=1)
    assert nxt.wait(timeout=TIMEOUT) is JobStatus.succeeded
    assert_from_pool(nxt, job_pool)


def test_a_killed_pool_supervisor_fails_the_job_saying_how_and_takes_its_ranks(job_pool):
    # Given a running job whose supervisor the pool forked
    job, ranks = running_job(job_pool)
    pid = job.info.supervisor_pid
    # When the supervisor is killed -9 (nothing of it can record the end)
    os.kill(pid, signal.SIGKILL)
    # Then, with no one reading the job (the store alone is watched), the pool that
    # collects it records how it died: in the job's error and its log
    store = job._manager.store
    wait_for(lambda: store.get(job.id).status.ended, TIMEOUT, message="job ended in the store")
    info = store.get(job.id)
    assert info.status is JobStatus.failed
    assert f"supervisor (pid {pid}) was killed by SIGKILL" in info.error
    log = supervisor_log(job)
    assert f"lepton: the job's supervisor (pid {pid}) was killed by SIGKILL" in log
    with pytest.raises(JobFailed, match="killed by SIGKILL"):
        job.wait(timeout=TIMEOUT)
    # and no rank, nor anything of the job, outlives it; the pool serves on
    assert not any(pid_alive(p) for p in ranks.values())
    assert job_processes(job.folder) == []
    wait_for(lambda: not pid_alive(pid), 30, message="the supervisor collected")
    assert job_pool.poll() is None


def test_a_job_outlives_its_pool(job_pool):
    # Given a job started from the pool, When the pool is killed -9 while it runs
    job = launch("tests.fixtures.jobs:train", 20, pause=0.1, nprocs=2)
    wait_for(lambda: job.metrics(), TIMEOUT, message="first report")
    assert_from_pool(job, job_pool)
    job_pool.kill()
    job_pool.wait()
    # Then the job runs to its end, and nothing of it is left
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    assert job.result()["world_size"] == 2
    wait_for(lambda: not job_processes(job.folder), 30, message="job processes gone")


def test_elastic_restarts_and_failures_from_the_pool(job_pool):
    restarted = launch("tests.fixtures.jobs:fail_first_attempt", nprocs=2, max_restarts=1)
    assert restarted.result(timeout=TIMEOUT) == "succeeded on attempt 1"
    assert_from_pool(restarted, job_pool)
    failing = launch("tests.fixtures.jobs:train", 200, fail_rank=1, pause=0.05, nprocs=2)
    with pytest.raises(JobFailed, match="RuntimeError: rank 1 fails on purpose"):
        failing.wait(timeout=TIMEOUT)
    assert failing.info.failed_rank == 1
    wait_for(lambda: not job_processes(failing.folder), 30, message="job processes gone")


def test_a_job_the_pool_cannot_serve_starts_fresh(job_pool):
    # Given a job whose environment sets a variable torch reads when imported
    job = launch("tests.fixtures.jobs:train", 1, nprocs=1, env={"TORCH_SHOW_CPP_STACKTRACES": "1"})
    # Then it runs from a fresh supervisor, and its log says why
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    log = supervisor_log(job)
    assert FRESH_START in log and "TORCH_SHOW_CPP_STACKTRACES differ" in log
    assert job_pool.poll() is None


def test_without_a_pool_a_launch_starts_one_for_the_next(pool_folder):
    # Given the pool on and none running (a kernel without a Jupyter server)
    os.environ["LEPTON_JOB_POOL"] = "1"
    path = pool.socket_path(sys.executable)
    assert not pool_serves(path)
    started = None
    try:
        # When a job is launched, Then it starts fresh, and a pool owned by this process
        # comes up for the next launch, which it serves
        job = launch("tests.fixtures.jobs:train", 1, nprocs=1)
        assert FRESH_START in supervisor_log(job)
        wait_for(lambda: pool_serves(path), TIMEOUT, message="pool serving")
        started = int(path.with_suffix(".lock").read_text())
        assert parent(started) == os.getpid()
        assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
        nxt = launch("tests.fixtures.jobs:train", 1, nprocs=1)
        assert nxt.wait(timeout=TIMEOUT) is JobStatus.succeeded
        log = (pool_folder / "pool.log").read_text()
        assert f"job {nxt.folder}: supervisor {nxt.info.supervisor_pid}" in log
        assert f"pool {started} serving" in log
    finally:
        if started is not None and pid_alive(started):
            os.kill(started, signal.SIGTERM)
            wait_for(lambda: not pid_alive(started), 30, message="pool stopped")
