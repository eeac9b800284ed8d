"""Aliases: moving one (through its promotion gate, if it has one), rolling it back, reading it.

Every move is appended to the alias's ledger; a rollback replays the ledger as a stack.
:meth:`AliasOperations.alias` is the query every serving client polls: one statement,
cached while the store's generation stays the same. The gates check comparisons, so alias
operations build on :class:`~.comparisons.ComparisonOperations`.
"""

from __future__ import annotations

from ..errors import Conflict, NotFound, did_you_mean
from .access import EVERYONE
from .comparisons import ComparisonOperations
from .gates import gate_reports
from .grammar import Ref, check_alias, parse_name, parse_version
from .identity import Principal
from .schema import AliasEvent, AliasInfo, GateReport
from .store import ModelRow, RegistryTransaction


class AliasOperations(ComparisonOperations):
    """Alias moves, their ledger and the promotion gates' reports."""

    # alias() answers, valid while the store's generation stays the same
    _alias_cache: dict[tuple[str, str, str, Principal], AliasInfo]
    _alias_generation: int | None

    def set_alias(
        self,
        principal: Principal,
        name: str,
        alias: str,
        version: int,
        *,
        comparison: int | None = None,
        override: str | None = None,
    ) -> AliasInfo:
        """Point ``alias`` at an existing version; the move is appended to the ledger.

        A gated alias (``promotion_gates``) moves only on a passing comparison of the new
        version against the current holder (``comparison`` names one, else the newest is
        found), or on a maintainer's ``override`` reason; the ledger keeps which.
        """
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        version = parse_version(version)
        full_name = f"{namespace}/{model_name}"

        def move(tx: RegistryTransaction) -> AliasInfo:
            ns, model = self._model(tx, principal, namespace, model_name, *self._alias_role(alias))
            target = self._movable(self._version(tx, model, full_name, version), full_name, alias)
            evidence = self._gate(tx, principal, ns, model, alias, target, comparison, override)
            tx.move_alias(model.id, alias, target, "set", principal.user, evidence)
            return AliasInfo(name=full_name, alias=alias, version=version, digest=target.digest)

        return self.store.writing(move)

    def rollback(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        """Move ``alias`` back to where it pointed before its latest move.

        The ledger is replayed as a stack (a set pushes, a rollback pops), so repeated
        rollbacks walk further back instead of toggling between two versions.
        """
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        full_name = f"{namespace}/{model_name}"

        def move(tx: RegistryTransaction) -> AliasInfo:
            _, model = self._model(tx, principal, namespace, model_name, *self._alias_role(alias))
            stack = _alias_stack(self._alias_events(tx, model, full_name, alias))
            if len(stack) < 2:
                raise Conflict(
                    f"Alias {alias!r} of {full_name} has no earlier version to roll "
                    f"back to (it has only ever pointed at version {stack[-1]})."
                )
            target = self._movable(self._version(tx, model, full_name, stack[-2]), full_name, alias)
            tx.move_alias(model.id, alias, target, "rollback", principal.user, None)
            return AliasInfo(
                name=full_name, alias=alias, version=target.number, digest=target.digest
            )

        return self.store.writing(move)

    def _alias_events(
        self, tx: RegistryTransaction, model: ModelRow, name: str, alias: str
    ) -> list[AliasEvent]:
        """The alias's ledger; NotFound when it was never set."""
        events = tx.alias_events(model.id, alias)
        if not events:
            known = list(dict.fromkeys(e.alias for e in tx.alias_events(model.id)))
            raise NotFound(f"{name} has no alias {alias!r}.{did_you_mean(alias, known)}")
        return events

    def history(self, principal: Principal, name: str, alias: str) -> list[AliasEvent]:
        """Every move of ``alias``, oldest first: who moved it, when, from where to where."""
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            return self._alias_events(tx, model, f"{namespace}/{model_name}", alias)

    def alias(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        """Where an alias points now: the query every serving client polls.

        One statement resolves the alias and whether the caller holds a role there; only
        when it finds nothing readable does the general path run, to raise the precise
        error. Answers are cached while the store's generation stays the same.
        """
        namespace, model_name = parse_name(name, principal)
        ref = Ref(namespace, model_name, alias=check_alias(alias))
        generation = self.store.generation()
        key = (namespace, model_name, alias, principal)
        if generation is not None:
            if generation != self._alias_generation:
                self._alias_cache.clear()
                self._alias_generation = generation
            cached = self._alias_cache.get(key)
            if cached is not None:
                return cached
        granted = self.store.granted_alias(
            namespace, model_name, alias, principal.user, [*principal.groups, EVERYONE]
        )
        if granted is not None:
            number, digest = granted
            found = AliasInfo(name=ref.name, alias=alias, version=number, digest=digest)
            if generation is not None and len(self._alias_cache) < 100_000:
                self._alias_cache[key] = found
            return found
        with self.store.reading() as tx:
            _, version = self._resolve(tx, principal, ref)
            return AliasInfo(
                name=ref.name, alias=alias, version=version.number, digest=version.digest
            )

    def aliases(self, principal: Principal, name: str) -> list[AliasInfo]:
        namespace, model_name = parse_name(name, principal)
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            rows = tx.aliases(model.id)
        return [
            AliasInfo(name=f"{namespace}/{model_name}", alias=a, version=n, digest=d)
            for a, n, d, yanked in rows
            if not yanked
        ]

    def gates(self, principal: Principal, name: str, limit: int = 20) -> list[GateReport]:
        """Each gated alias of ``name``: who holds it and whether each recent comparison
        lets another candidate take it (what the Models panel shows)."""
        namespace, model_name = parse_name(name, principal)
        full_name = f"{namespace}/{model_name}"
        recent = self.comparisons(principal, name=full_name, limit=limit)
        holders = {a.alias: a.version for a in self.aliases(principal, full_name)}
        return gate_reports(self.promotion_gates, full_name, holders, recent)


def _alias_stack(events: list[AliasEvent]) -> list[int]:
    """Where an alias pointed, oldest first, after replaying its ledger (rollbacks pop)."""
    stack: list[int] = []
    for e in events:
        if e.action == "rollback":
            stack.pop()
        else:
            stack.append(e.version)
    return stack
