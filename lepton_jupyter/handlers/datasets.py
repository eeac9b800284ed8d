"""REST for datasets: browse a data registry; attach, list, update and detach in the
Jupyter server's root folder (the workspace the file browser shows)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..datasets.progress import ATTACHES
from ..datasets.schema import AttachRequest, BrowseQuery, UpdateRequest
from ..datasets.service import DatasetService, default_destination
from .base import LeptonHandler


class DatasetsHandler(LeptonHandler):
    """Base: the service for the server's root folder, run off the event loop."""

    auth_resource = "lepton"

    @property
    def service(self) -> DatasetService:
        root = self.settings.get("server_root_dir") or "."
        return DatasetService(Path(root).expanduser(), self.lepton_settings)


class BrowseHandler(DatasetsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        q = self.query(BrowseQuery)
        self.reply(await asyncio.to_thread(self.service.browse, q.url, q.rev))


class AttachedHandler(DatasetsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await asyncio.to_thread(self.service.attached))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        req = self.parse(AttachRequest)
        with ATTACHES.tracking(req.to or default_destination(req.path)) as progress:
            result = await asyncio.to_thread(
                self.service.attach, req.url, req.path, req.rev, req.to, progress
            )
        location = self.base_url.rstrip("/") + "/lepton/api/datasets/" + quote(result.to)
        self.reply(result, status=201, location=location)


class ProgressHandler(DatasetsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(ATTACHES.snapshot())


class UpdateHandler(DatasetsHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        req = self.parse(UpdateRequest)
        self.reply(await asyncio.to_thread(self.service.update, req.to, req.rev))


class AttachedItemHandler(DatasetsHandler):
    @web.authenticated
    @authorized
    async def get(self, to: str) -> None:
        self.reply(await asyncio.to_thread(self.service.describe, to))

    @web.authenticated
    @authorized
    async def delete(self, to: str) -> None:
        self.reply(await asyncio.to_thread(self.service.detach, to))


routes = [
    (r"/datasets", AttachedHandler),
    (r"/datasets/browse", BrowseHandler),
    (r"/datasets/update", UpdateHandler),
    (r"/datasets/progress", ProgressHandler),
    (r"/datasets/(?P<to>.+)", AttachedItemHandler),
]
