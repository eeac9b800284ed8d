"""The Jupyter server keeps a warm job pool for its kernels (``c.LeptonApp.job_pool``), and
stops it when it stops."""

from __future__ import annotations

import os
import sys

import pytest

from lepton_jupyter import launch
from lepton_jupyter.jobs import pool
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.jobs import pool_serves
from tests.fixtures.processes import pid_alive, wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 180


@pytest.fixture
def jp_server_config(jp_server_config, pool_folder):
    lepton = {**jp_server_config["LeptonApp"], "job_pool": True}
    return {**jp_server_config, "LeptonApp": lepton}


@pytest.fixture
def server_pool(jp_serverapp, pool_folder):
    """The pid of the pool the server started, killed by PID if the server left it."""
    path = pool.socket_path(sys.executable)
    wait_for(lambda: pool_serves(path), TIMEOUT, message="the server's pool serving")
    pid = int(path.with_suffix(".lock").read_text())
    yield pid
    if pid_alive(pid):
        os.kill(pid, 9)


async def test_the_server_keeps_a_warm_pool_for_its_kernels(jp_serverapp, server_pool):
    # Given a server with the pool on: its pool runs, owned by the server's process
    assert (
        f"serving {pool.socket_path(sys.executable)} (owner {os.getpid()}"
        in (pool.pool_dir() / "pool.log").read_text()
    )
    # When a kernel of the server (its environment exported to this process) launches
    assert os.environ["LEPTON_JOB_POOL"] == "True"
    job = launch("tests.fixtures.jobs:train", 1, nprocs=1)
    # Then the job starts from the server's pool
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    log = (pool.pool_dir() / "pool.log").read_text()
    assert f"job {job.folder}: supervisor {job.info.supervisor_pid}" in log
    # and the pool ends with the server's extension
    await jp_serverapp.cleanup_extensions()
    wait_for(lambda: not pid_alive(server_pool), 30, message="the pool stopped")
