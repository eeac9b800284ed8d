"""The compare service: record comparisons in the registry, read them back. No tornado.

The registry recomputes every comparison's statistics from the per-example results it is
given (the same seeded functions as the caller), checks that each candidate names a
version the caller can read with the digest the evaluation loaded, and stores the result
beside the versions, where promotion gates look for it.
"""

from __future__ import annotations

from ..errors import Invalid, LeptonError, NotFound
from ..registry.identity import Principal
from ..registry.service import RegistryService, parse_name, parse_ref
from ..registry.store import SqlTransaction, VersionRow
from ..registry.tables import utcnow
from . import store
from .comparable import check_request
from .gates import describe, gate_for, judge
from .schema import Comparison, ComparisonRequest, GateReport
from .stats import compare_all, verdict


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
    """Comparisons over one registry service (its store, its permissions).

    Comparisons are kept in the registry's SQL database, beside the versions they compare,
    so this service needs the registry's SQL store (:class:`SqlTransaction` sessions).
    """

    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry

    def _version(self, tx: SqlTransaction, principal: Principal, label: str) -> VersionRow:
        """The version ``label`` names, if the caller may read it (the registry's rules)."""
        _, version = self.registry._resolve(tx, principal, parse_ref(label, principal))
        return version

    def record(self, principal: Principal, request: ComparisonRequest) -> Comparison:
        """Check, compute and store a comparison; readers of every candidate may record."""
        check_request(request)
        comparison = evaluate(request, created_by=principal.user)

        def write(tx: SqlTransaction) -> Comparison:
            ids = []
            for candidate in request.candidates:
                version = self._version(tx, principal, candidate.label)
                if version.digest != candidate.digest:
                    raise Invalid(
                        f"Candidate {candidate.label} was evaluated with content "
                        f"{candidate.digest}, but the registry's {candidate.label} is "
                        f"{version.digest}."
                    )
                ids.append(version.id)
            return store.insert(tx.session, comparison, ids)

        return self.registry.store.writing(write)

    def get(self, principal: Principal, comparison_id: int) -> Comparison:
        """Comparison ``comparison_id``, if the caller can read every candidate."""
        with self.registry.store.reading() as tx:
            found = tx.comparison(comparison_id)
            if found is None:
                raise NotFound(f"There is no comparison {comparison_id}.")
            for candidate in found.candidates:
                self._version(tx, principal, candidate.label)
            return found

    def list(
        self,
        principal: Principal,
        *,
        ref: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[Comparison]:
        """Comparisons of one version (``ref``) or of any version of a model (``name``)."""
        if (ref is None) == (name is None):
            raise Invalid("Name exactly one of ref='ns/model:N' or name='ns/model'.")
        with self.registry.store.reading() as tx:
            if ref is not None:
                found = tx.comparisons_of(self._version(tx, principal, ref).id, limit=limit)
            else:
                namespace, model_name = parse_name(name or "", principal)
                _, model = self.registry._model(tx, principal, namespace, model_name)
                found = store.of_model(tx.session, model.id, limit)
            return [c for c in found if self._readable(tx, principal, c)]

    def gates(self, principal: Principal, name: str, limit: int = 20) -> list[GateReport]:
        """Each gated alias of ``name``: who holds it and whether each recent comparison
        lets another candidate take it (what the Models panel shows)."""
        namespace, model_name = parse_name(name, principal)
        full_name = f"{namespace}/{model_name}"
        recent = self.list(principal, name=full_name, limit=limit)
        aliases = {a.alias: a.version for a in self.registry.aliases(principal, full_name)}
        names = {k.split("@", 1)[1] if "@" in k else k for k in self.registry.promotion_gates}
        reports = []
        for alias in sorted(names):
            found = gate_for(self.registry.promotion_gates, full_name, alias)
            if found is None:
                continue
            key, gate = found
            holder = aliases.get(alias)
            current = f"{full_name}:{holder}"
            verdicts = [
                judge(key, gate, c, other.label, current)
                for c in recent
                if holder is not None and any(x.label == current for x in c.candidates)
                for other in c.candidates
                if other.label != current
            ]
            reports.append(
                GateReport(
                    alias=alias,
                    gate=key,
                    description=describe(key, gate),
                    holder=holder,
                    verdicts=verdicts,
                )
            )
        return reports

    def _readable(self, tx: SqlTransaction, principal: Principal, comparison: Comparison) -> bool:
        """Whether the caller may read every candidate (others' comparisons stay hidden)."""
        try:
            for candidate in comparison.candidates:
                self._version(tx, principal, candidate.label)
        except LeptonError:
            return False
        return True
