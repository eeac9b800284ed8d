"""``/lepton/api/scheduler``: a job definition's checks and its series of runs (thin over
ScheduledRunService), and whether scheduled runs are enabled on this server."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..scheduler.schema import ChecksRequest
from ..scheduler.service import ScheduledRunService, scheduler_status
from .base import LeptonHandler

DEFINITION_ID = r"(?P<definition_id>[^/]+)"


class SchedulerHandler(LeptonHandler):
    auth_resource = "lepton"

    @property
    def service(self) -> ScheduledRunService:
        return ScheduledRunService.from_settings(self.lepton_settings)


class SchedulerStatusHandler(SchedulerHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        scheduler = self.settings.get("scheduler")  # jupyter-scheduler's, when it is loaded
        self.reply(scheduler_status(getattr(scheduler, "execution_manager_class", None)))


class ChecksHandler(SchedulerHandler):
    @web.authenticated
    @authorized
    def get(self, definition_id: str) -> None:
        self.reply(self.service.get_checks(definition_id))

    @web.authenticated
    @authorized
    def put(self, definition_id: str) -> None:
        body = self.parse(ChecksRequest)
        self.reply(self.service.set_checks(definition_id, body.checks))


class SeriesHandler(SchedulerHandler):
    @web.authenticated
    @authorized
    def get(self, definition_id: str) -> None:
        self.reply(self.service.series(definition_id))


routes = [
    (r"/scheduler/status", SchedulerStatusHandler),
    (rf"/scheduler/definitions/{DEFINITION_ID}/checks", ChecksHandler),
    (rf"/scheduler/definitions/{DEFINITION_ID}/series", SeriesHandler),
]
