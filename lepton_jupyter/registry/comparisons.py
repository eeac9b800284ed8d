"""Comparisons of versions: the evidence promotion gates check, recorded and read back.

A comparison is recorded only when each candidate is the registry's content of its version,
and shown only to whoever may read every candidate it compared.
"""

from __future__ import annotations

from ..errors import Invalid, LeptonError, NotFound
from .access import RegistryAccess
from .grammar import parse_name, parse_ref
from .identity import Principal
from .schema import Comparison
from .store import RegistryTransaction, VersionRow


class ComparisonOperations(RegistryAccess):
    """Recording and reading comparisons."""

    def record_comparison(self, principal: Principal, comparison: Comparison) -> Comparison:
        """Store a computed comparison (its id assigned here); readers of every candidate
        may record, and each candidate must be the registry's content of its version."""

        def write(tx: RegistryTransaction) -> Comparison:
            ids = []
            for candidate in comparison.candidates:
                version = self._candidate(tx, principal, candidate.label)
                if version.digest != candidate.digest:
                    raise Invalid(
                        f"Candidate {candidate.label} was evaluated with content "
                        f"{candidate.digest}, but the registry's {candidate.label} is "
                        f"{version.digest}."
                    )
                ids.append(version.id)
            return tx.add_comparison(comparison, ids)

        return self.store.writing(write)

    def comparison(self, principal: Principal, comparison_id: int) -> Comparison:
        """Comparison ``comparison_id``, if the caller can read every candidate."""
        with self.store.reading() as tx:
            found = tx.comparison(comparison_id)
            if found is None:
                raise NotFound(f"There is no comparison {comparison_id}.")
            for candidate in found.candidates:
                self._candidate(tx, principal, candidate.label)
            return found

    def comparisons(
        self,
        principal: Principal,
        *,
        ref: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[Comparison]:
        """Comparisons of one version (``ref``) or of any version of a model (``name``),
        newest first; those with a candidate the caller may not read are left out."""
        if (ref is None) == (name is None):
            raise Invalid("Name exactly one of ref='ns/model:N' or name='ns/model'.")
        with self.store.reading() as tx:
            if ref is not None:
                found = tx.comparisons_of(self._candidate(tx, principal, ref).id, limit=limit)
            else:
                namespace, model_name = parse_name(name or "", principal)
                _, model = self._model(tx, principal, namespace, model_name)
                found = tx.model_comparisons(model.id, limit)
            return [c for c in found if self._may_read_candidates(tx, principal, c)]

    def _candidate(self, tx: RegistryTransaction, principal: Principal, label: str) -> VersionRow:
        """The version a comparison's candidate names, if the caller may read it."""
        return self._resolve(tx, principal, parse_ref(label, principal))[1]

    def _may_read_candidates(
        self, tx: RegistryTransaction, principal: Principal, comparison: Comparison
    ) -> bool:
        """Whether the caller may read every candidate (others' comparisons stay hidden)."""
        try:
            for candidate in comparison.candidates:
                self._candidate(tx, principal, candidate.label)
        except LeptonError:
            return False
        return True
