"""A fresh job supervisor (the warm pool off) from its start: readers do not take a
supervisor still starting for a dead one, and one that dies or cannot start at all ends
its job with the reason, in the job's error and in ``supervisor.log``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lepton_jupyter import Job, launch
from lepton_jupyter.jobs import pool
from lepton_jupyter.jobs.folder import JobFolder, job_processes
from lepton_jupyter.jobs.schema import JobFailed, JobStatus
from tests.fixtures.processes import wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 180
ARGV_ENV = "TEST_SUPERVISOR_ARGV"
#: Started in place of the supervisor: it stays a process whose command line does not name
#: the job folder for a while, then becomes the supervisor (execs it).
SLOW_EXEC = (
    "import json, os, time\n"
    "time.sleep(0.5)\n"
    f"argv = json.loads(os.environ.pop({ARGV_ENV!r}))\n"
    "os.execv(argv[0], argv)\n"
)


def test_a_supervisor_still_starting_is_not_taken_for_a_dead_one(jobs_path, monkeypatch):
    # Given a machine so loaded that the supervisor's exec is slow to show its command line.
    # Linux shows a new process's command line only once exec has loaded the interpreter
    # (tens of ms under load, seen failing a benchmark's job); the kernel's timing cannot
    # be set from here, so the supervisor's start is wrapped in a slower exec (a real
    # process whose command line names no job for 0.5 s, then the real supervisor).
    real_popen = subprocess.Popen

    def slow_exec(args, **kwargs):
        if list(args[1:3]) == ["-m", pool.SUPERVISOR_MODULE]:
            kwargs["env"] = {**kwargs["env"], ARGV_ENV: json.dumps(list(args))}
            args = [args[0], "-c", SLOW_EXEC]
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", slow_exec)
    # When a job is launched and read at once (as job.wait() and the panel do)
    job = launch("tests.fixtures.jobs:train", 1, nprocs=1)
    # Then it is alive, and it runs to success
    assert job.status in (JobStatus.queued, JobStatus.running), job.info.error
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded


def test_a_supervisor_killed_before_it_logs_leaves_the_reason(jobs_path):
    # Given a fresh job whose supervisor is killed -9 as soon as launch() returns
    job = launch("tests.fixtures.jobs:train", 1, nprocs=1)
    pid = job.info.supervisor_pid
    os.kill(pid, signal.SIGKILL)
    # Then, with no one reading the job (the store alone is watched), the process that
    # started the supervisor records how it died: in the job's error and its log
    store = job._manager.store
    wait_for(lambda: store.get(job.id).status.ended, 30, message="job ended in the store")
    info = store.get(job.id)
    assert info.status is JobStatus.failed
    assert f"supervisor (pid {pid}) was killed by SIGKILL" in info.error
    log = JobFolder(job.folder).supervisor_log.read_text()
    assert f"lepton: the job's supervisor (pid {pid}) was killed by SIGKILL" in log
    with pytest.raises(JobFailed, match="killed by SIGKILL"):
        job.wait(timeout=TIMEOUT)
    wait_for(lambda: not job_processes(job.folder), 30, message="job processes gone")


def test_a_supervisor_that_cannot_start_fails_the_job_saying_why(jobs_path, monkeypatch, tmp_path):
    # Given a kernel whose interpreter is gone (its virtual environment was rebuilt)
    gone = tmp_path / "old-venv" / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(gone))
    # When it launches a job
    job = launch("tests.fixtures.jobs:train", 1, nprocs=1)
    # Then the job is not left queued forever: it failed, saying why, in the panel's fields
    # and in its supervisor.log
    assert isinstance(job, Job) and job.status is JobStatus.failed
    assert "supervisor could not start" in job.info.error and str(gone) in job.info.error
    log = Path(job.folder, "supervisor.log").read_text()
    assert "could not start" in log and str(gone) in log
    with pytest.raises(JobFailed, match="could not start"):
        job.wait(timeout=10)
