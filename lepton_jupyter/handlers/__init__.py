"""REST handlers under ``/lepton/api``: one module per subsystem, each exporting ``routes``."""

from __future__ import annotations

from tornado.web import RequestHandler

API_PREFIX = "/lepton/api"


def api_routes() -> list[tuple[str, type[RequestHandler]]]:
    """Every route of the extension, relative to the server's base URL."""
    # Imported here, not above: the registry's hub service imports only its own handlers
    # and must answer the hub within seconds of starting.
    from . import compare, datasets, jobs, openapi, registry, runs, scheduler, status

    modules = [status, openapi, datasets, jobs, runs, scheduler, registry, compare]
    routes = [path_handler for m in modules for path_handler in m.routes]
    return [(API_PREFIX + path, handler) for path, handler in routes + status.fallback_routes]
