"""Scheduled runs: jupyter-scheduler's REST API inside a real Jupyter server, its jobs
executed by ``LeptonExecutionManager`` (papermill, lepton engine, a real kernel) and
recorded as lepton runs.

Each job runs in a process jupyter-scheduler spawns from the server; the tests wait for the
job to end through the scheduler's own API, as its "Notebook Jobs" panel does.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.fixtures import parts
from tests.fixtures.runs import write_notebook

JOB_TIMEOUT = 240

METRIC_CELL = """\
import lepton_jupyter
lepton_jupyter.log_metric("accuracy", 1 - lr)
print("accuracy", 1 - lr)"""

# Counts the files of the dataset it attaches at the registry's moving 'main'.
DATA_CELL = """\
from pathlib import Path
import lepton_jupyter
attached = lepton_jupyter.attach(registry, "datasets/points", rev="main", to="points")
files = sum(1 for p in Path("points").rglob("*") if p.is_file())
lepton_jupyter.log_metric("files", files)
print("files", files)"""


@pytest.fixture
def jp_server_config(lepton_state: Path, tmp_path: Path) -> dict:
    parts.require("scheduler")
    return {
        "ServerApp": {"jpserver_extensions": {"lepton_jupyter": True, "jupyter_scheduler": True}},
        "LeptonApp": {"state_dir": str(lepton_state)},
        "SchedulerApp": {"db_url": f"sqlite:///{tmp_path / 'scheduler.sqlite'}"},
        "Scheduler": {
            "execution_manager_class": "lepton_jupyter.scheduler.LeptonExecutionManager",
            "staging_path": str(tmp_path / "staging"),
        },
    }


async def _call(jp_fetch, *path: str, method: str = "GET", body: dict | None = None, **params):
    response = await jp_fetch(
        *path,
        method=method,
        params=params or None,
        body=None if body is None else json.dumps(body),
    )
    return json.loads(response.body) if response.body else None


async def _wait_for_job(jp_fetch, job_id: str) -> dict:
    """The job once jupyter-scheduler says it ended (polled as its jobs panel polls).

    A job is STOPPED from its creation until its process starts it (the scheduler's table
    default), so STOPPED counts as ended only once the job has a start time.
    """
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        job = await _call(jp_fetch, "scheduler", "jobs", job_id)
        if job["status"] in ("COMPLETED", "FAILED") or (
            job["status"] == "STOPPED" and job.get("start_time")
        ):
            return job
        assert time.monotonic() < deadline, f"scheduler job {job_id} still {job['status']}"
        await asyncio.sleep(0.5)


async def _run(jp_fetch, run_id: str) -> dict:
    return await _call(jp_fetch, "lepton", "api", "runs", run_id)


def _run_id_of(job: dict) -> str:
    """The lepton run a job recorded, from the job's details."""
    message = job["status_message"] or ""
    assert message.startswith("lepton run ") or "(lepton run " in message, message
    return message.split("lepton run ", 1)[1].split()[0].rstrip(")")


async def test_a_job_created_over_rest_records_a_lepton_run(jp_fetch, jp_root_dir: Path):
    # Given a notebook with a parameters cell in the server's root
    write_notebook(jp_root_dir / "train.ipynb", [METRIC_CELL], parameters="lr = 0.1")
    # When a job is created through jupyter-scheduler's REST API with a parameter
    created = await _call(
        jp_fetch,
        "scheduler",
        "jobs",
        method="POST",
        body={
            "input_uri": "train.ipynb",
            "runtime_environment_name": "python3",
            "name": "nightly-train",
            "output_formats": ["ipynb"],
            "parameters": {"lr": "0.25"},
        },
    )
    job = await _wait_for_job(jp_fetch, created["job_id"])
    # Then the job completed, and its details name the lepton run it recorded
    assert job["status"] == "COMPLETED", job
    run = await _run(jp_fetch, _run_id_of(job))
    # And the run's manifest has the job's parameter (typed), its metric and the job's id
    assert run["status"] == "completed" and run["engine"] == "lepton"
    assert run["parameters"] == {"lr": 0.25} and run["injected"] == {"lr": 0.25}
    assert run["metrics"] == {"accuracy": 0.75}
    assert run["scheduled"]["job_id"] == created["job_id"]
    assert run["scheduled"]["job_name"] == "nightly-train"
    assert run["scheduled"]["job_definition_id"] is None
    # And it is listed with every other run
    listed = await _call(jp_fetch, "lepton", "api", "runs")
    assert [r["id"] for r in listed] == [run["id"]]
