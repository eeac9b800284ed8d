"""REST handlers under ``/lepton/api``: one module per subsystem, each exporting ``routes``."""

from __future__ import annotations

from tornado.web import RequestHandler

from . import datasets, jobs, registry, runs, status

API_PREFIX = "/lepton/api"


def api_routes() -> list[tuple[str, type[RequestHandler]]]:
    """Every route of the extension, relative to the server's base URL."""
    modules = [status, datasets, jobs, runs, registry]
    return [(API_PREFIX + path, handler) for m in modules for path, handler in m.routes]
