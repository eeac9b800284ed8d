"""``/lepton/api/jobs``: list, get, logs, metrics and cancel of a real job; activity for
the idle culler while it runs; JSON errors for bad requests."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from tornado.httpclient import HTTPClientError

from lepton_jupyter import launch
from lepton_jupyter.handlers import jobs as jobs_handlers
from lepton_jupyter.jobs.folder import JobFolder, append_line, job_processes
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.processes import wait_for

TIMEOUT = 180


@pytest.fixture
def jp_server_config(jp_server_config):
    # Check for running jobs every 0.2 s instead of every 30 s.
    jp_server_config.setdefault("LeptonApp", {})["job_activity_interval"] = 0.2
    return jp_server_config


async def get_json(jp_fetch, *parts: str, **params: str) -> dict:
    response = await jp_fetch("lepton", "api", *parts, params=params)
    assert response.code == 200
    return json.loads(response.body)


async def error_of(jp_fetch, *parts: str, method: str = "GET", **params: str) -> tuple[int, str]:
    body = "" if method == "POST" else None
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("lepton", "api", *parts, method=method, body=body, params=params)
    return info.value.code, json.loads(info.value.response.body)["message"]


async def until(condition, message: str, timeout: float = TIMEOUT):
    """Poll ``condition`` on the server's own event loop (the server runs in this test's)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        await asyncio.sleep(0.1)
    return value


@pytest.mark.slow
async def test_rest_follows_and_cancels_a_running_job(jp_fetch, jp_web_app, jobs_path):
    """The activity check reads lepton's own key in jupyter_server's ``last_activity_times``:
    the server's ``last_activity`` also moves with this test's own API calls, so a check of
    it passed with ``JobActivity.tick`` emptied. Mutation checks: ``tick`` doing nothing
    -> red (the key never appears); ``tick`` marking activity with no job running -> red
    (the key is there before the launch)."""
    times = jp_web_app.settings.setdefault("last_activity_times", {})
    # Given a server with no job: it reports no activity of lepton's
    assert jobs_handlers.ACTIVITY_KEY not in times
    # And a running job that has reported
    before = datetime.now(timezone.utc)
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.05, nprocs=2)
    wait_for(lambda: len(job.metrics()) >= 2, TIMEOUT, message="first reports")

    # When a client lists jobs and reads this one, Then it sees it running
    listed = await get_json(jp_fetch, "jobs")
    assert [j["id"] for j in listed["jobs"]] == [job.id]
    assert (await get_json(jp_fetch, "jobs", status="running"))["jobs"][0]["id"] == job.id
    got = await get_json(jp_fetch, "jobs", job.id)
    assert got["status"] == "running" and got["nprocs"] == 2
    # and its per-rank log tail and metrics
    logs = await get_json(jp_fetch, "jobs", job.id, "logs", rank="1", tail="1")
    assert logs["text"].startswith("rank 1 step ")
    metrics = (await get_json(jp_fetch, "jobs", job.id, "metrics"))["metrics"]
    assert {"rank", "step", "time", "loss"} <= set(metrics[0])

    # and while it runs, lepton marks the server active again and again (for an idle culler)
    first = await until(lambda: times.get(jobs_handlers.ACTIVITY_KEY), "lepton's activity")
    assert first >= before
    await until(lambda: times[jobs_handlers.ACTIVITY_KEY] > first, "a later activity mark")
    # which jupyter_server reports as the server's last activity
    status = json.loads((await jp_fetch("api", "status")).body)
    assert datetime.fromisoformat(status["last_activity"]) >= times[jobs_handlers.ACTIVITY_KEY]

    # When the client cancels it
    response = await jp_fetch("lepton", "api", "jobs", job.id, "cancel", method="POST", body="")
    # Then it is cancelled with no process left, and a second cancel is a conflict
    assert json.loads(response.body)["status"] == "cancelled"
    assert job_processes(job.folder) == []
    code, message = await error_of(jp_fetch, "jobs", job.id, "cancel", method="POST")
    assert (code, message) == (409, f"Job {job.id} already cancelled; nothing to cancel.")


@pytest.fixture
def stored_job(store_job) -> str:
    return store_job(id="train-3fa9c1", nprocs=2).id


@pytest.mark.parametrize(
    ("parts", "params", "expected"),
    [
        (
            ("jobs", "train-3fa9c2"),
            {},
            (404, "No job 'train-3fa9c2'. Did you mean 'train-3fa9c1'?"),
        ),
        (("jobs", "nope", "logs"), {}, (404, "No job 'nope'.")),
        (("jobs", "nope", "metrics"), {}, (404, "No job 'nope'.")),
        (
            ("jobs", "train-3fa9c1", "logs"),
            {"rank": "2"},
            (400, "Job train-3fa9c1 has ranks 0..1; there is no rank 2."),
        ),
        (
            ("jobs", "train-3fa9c1", "logs"),
            {"tail": "many"},
            (
                400,
                "Invalid request: tail: Input should be a valid integer, unable to parse "
                "string as an integer",
            ),
        ),
        (
            ("jobs", "train-3fa9c1", "logs"),
            {"rank": "-1"},
            (400, "Invalid request: rank: Input should be greater than or equal to 0"),
        ),
        (("jobs",), {"status": "done"}, (400, "Invalid request: status: Input should be")),
        (("jobs",), {"limit": "0"}, (400, "Invalid request: limit: Input should be greater")),
        (("jobs",), {"limit": "5000"}, (400, "Invalid request: limit: Input should be less")),
        (("jobs",), {"offset": "-1"}, (400, "Invalid request: offset: Input should be greater")),
    ],
)
async def test_rest_errors_are_json_with_a_clear_message(
    jp_fetch, stored_job, parts, params, expected
):
    code, message = await error_of(jp_fetch, *parts, **params)
    assert code == expected[0]
    assert message.startswith(expected[1])


