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

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from tests.fixtures import parts
from tests.fixtures.datasets import DataRegistry
from tests.fixtures.runs import write_notebook

# A job is a spawned process, a papermill kernel and nbconvert: ~10-20 s on 2 cores.
pytestmark = pytest.mark.slow
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


def _job_file(job: dict, file_format: str) -> str | None:
    """Where the job's file of ``file_format`` was downloaded to, relative to the root."""
    return next((f["file_path"] for f in job["job_files"] if f["file_format"] == file_format), None)


def _run_id_of(job: dict) -> str:
    """The lepton run a job recorded, from the job's details."""
    message = job["status_message"] or ""
    assert message.startswith("lepton run ") or "(lepton run " in message, message
    return message.split("lepton run ", 1)[1].split()[0].rstrip(")")


async def test_a_job_created_over_rest_records_a_lepton_run(
    jp_fetch, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # jupyter-scheduler downloads job files to a root-relative path from the server's
    # working folder: the server runs in its root, as `jupyter lab` usually does.
    monkeypatch.chdir(jp_root_dir)
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
    # And the job's output notebook, downloaded into the workspace, names the run too
    await _call(jp_fetch, "scheduler", "jobs", created["job_id"], "download_files")
    deadline = time.monotonic() + JOB_TIMEOUT
    while not (output := _job_file(await _wait_for_job(jp_fetch, created["job_id"]), "ipynb")):
        assert time.monotonic() < deadline, "the job's files were not downloaded"
        await asyncio.sleep(0.5)
    executed = nbformat.read(jp_root_dir / output, as_version=4)
    assert executed.metadata["lepton"]["run_id"] == run["id"]
    # When the scheduled run is rerun like any run
    started = json.loads(
        (
            await jp_fetch(
                "lepton", "api", "runs", run["id"], "rerun", method="POST", body=json.dumps({})
            )
        ).body
    )
    deadline = time.monotonic() + JOB_TIMEOUT
    while (rerun := await _run(jp_fetch, started["id"]))["status"] == "running":
        assert time.monotonic() < deadline, "the rerun is still running"
        await asyncio.sleep(0.5)
    # Then it completes with the job's parameters, and reproduces the run
    assert rerun["status"] == "completed" and rerun["rerun_of"] == run["id"]
    assert rerun["parameters"] == {"lr": 0.25} and rerun["metrics"] == {"accuracy": 0.75}
    assert rerun["scheduled"] is None
    diff = await _call(jp_fetch, "lepton", "api", "runs", rerun["id"], "diff")
    assert diff["identical"], diff


async def _definition(jp_fetch, notebook: str, name: str, parameters: dict[str, str]) -> str:
    """A cron job definition (its schedule far off: the test triggers runs itself)."""
    created = await _call(
        jp_fetch,
        "scheduler",
        "job_definitions",
        method="POST",
        body={
            "input_uri": notebook,
            "runtime_environment_name": "python3",
            "name": name,
            "output_formats": ["ipynb"],
            "parameters": parameters,
            "schedule": "0 3 1 1 *",
            "timezone": "UTC",
        },
    )
    return created["job_definition_id"]


async def _trigger(jp_fetch, definition_id: str, **parameters: str) -> dict:
    """One run of the definition through jupyter-scheduler's API (``parameters`` override
    the definition's for this run), waited for."""
    created = await _call(
        jp_fetch,
        "scheduler",
        "job_definitions",
        definition_id,
        "jobs",
        method="POST",
        body={"parameters": parameters} if parameters else {},
    )
    return await _wait_for_job(jp_fetch, created["job_id"])


async def test_two_runs_of_a_definition_diff_the_moved_data_commit_and_the_metric(
    jp_fetch, jp_root_dir: Path, fresh_registry: DataRegistry
):
    # Given a job definition of a notebook that attaches datasets/points at 'main'
    write_notebook(jp_root_dir / "count.ipynb", [DATA_CELL], parameters='registry = ""')
    definition = await _definition(
        jp_fetch, "count.ipynb", "nightly-count", {"registry": repr(fresh_registry.url)}
    )
    first_commit = fresh_registry.commit_of("main")
    # When it runs, the registry's main moves to new data, and it runs again
    first = await _trigger(jp_fetch, definition)
    assert first["status"] == "COMPLETED", first
    moved_to = fresh_registry.add_dataset("datasets/points", 5, seed=7)
    second = await _trigger(jp_fetch, definition)
    assert second["status"] == "COMPLETED", second
    # Then the second run names the first as the run it is compared with
    first_run, second_run = _run_id_of(first), _run_id_of(second)
    run = await _run(jp_fetch, second_run)
    assert run["scheduled"]["job_definition_id"] == definition
    assert run["scheduled"]["previous_run"] == first_run
    # And their diff shows the data commit that moved and the metric's change
    diff = await _call(jp_fetch, "lepton", "api", "runs", second_run, "diff", against=first_run)
    (pin,) = [p for p in diff["pins"] if p["kind"] == "dataset"]
    assert pin["status"] == "changed"
    assert (pin["before"]["commit"], pin["after"]["commit"]) == (first_commit, moved_to)
    (files,) = [m for m in diff["metrics"] if m["name"] == "files"]
    assert (files["before"], files["after"], files["equal"]) == (2, 5, False)
    # And the definition's series has both runs, the second marked with what moved
    series = await _call(
        jp_fetch, "lepton", "api", "scheduler", "definitions", definition, "series"
    )
    assert series["job_name"] == "nightly-count" and series["metrics"] == ["files"]
    assert [p["run_id"] for p in series["points"]] == [first_run, second_run]
    assert series["points"][0]["changes"] == [] and series["points"][0]["previous_run"] is None
    assert series["points"][1]["deltas"] == {"files": 3.0}
    (change,) = series["points"][1]["changes"]
    assert change.startswith("dataset datasets/points@main: changed") and moved_to in change


async def test_a_failing_check_fails_the_run_and_the_job(jp_fetch, jp_root_dir: Path):
    # Given a definition whose runs must reach accuracy 0.9 and not fall behind the last one
    write_notebook(jp_root_dir / "train.ipynb", [METRIC_CELL], parameters="lr = 0.1")
    definition = await _definition(jp_fetch, "train.ipynb", "weekly-train", {"lr": "0.05"})
    checks = ["accuracy >= 0.9", "accuracy >= previous - 0.01"]
    stored = await _call(
        jp_fetch,
        "lepton",
        "api",
        "scheduler",
        "definitions",
        definition,
        "checks",
        method="PUT",
        body={"checks": checks},
    )
    assert stored == {"job_definition_id": definition, "checks": checks}
    # When a run passes (accuracy 0.95), then one runs with a worse lr (accuracy 0.8)
    passed = await _trigger(jp_fetch, definition)
    assert passed["status"] == "COMPLETED", passed
    failed = await _trigger(jp_fetch, definition, lr="0.2")
    # Then the job failed, and its details say which checks failed and with what values
    assert failed["status"] == "FAILED"
    message = failed["status_message"]
    assert message.startswith("Checks failed: accuracy >= 0.9 (accuracy = 0.8, needs >= 0.9)")
    assert "accuracy >= previous - 0.01 (accuracy = 0.8, needs >= 0.94" in message
    # And the lepton run is failed with the same words and each check's outcome
    run = await _run(jp_fetch, _run_id_of(failed))
    assert run["status"] == "failed" and run["error"] in message
    assert run["failure"]["ename"] == "CheckFailed"
    assert [c["passed"] for c in run["scheduled"]["checks"]] == [False, False]
    # And the next run is still compared with the last successful one, not the failed one
    series = await _call(
        jp_fetch, "lepton", "api", "scheduler", "definitions", definition, "series"
    )
    assert [p["status"] for p in series["points"]] == ["completed", "failed"]
    assert series["points"][1]["previous_run"] == _run_id_of(passed)


async def test_bad_checks_and_definition_ids_are_json_errors(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await _call(
            jp_fetch,
            "lepton",
            "api",
            "scheduler",
            "definitions",
            "d-1",
            "checks",
            method="PUT",
            body={"checks": ["accuracy >= 0.9", "accuracy is good"]},
        )
    assert info.value.code == 400
    assert (
        "Check 'accuracy is good' is not understood"
        in json.loads(info.value.response.body)["message"]
    )
    with pytest.raises(HTTPClientError) as info:
        await _call(jp_fetch, "lepton", "api", "scheduler", "definitions", "..", "series")
    assert info.value.code in (400, 404)
