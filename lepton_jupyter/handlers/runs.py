"""``/lepton/api/runs``: list, show, diff and rerun recorded runs (thin over RunService)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..runs.schema import DiffQuery, ListQuery, RerunRequest
from ..runs.service import RunService
from .base import LeptonHandler

RUN_ID = r"(?P<run_id>[^/]+)"


class RunsHandler(LeptonHandler):
    auth_resource = "lepton"

    @property
    def service(self) -> RunService:
        return RunService.from_settings(self.lepton_settings)


class RunListHandler(RunsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        q = self.query(ListQuery)
        self.reply(self.service.list(notebook=q.notebook, limit=q.limit))


class RunHandler(RunsHandler):
    @web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        self.reply(self.service.get(run_id))


class RunDiffHandler(RunsHandler):
    @web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        q = self.query(DiffQuery)
        self.reply(self.service.diff(run_id, q.against, abs_tol=q.abs_tol, rel_tol=q.rel_tol))


class RunOutputHandler(RunsHandler):
    """The output notebook as a page: the Runs panel opens it read-only in a tab."""

    @web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        self.reply_page(self.service.output_html(run_id))


class RerunHandler(RunsHandler):
    @web.authenticated
    @authorized
    def post(self, run_id: str) -> None:
        body = self.parse(RerunRequest)
        started = self.service.start_rerun(
            run_id, body.parameters, from_copy=body.from_copy, apply=body.apply
        )
        location = self.base_url.rstrip("/") + f"/lepton/api/runs/{started.id}"
        self.reply(started, status=201, location=location)


routes = [
    (r"/runs", RunListHandler),
    (rf"/runs/{RUN_ID}", RunHandler),
    (rf"/runs/{RUN_ID}/diff", RunDiffHandler),
    (rf"/runs/{RUN_ID}/rerun", RerunHandler),
    (rf"/runs/{RUN_ID}/output", RunOutputHandler),
]
