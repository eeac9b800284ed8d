"""``/lepton/api/runs``: list, show, diff and rerun over REST, with JSON 4xx errors.

The server's state folder holds a copy of the shared papermill run (``own_copy_of_run``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from tests.fixtures.processes import pid_alive, wait_for
from tests.fixtures.runs import RecordedRun


@pytest.fixture
def jp_server_config(own_copy_of_run: RecordedRun) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"lepton_jupyter": True}},
        "LeptonApp": {"state_dir": str(own_copy_of_run.state)},
    }


async def _get(jp_fetch, *path: str, **params) -> dict | list:
    response = await jp_fetch("lepton", "api", "runs", *path, params=params or None)
    assert response.code == 200
    return json.loads(response.body)


async def _error(
    jp_fetch, *path: str, method: str = "GET", body: dict | None = None, **params
) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "lepton",
            "api",
            "runs",
            *path,
            method=method,
            params=params or None,
            body=None if body is None else json.dumps(body),
        )
    payload = json.loads(info.value.response.body)
    return info.value.code, payload["message"]


async def test_list_show_and_diff_a_recorded_run(jp_fetch, own_copy_of_run: RecordedRun):
    run_id = own_copy_of_run.manifest.id
    # When a client lists runs, Then it sees the recorded run with its metrics
    (listed,) = await _get(jp_fetch)
    assert listed["id"] == run_id and listed["metrics"] == own_copy_of_run.manifest.metrics
    assert await _get(jp_fetch, notebook=str(own_copy_of_run.notebook)) == [listed]
    assert await _get(jp_fetch, notebook="/elsewhere.ipynb") == []
    # When it asks for one run, Then it gets the whole manifest
    shown = await _get(jp_fetch, run_id)
    assert shown["injected"] == {"lr": 0.05} and shown["git"]["commit"] == own_copy_of_run.head
    assert shown["parameters"] == {"lr": 0.05, "steps": 40, "seed": 0, "fail": False}
    # When it diffs the run with itself, Then everything is identical
    result = await _get(jp_fetch, run_id, "diff", against=run_id, abs_tol="0.001")
    assert (result["before"], result["after"], result["abs_tol"]) == (run_id, run_id, 0.001)
    assert result["parameters"] == [] and result["cells"] == []


async def test_the_output_notebook_is_a_static_page_for_a_read_only_tab(
    jp_fetch, own_copy_of_run: RecordedRun
):
    run_id = own_copy_of_run.manifest.id
    # When the Runs panel asks for a run's output (kept in the run folder, outside any root)
    response = await jp_fetch("lepton", "api", "runs", run_id, "output")
    # Then it gets the executed notebook as HTML, its outputs shown, no script allowed to run
    assert response.headers["Content-Type"].startswith("text/html")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    page = response.body.decode()
    assert "<html" in page and "jp-OutputArea" in page
    # And a run with no output notebook is a JSON 404 naming it
    (own_copy_of_run.state / "runs" / run_id / "output.ipynb").unlink()
    assert await _error(jp_fetch, run_id, "output") == (
        404,
        f"Run {run_id} wrote no output notebook.",
    )


async def test_bad_requests_are_json_errors_naming_the_problem(
    jp_fetch, own_copy_of_run: RecordedRun
):
    run_id = own_copy_of_run.manifest.id
    typo = run_id[:-1] + ("0" if run_id[-1] != "0" else "1")
    assert await _error(jp_fetch, typo) == (
        404,
        f"No run '{typo}' in {own_copy_of_run.state / 'runs'}. Did you mean '{run_id}'?",
    )
    code, message = await _error(jp_fetch, "not-a-run")
    assert code == 400 and "'not-a-run' is not a run id" in message
    code, message = await _error(jp_fetch, run_id, "diff")
    assert code == 400 and "is not a rerun" in message
    code, message = await _error(jp_fetch, run_id, "diff", abs_tol="-1")
    assert code == 400 and "abs_tol" in message
    code, message = await _error(jp_fetch, limit="0")
    assert code == 400 and "limit" in message
    code, message = await _error(
        jp_fetch, run_id, "rerun", method="POST", body={"parameters": {"lrr": 1}}
    )
    assert code == 400 and "Parameter 'lrr' is not declared" in message
    code, message = await _error(jp_fetch, run_id, "rerun", method="POST", body={"parameters": [1]})
    assert code == 400 and "parameters" in message
    # A notebook edited since the run: 409 naming the cell; deleted: 404 offering the copy
    nb = nbformat.read(own_copy_of_run.notebook, as_version=4)
    nb.cells[1].source = "print('edited')"
    nbformat.write(nb, own_copy_of_run.notebook)
    code, message = await _error(jp_fetch, run_id, "rerun", method="POST", body={})
    assert code == 409 and "changed since run" in message and "cell 2 changed" in message
    own_copy_of_run.notebook.unlink()
    code, message = await _error(jp_fetch, run_id, "rerun", method="POST", body={})
    assert code == 404 and "is gone" in message and "from_copy" in message


@pytest.mark.slow
async def test_rerun_over_rest_runs_in_the_background_and_reproduces_the_run(
    jp_fetch, own_copy_of_run: RecordedRun
):
    original = own_copy_of_run.manifest
    # When a client asks for a rerun
    response = await jp_fetch(
        "lepton", "api", "runs", original.id, "rerun", method="POST", body=json.dumps({})
    )
    # Then it is created at once, running, at the Location given
    assert response.code == 201
    started = json.loads(response.body)
    assert started["status"] == "running" and started["rerun_of"] == original.id
    assert started["rerun_mode"] == "dry-run"  # a rerun changes nothing shared unless asked
    assert response.headers["Location"].endswith(f"/lepton/api/runs/{started['id']}")
    try:
        # And once the background process has finished (it runs outside the server, so
        # polling the store blocks nothing it needs)
        wait_for(
            lambda: own_copy_of_run.store.get(started["id"]).status != "running",
            timeout=300,
            interval=0.5,
            message="the background rerun to finish",
        )
        # Then the run shows the original's metrics and its diff against the original
        run = await _get(jp_fetch, started["id"])
        assert run["status"] == "completed", run["error"]
        assert run["metrics"] == original.metrics
        result = await _get(jp_fetch, started["id"], "diff")
        assert result["before"] == original.id and result["metrics"][0]["equal"]
        assert (run["rerun_mode"], result["mode"], result["identical"]) == (
            "dry-run",
            "dry-run",
            True,
        )
    finally:
        if pid_alive(started["pid"]):
            os.killpg(started["pid"], signal.SIGTERM)
            wait_for(lambda: not pid_alive(started["pid"]), timeout=30, message="rerun exit")


async def test_a_run_whose_process_was_killed_is_listed_crashed(
    jp_fetch, own_copy_of_run: RecordedRun
):
    # Given a run recorded 'running' by a process that is gone (as after kill -9)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = own_copy_of_run.store
    manifest = own_copy_of_run.manifest.model_copy(
        update={"id": store.create(), "status": "running", "pid": gone.pid, "ended_at": None}
    )
    store.save(manifest)
    # When the Runs panel lists runs, Then it is crashed, with the reason
    (listed,) = [r for r in await _get(jp_fetch) if r["id"] == manifest.id]
    assert listed["status"] == "crashed"
    assert f"pid {gone.pid}" in listed["error"]
    assert (await _get(jp_fetch, manifest.id))["status"] == "crashed"