async def test_rest_lists_jobs_a_page_at_a_time(jp_fetch, store_job, job_manager):
    # Given 120 past jobs (created a minute apart) and an older one still queued
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(120):
        spec = store_job(id=f"train-{i:03d}", created_at=start + timedelta(minutes=i))
        job_manager.store.finish(spec.id, JobStatus.succeeded)
    store_job(id="train-old-running", created_at=start - timedelta(days=1))
    # When the panel asks for a page, Then it gets the newest, and how many there are
    page = await get_json(jp_fetch, "jobs", limit="50")
    assert [j["id"] for j in page["jobs"]] == [f"train-{i:03d}" for i in range(119, 69, -1)]
    assert page["total"] == 121
    nxt = await get_json(jp_fetch, "jobs", limit="50", offset="100")
    assert [j["id"] for j in nxt["jobs"]] == [
        *(f"train-{i:03d}" for i in range(19, -1, -1)),
        "train-old-running",
    ]
    # and the active ones by their own query, however old
    running = await get_json(jp_fetch, "jobs", status="queued", limit="50")
    assert [j["id"] for j in running["jobs"]] == ["train-old-running"]
    assert running["total"] == 1
    # and everything without a limit (the CLI, jobs())
    assert len((await get_json(jp_fetch, "jobs"))["jobs"]) == 121


async def test_a_page_offset_past_what_the_store_holds_is_a_400(jp_fetch, stored_job):
    # Found by tests/e2e/test_fuzz.py: SQLite's OFFSET is a 64-bit integer (it was a 500)
    code, message = await error_of(jp_fetch, "jobs", offset=str(2**70))
    assert code == 400 and "offset: Input should be less than or equal to" in message
    # Huge byte offsets and tails are just past the end of a log: nothing new, no error
    assert (await get_json(jp_fetch, "jobs", stored_job, "metrics", since=str(2**70)))[
        "metrics"
    ] == []


async def test_rest_cancel_of_an_unknown_job_is_404(jp_fetch, stored_job):
    assert await error_of(jp_fetch, "jobs", "trian-3fa9c1", "cancel", method="POST") == (
        404,
        "No job 'trian-3fa9c1'. Did you mean 'train-3fa9c1'?",
    )


async def test_rest_serves_logs_and_metrics_incrementally(jp_fetch, stored_job, job_manager):
    # Given a 2-rank job with some output and metrics
    folder = JobFolder(job_manager.jobs_path / stored_job)
    folder.create()
    folder.rank_log(0).write_text("rank 0 step 0\n")
    append_line(folder.metrics, {"rank": 0, "step": 0, "time": 0.0, "loss": 1.0})
    # When a client reads the tails and all metrics, Then each answer carries its offsets
    logs = await get_json(jp_fetch, "jobs", stored_job, "logs", tail="40")
    assert logs["chunks"] == [
        {"rank": 0, "text": "rank 0 step 0\n", "offset": 14},
        {"rank": 1, "text": "", "offset": 0},
    ]
    assert logs["text"] == "==> rank 0 <==\nrank 0 step 0\n==> rank 1 <==\n"
    first = await get_json(jp_fetch, "jobs", stored_job, "metrics")
    assert [m["step"] for m in first["metrics"]] == [0]
    # When the ranks write more and the client asks from those offsets
    with folder.rank_log(1).open("a") as f:
        f.write("rank 1 step 1\n")
    append_line(folder.metrics, {"rank": 0, "step": 1, "time": 1.0, "loss": 0.5})
    since = ",".join(str(c["offset"]) for c in logs["chunks"])
    more = await get_json(jp_fetch, "jobs", stored_job, "logs", since=since)
    metrics = await get_json(jp_fetch, "jobs", stored_job, "metrics", since=str(first["offset"]))
    # Then only what is new comes back
    assert [(c["text"], c["offset"]) for c in more["chunks"]] == [("", 14), ("rank 1 step 1\n", 14)]
    assert [m["step"] for m in metrics["metrics"]] == [1]
    assert metrics["offset"] == folder.metrics.stat().st_size
    # and a bad offset list is a 400 naming it
    code, message = await error_of(jp_fetch, "jobs", stored_job, "logs", since="0,x")
    assert code == 400 and message.startswith("Invalid request: since")
    code, message = await error_of(jp_fetch, "jobs", stored_job, "logs", since="0")
    assert (code, message) == (
        400,
        "since takes one byte offset (0 or more) per rank asked for (2), got [0].",
    )
