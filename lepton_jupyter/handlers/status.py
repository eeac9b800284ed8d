"""``GET /lepton/api/status``: the version, the user, and which services are configured."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from pydantic import BaseModel, Field
from tornado import web

from .._version import __version__
from ..errors import NotFound
from ..jobs.store import store_path
from ..registry.identity import principal_of
from ..settings import Settings
from . import API_PREFIX
from .base import LeptonHandler


class ServiceStatus(BaseModel):
    configured: bool
    detail: str


class Services(BaseModel):
    datasets: ServiceStatus
    jobs: ServiceStatus
    registry: ServiceStatus
    runs: ServiceStatus


class Status(BaseModel):
    version: str
    user: str
    services: Services
    protected_aliases: list[str] = Field(
        default_factory=list,
        description="Registry aliases only a maintainer may move (the sidebar explains why "
        "their buttons are disabled).",
    )
    data_registries: list[str] = Field(
        default_factory=list,
        description="Configured data registry URLs (the Datasets panel starts on the first).",
    )


def describe_services(settings: Settings) -> Services:
    """One line per subsystem, as the sidebar shows it."""
    registry = (
        f"service at {settings.registry_url}"
        if settings.registry_url
        else f"local store {settings.registry_db}"
    )
    registries = ", ".join(settings.data_registries) or "none configured"
    return Services(
        datasets=ServiceStatus(
            configured=True,
            detail=f"shared cache {settings.data_cache}; data registries: {registries}",
        ),
        jobs=ServiceStatus(
            configured=True,
            detail=f"job folders {settings.jobs_path}, store {store_path(settings.state_dir)}",
        ),
        registry=ServiceStatus(configured=True, detail=registry),
        runs=ServiceStatus(configured=True, detail=f"runs in {settings.state_dir / 'runs'}"),
    )


class StatusHandler(LeptonHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(
            Status(
                version=__version__,
                # Who lepton acts as (the OS user on a single-user server, the hub user on a
                # hub), not the random anonymous name a token-only client gets per page load.
                user=principal_of(self.current_user, self.identity_provider).user,
                services=describe_services(self.lepton_settings),
                protected_aliases=self.lepton_settings.protected_aliases,
                data_registries=self.lepton_settings.data_registries,
            )
        )


class UnknownRouteHandler(LeptonHandler):
    """Any other path under the API: a JSON 404 naming it, not jupyter_server's HTML page."""

    @web.authenticated
    @authorized
    def get(self, path: str) -> None:
        raise NotFound(f"No lepton API route {self.request.method} {API_PREFIX}/{path}.")

    post = put = patch = delete = get


routes = [(r"/status", StatusHandler)]
#: Matched after every subsystem's routes (see :func:`lepton_jupyter.handlers.api_routes`).
fallback_routes = [(r"/(?P<path>.*)", UnknownRouteHandler)]
