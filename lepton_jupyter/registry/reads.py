"""Reading the registry: a reference resolved, versions and models listed, a version's
lineage and files; and recording a load, the downstream half of that lineage."""

from __future__ import annotations

from typing import Any

from ..errors import Invalid, NotFound, did_you_mean
from .access import RegistryAccess, not_deleted
from .grammar import check_name, parse_name, parse_ref
from .identity import Principal
from .schema import (
    MAX_PAGE,
    MAX_VERSION,
    Comparison,
    FileEntry,
    Lineage,
    LoadRequest,
    ModelSummary,
    ModelVersion,
)
from .store import RegistryTransaction


class ReadOperations(RegistryAccess):
    """Resolving, listing, lineage, files and loads."""

    def resolve(self, principal: Principal, ref: str) -> ModelVersion:
        parsed = parse_ref(ref, principal)
        with self.store.reading() as tx:
            _, version = self._resolve(tx, principal, parsed)
            return self._describe(tx, parsed.name, version)

    def versions(
        self,
        principal: Principal,
        name: str,
        *,
        limit: int | None = None,
        before: int | None = None,
        include_yanked: bool = False,
    ) -> list[ModelVersion]:
        """Versions of ``name``, oldest first, yanked ones only if asked (each says why);
        with ``limit``, one page: the newest ``limit`` numbered below ``before`` (the next
        older page: ``before`` = this page's first)."""
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"A page holds 1 to {MAX_PAGE} versions, not {limit}.")
        if before is not None and not 1 <= before <= MAX_VERSION:
            raise Invalid(f"before={before} is not a version number (1 to {MAX_VERSION}).")
        namespace, model_name = parse_name(name, principal)
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            rows = tx.versions(model.id, limit, before, include_yanked=include_yanked)
            return tx.describe(f"{namespace}/{model_name}", rows)

    def models(
        self, principal: Principal, namespace: str | None = None, *, include_yanked: bool = False
    ) -> list[ModelSummary]:
        """Models in ``namespace``, or in every namespace the caller can read; with
        ``include_yanked`` those whose every version is yanked too (so they can be seen and
        un-yanked)."""
        with self.store.reading() as tx:
            if namespace is not None:
                ns, _ = self._visible(tx, principal, check_name(namespace, "namespace"))
                spaces = [ns]
            else:
                spaces = self._readable(tx, principal)
            return tx.model_summaries([ns.id for ns in spaces], include_yanked=include_yanked)

    def lineage(self, principal: Principal, ref: str) -> Lineage:
        parsed = parse_ref(ref, principal)
        with self.store.reading() as tx:
            _, version = self._resolve(tx, principal, parsed)
            captured = version.lineage or {}
            return Lineage(
                name=parsed.name,
                version=version.number,
                digest=version.digest,
                user=version.created_by,
                created_at=version.created_at,
                datasets=captured.get("datasets", []),
                parents=captured.get("parents", []),
                jobs=captured.get("jobs", []),
                notebook=captured.get("notebook"),
                git=captured.get("git"),
                params=version.params,
                metrics=version.metrics,
                loaded_by=tx.loads(version.id),
                comparisons=[
                    _comparison_summary(c) for c in tx.comparisons_of(version.id, limit=20)
                ],
                promotions=tx.promotions(version.model_id, version.number),
            )

    def file(self, principal: Principal, name: str, version: int, path: str) -> FileEntry:
        """A version's file, for download: readers only."""
        namespace, model_name = parse_name(name, principal)
        full_name = f"{namespace}/{model_name}"
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            target = not_deleted(self._version(tx, model, full_name, version), full_name)
            found = tx.file(target.id, path)
            if found is None:
                known = tx.file_paths(target.id)
                raise NotFound(
                    f"{full_name}:{version} has no file {path!r}.{did_you_mean(path, known)}"
                )
            return found

    def record_load(
        self, principal: Principal, name: str, version: int, request: LoadRequest
    ) -> None:
        """Note that a run loaded a version (the downstream half of its lineage)."""
        namespace, model_name = parse_name(name, principal)

        def write(tx: RegistryTransaction) -> None:
            _, model = self._model(tx, principal, namespace, model_name)
            full_name = f"{namespace}/{model_name}"
            target = not_deleted(self._version(tx, model, full_name, version), full_name)
            tx.add_load(target.id, principal.user, request)

        self.store.writing(write)


def _comparison_summary(c: Comparison) -> dict[str, Any]:
    """A comparison as a version's lineage lists it."""
    return {
        "id": c.id,
        "metric": c.metric,
        "candidates": [x.label for x in c.candidates],
        "winner": c.winner,
        "verdict": c.verdict,
        "created_by": c.created_by,
        "created_at": c.created_at.isoformat(),
    }
