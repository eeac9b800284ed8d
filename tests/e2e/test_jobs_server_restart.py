"""A Jupyter server restart loses no job: the store and the job folders are on disk, and a
new server on the same state folder reports the job running, then finished."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import pytest

from lepton_jupyter import launch
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.processes import free_port, stop_process, wait_for

pytestmark = pytest.mark.slow


class Server:
    """A real ``jupyter server`` process with lepton enabled on the given state folder."""

    def __init__(self, state: Path, root: Path, started: list[subprocess.Popen]) -> None:
        self.log = root / f"server-{len(started)}.log"
        self.port = free_port()
        self.token = secrets.token_hex(8)
        with self.log.open("wb") as log:
            self.proc = self._start(state, root, log)
        started.append(self.proc)
        wait_for(self.up, 90, interval=0.3, message="jupyter server up")

    def _start(self, state: Path, root: Path, log: IO[bytes]) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--allow-root",
                f"--port={self.port}",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.jpserver_extensions={'lepton_jupyter': True}",
                f"--LeptonApp.state_dir={state}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def get(self, path: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/lepton/api/{path}",
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"jupyter server exited:\n{self.log.read_text()[-3000:]}")
        try:
            self.get("status")
        except (urllib.error.URLError, ConnectionError):
            return False
        return True


def test_a_restarted_server_still_sees_a_running_job(
    jobs_path, lepton_state, tmp_path, started_processes
):
    # Given a running job (held until the test opens its gate) and a server that shows it
    gate = tmp_path / "gate"
    job = launch("tests.fixtures.jobs:gated_train", str(gate), 80, nprocs=2)
    first = Server(lepton_state, tmp_path, started_processes)
    wait_for(lambda: first.get(f"jobs/{job.id}")["status"] == "running", 120, message="job running")
    # When that server stops and another starts on the same state folder
    stop_process(first.proc)
    assert job.status is JobStatus.running
    second = Server(lepton_state, tmp_path, started_processes)
    # Then the new server lists the job, follows it to the end, and has its output
    assert [j["id"] for j in second.get("jobs")["jobs"]] == [job.id]
    assert second.get(f"jobs/{job.id}")["status"] == "running"
    gate.touch()
    wait_for(
        lambda: second.get(f"jobs/{job.id}")["status"] == "succeeded",
        180,
        interval=0.5,
        message="job succeeded",
    )
    assert second.get(f"jobs/{job.id}/logs?rank=1&tail=1")["text"] == "rank 1 step 79\n"
    assert len(second.get(f"jobs/{job.id}/metrics")["metrics"]) == 160
