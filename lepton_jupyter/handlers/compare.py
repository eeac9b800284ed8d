"""``/lepton/api/registry/comparisons`` and ``/lepton/api/compare``: thin over the registry's
comparisons and the compare service (which computes what the registry records).

The comparison routes live under the registry's prefix because comparisons are stored by
the registry (they are the evidence its promotion gates check): ``lepton registry serve``
mounts them too, and a server configured with a shared registry forwards them there.
``/compare/runs`` assembles a comparison from runs recorded on this server.
"""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..compare.schema import RunsRequest
from ..compare.service import CompareService
from ..errors import Invalid
from ..registry.schema import ComparisonRequest, ComparisonsQuery, GatesQuery
from .registry import RegistryHandler


class CompareHandler(RegistryHandler):
    auth_resource = "lepton"

    @property
    def compare(self) -> CompareService:
        return CompareService(self.registry)

    def created(self, comparison_id: int) -> str:
        return f"{self.base_url.rstrip('/')}/lepton/api/registry/comparisons/{comparison_id}"


class ComparisonsHandler(CompareHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        q = self.query(ComparisonsQuery)
        found = self.registry.comparisons(self.principal, ref=q.ref, name=q.name, limit=q.limit)
        self.reply(found)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        request = self.parse(ComparisonRequest)
        comparison = await asyncio.to_thread(self.compare.record, self.principal, request)
        self.reply(comparison, status=201, location=self.created(comparison.id))


class ComparisonHandler(CompareHandler):
    @web.authenticated
    @authorized
    def get(self, comparison_id: str) -> None:
        if not (comparison_id.isascii() and comparison_id.isdigit()) or len(comparison_id) > 12:
            raise Invalid(f"Invalid comparison id {comparison_id!r}: ids are numbers (1, 2, 3...).")
        self.reply(self.registry.comparison(self.principal, int(comparison_id)))


class GatesHandler(CompareHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(self.registry.gates(self.principal, self.query(GatesQuery).name))


class CompareRunsHandler(CompareHandler):
    """Assemble a comparison from evaluation runs recorded on this server, and record it."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from ..compare.api import compare_runs

        body = self.parse(RunsRequest)
        result = await asyncio.to_thread(
            compare_runs,
            body.runs,
            metric=body.metric,
            parameter=body.candidate_parameter,
            higher_is_better=body.higher_is_better,
            confidence=body.confidence,
            settings=self.lepton_settings,
        )
        self.reply(result.record, status=201, location=self.created(result.id))


registry_routes = [
    (r"/registry/comparisons", ComparisonsHandler),
    (r"/registry/comparisons/([^/]+)", ComparisonHandler),
    (r"/registry/gates", GatesHandler),
]

routes = [*registry_routes, (r"/compare/runs", CompareRunsHandler)]
