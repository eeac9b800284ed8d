"""``/lepton/api/jobs``: list, get, cancel, logs and metrics of jobs; and server activity.

While a job runs, :class:`JobActivity` keeps the server's ``last_activity`` fresh, so a
hub's idle culler does not stop a server whose kernel went quiet after a launch.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.ioloop import PeriodicCallback

from ..jobs.schema import (
    JobList,
    JobLogs,
    JobMetrics,
    ListQuery,
    LogsQuery,
    MetricsQuery,
    join_chunks,
)
from ..jobs.service import JobService
from .base import LeptonHandler

ACTIVITY_KEY = "lepton_jobs"


class JobsHandler(LeptonHandler):
    auth_resource = "lepton"

    @property
    def jobs(self) -> JobService:
        return self.settings["lepton_jobs"]


class JobListHandler(JobsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query(ListQuery)
        # The store and the process checks block: off the event loop, as every read here.
        jobs = await asyncio.to_thread(self.jobs.list, query.status, query.limit, query.offset)
        total = await asyncio.to_thread(self.jobs.count, query.status)
        self.reply(JobList(jobs=jobs, total=total))


class JobHandler(JobsHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.reply(await asyncio.to_thread(self.jobs.get, job_id))


class JobCancelHandler(JobsHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        # Cancelling waits for the ranks to stop: off the event loop.
        self.reply(await asyncio.to_thread(self.jobs.cancel, job_id))


class JobLogsHandler(JobsHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        query = self.query(LogsQuery)
        chunks = await asyncio.to_thread(
            self.jobs.log_chunks, job_id, query.rank, query.tail, query.since
        )
        self.reply(
            JobLogs(
                id=job_id,
                rank=query.rank,
                tail=query.tail,
                text=join_chunks(chunks, headers=query.rank is None),
                chunks=chunks,
            )
        )


class JobMetricsHandler(JobsHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        query = self.query(MetricsQuery)
        metrics, offset = await asyncio.to_thread(self.jobs.metrics_since, job_id, query.since)
        self.reply(JobMetrics(id=job_id, metrics=metrics, offset=offset))


class JobActivity:
    """Report activity to jupyter-server (``last_activity_times``) while any job runs."""

    def __init__(self, manager: JobService, web_settings: dict[str, Any]) -> None:
        self.manager = manager
        self.web_settings = web_settings
        interval = manager.settings.job_activity_interval
        self.callback = PeriodicCallback(self.tick, interval * 1000)

    def tick(self) -> None:
        # Reading the active jobs also notices supervisors that died: theirs stop counting.
        if self.manager.active():
            times = self.web_settings.setdefault("last_activity_times", {})
            times[ACTIVITY_KEY] = datetime.now(timezone.utc)

    def start(self) -> None:
        self.tick()
        self.callback.start()

    def stop(self) -> None:
        self.callback.stop()


_ID = r"(?P<job_id>[^/]+)"
routes = [
    (r"/jobs", JobListHandler),
    (rf"/jobs/{_ID}", JobHandler),
    (rf"/jobs/{_ID}/cancel", JobCancelHandler),
    (rf"/jobs/{_ID}/logs", JobLogsHandler),
    (rf"/jobs/{_ID}/metrics", JobMetricsHandler),
]
