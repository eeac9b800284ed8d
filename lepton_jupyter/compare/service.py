"""The compare service: compute a comparison's statistics, record it in the registry. No tornado.

The registry stores comparisons as the evidence its promotion gates check, and only ever
stores statistics computed here, from the per-example results a caller sends (the same
seeded functions as the caller's): in this process over a registry service in it, or by a
registry server when the registry is remote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry.identity import Principal
from ..registry.schema import Comparison, ComparisonRequest
from ..registry.service import RegistryService
from ..registry.tables import utcnow
from .comparable import check_request
from .stats import compare_all, verdict

if TYPE_CHECKING:
    from ..registry.client import RegistryClient
    from ..registry.remote import Rest


def evaluate(request: ComparisonRequest, *, created_by: str) -> Comparison:
    """The comparison's statistics, ranking and verdict, computed from the request alone."""
    if any(c.examples for c in request.candidates):
        pairs, ranking, winner = compare_all(
            {c.label: c.examples for c in request.candidates},
            confidence=request.confidence,
            resamples=request.resamples,
            seed=request.seed,
            higher_is_better=request.higher_is_better,
        )
        line = verdict(winner, pairs)
    else:
        pairs, ranking, winner = [], [], None
        line = (
            f"no per-example results of {request.metric!r}, so no interval: log them with "
            f"log_metric({request.metric!r}, per_example_values) in the evaluation"
        )
    return Comparison(
        **request.model_dump(),
        id=0,
        pairs=pairs,
        ranking=ranking,
        winner=winner,
        verdict=line,
        created_by=created_by,
        created_at=utcnow(),
    )


class CompareService:
    """Records comparisons in a registry service of this process."""

    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry

    def record(self, principal: Principal, request: ComparisonRequest) -> Comparison:
        """Check, compute and store a comparison; readers of every candidate may record."""
        check_request(request)
        comparison = evaluate(request, created_by=principal.user)
        return self.registry.record_comparison(principal, comparison)


class RemoteCompare:
    """Records comparisons with a registry server, which computes their statistics."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest

    def record(self, principal: Principal, request: ComparisonRequest) -> Comparison:
        data = self.rest.call("POST", "/comparisons", json=request.model_dump(mode="json"))
        return Comparison.model_validate(data)


def recorder(client: RegistryClient) -> CompareService | RemoteCompare:
    """Where ``client``'s comparisons are recorded: its own registry service, or its server."""
    if isinstance(client.service, RegistryService):
        return CompareService(client.service)
    return RemoteCompare(client.service.rest)
