"""The registry's persistence behind a small protocol.

:class:`RegistryStore` opens transactions; a :class:`RegistryTransaction` answers the
service's questions (which namespace, which grants, which version) and records its
decisions, each method one statement or two. The service holds every rule (grammar, roles,
gates) and never sees SQL; the store holds every statement and decides nothing, so a
check and the write it allows run in one transaction. As with MLflow's ``AbstractStore``
beside its ``SqlAlchemyStore``, the protocol is the contract and
:class:`~.sql_store.SqlRegistryStore` (SQLite by default, PostgreSQL shared; tables in
:mod:`.tables`) the one implementation, re-exported here with the rows of :mod:`.rows`.
Records come back as plain rows or as the :mod:`.schema` models REST sends.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from .rows import ModelRow, NamespaceRow, NewVersion, VersionRow
from .schema import (
    AliasEvent,
    Comparison,
    FileEntry,
    GrantInfo,
    LoadInfo,
    LoadRequest,
    ModelSummary,
    ModelVersion,
)
from .sql_store import WRITE_ATTEMPTS, SqlRegistryStore, SqlTransaction

__all__ = [
    "WRITE_ATTEMPTS",
    "ModelRow",
    "NamespaceRow",
    "NewVersion",
    "RegistryStore",
    "RegistryTransaction",
    "SqlRegistryStore",
    "SqlTransaction",
    "VersionRow",
]

T = TypeVar("T")


class RegistryTransaction(Protocol):
    """One transaction's view of the registry: reads see its writes; nothing is checked."""

    # namespaces and grants

    def namespace(self, name: str) -> NamespaceRow | None:
        """The namespace called ``name``, or None."""

    def namespaces(self) -> list[NamespaceRow]:
        """Every namespace, by name."""

    def create_namespace(
        self, name: str, created_by: str, grants: Iterable[tuple[str, str, str]]
    ) -> NamespaceRow:
        """A new namespace with its founding ``(subject kind, subject, role)`` grants.

        Raises the store's integrity error when a concurrent writer created it first
        (:meth:`RegistryStore.writing` then retries)."""

    def roles(
        self, user: str, groups: Collection[str], namespace_ids: Collection[int] | None = None
    ) -> dict[int, list[str]]:
        """Namespace id -> the roles granted to ``user`` or any of ``groups`` there (only
        ``namespace_ids`` if given). One statement for any number of namespaces."""

    def grants(self, namespace: NamespaceRow) -> list[GrantInfo]:
        """Every grant on a namespace, oldest first."""

    def put_grant(
        self, namespace: NamespaceRow, subject_kind: str, subject: str, role: str, by: str
    ) -> GrantInfo:
        """Give ``subject`` the role ``role`` (replacing the one it had)."""

    def delete_grant(
        self, namespace: NamespaceRow, subject_kind: str, subject: str
    ) -> GrantInfo | None:
        """Remove ``subject``'s grant; the grant it was, or None when it had none."""

    # models and versions

    def model(self, namespace_id: int, name: str, *, lock: bool = False) -> ModelRow | None:
        """The model, or None; ``lock`` holds its row until commit (version numbering)."""

    def model_names(self, namespace_id: int) -> list[str]:
        """The names of a namespace's models (for 'did you mean')."""

    def create_model(self, namespace_id: int, name: str, created_by: str) -> ModelRow:
        """A new model; an integrity error when a concurrent writer created it first."""

    def model_summaries(
        self, namespace_ids: Collection[int], *, include_yanked: bool = False
    ) -> list[ModelSummary]:
        """Every model with a version that is not yanked in these namespaces (with
        ``include_yanked`` every model with a version), by namespace and name, with its
        latest such version and the aliases pointing at such versions: two statements
        however many models there are."""

    def version(self, model_id: int, number: int) -> VersionRow | None:
        """Version ``number`` of a model, or None."""

    def latest_version(self, model_id: int, *, include_yanked: bool = True) -> VersionRow | None:
        """A model's highest-numbered version (not yanked unless ``include_yanked``), or None."""

    def versions(
        self,
        model_id: int,
        limit: int | None = None,
        before: int | None = None,
        include_yanked: bool = True,
    ) -> list[VersionRow]:
        """A model's versions (yanked ones unless not ``include_yanked``), oldest first;
        with ``limit`` only the newest ``limit`` of those numbered below ``before``: one
        page, read through the (model, number) index whatever the model's size."""

    def yank(self, version: VersionRow, reason: str, by: str) -> VersionRow:
        """Mark ``version`` yanked (by whom, now, why); the row as it is then."""

    def unyank(self, version: VersionRow) -> VersionRow:
        """Clear ``version``'s yank; the row as it is then."""

    def delete_version(self, version: VersionRow, by: str) -> VersionRow:
        """Make ``version`` a tombstone: deleted by whom, now; its file rows removed."""

    def add_version(self, model_id: int, number: int, new: NewVersion) -> VersionRow:
        """Store version ``number`` with its files."""

    def describe(self, name: str, versions: list[VersionRow]) -> list[ModelVersion]:
        """The versions with their files and aliases, in order: two statements in all."""

    def file(self, version_id: int, path: str) -> FileEntry | None:
        """A version's file at ``path``, or None."""

    def file_paths(self, version_id: int) -> list[str]:
        """Every file path of a version (for 'did you mean')."""

    def blob_namespaces(self, addresses: Collection[str]) -> list[tuple[str, int]]:
        """(address, namespace id) for each namespace holding a version with that blob."""

    def referenced(self, addresses: Collection[str], *, excluding: int | None = None) -> set[str]:
        """Those of ``addresses`` some version (other than ``excluding``) names."""

    def lock_blobs(self, *, exclusive: bool) -> None:
        """Until commit, order this transaction against the blob store's collector: a
        publish (shared) checks its blobs exist and names them; the collector (exclusive)
        checks a blob is named by nothing and removes it. Neither sees the other halfway."""

    # aliases and their ledger

    def alias_target(self, model_id: int, alias: str) -> VersionRow | None:
        """The version ``alias`` points at now, or None."""

    def alias_names(self, model_id: int) -> list[str]:
        """The aliases that point somewhere now."""

    def aliases(self, model_id: int) -> list[tuple[str, int, str, bool]]:
        """(alias, version number, digest, whether that version is yanked), by alias."""

    def move_alias(
        self,
        model_id: int,
        alias: str,
        target: VersionRow,
        action: str,
        actor: str,
        evidence: dict[str, Any] | None,
    ) -> None:
        """Point ``alias`` at ``target`` and append the move to the ledger."""

    def alias_events(self, model_id: int, alias: str | None = None) -> list[AliasEvent]:
        """The ledger of one alias (or every alias), oldest first."""

    def promotions(self, model_id: int, number: int) -> list[AliasEvent]:
        """Every ledger entry that moved an alias to version ``number``, oldest first."""

    # loads and comparisons

    def add_load(self, version_id: int, user: str, request: LoadRequest) -> None:
        """Note that a run loaded a version."""

    def loads(self, version_id: int) -> list[LoadInfo]:
        """Who loaded a version, oldest first."""

    def add_comparison(self, comparison: Comparison, version_ids: list[int]) -> Comparison:
        """Store a computed comparison of these versions; it comes back with its id."""

    def comparison(self, comparison_id: int) -> Comparison | None:
        """A recorded comparison, or None."""

    def comparisons_of(self, version_id: int, limit: int | None = None) -> list[Comparison]:
        """The comparisons a version took part in, newest first."""

    def model_comparisons(self, model_id: int, limit: int) -> list[Comparison]:
        """The comparisons any version of a model took part in, newest first."""


class RegistryStore(Protocol):
    """Where the registry's metadata lives; opens :class:`RegistryTransaction` s."""

    def reading(self) -> AbstractContextManager[RegistryTransaction]:
        """A read-only transaction that never waits behind a writer."""

    def writing(self, work: Callable[[RegistryTransaction], T]) -> T:
        """``work`` in one write transaction, committed when it returns, rolled back when
        it raises; run again when a concurrent writer won a race (so ``work`` must do all
        its reads inside). Its result."""

    def granted_alias(
        self, namespace: str, model: str, alias: str, user: str, groups: Collection[str]
    ) -> tuple[int, str] | None:
        """(number, digest) of the version ``ns/model@alias`` points at, if ``user`` or
        one of ``groups`` holds a grant on the namespace: the one statement every serving
        client polls. None when either is not so (the caller then asks why)."""

    def generation(self) -> int | None:
        """A number that changes whenever anyone commits, for read caches; None: unknown."""

    def referenced_blobs(self) -> set[str]:
        """Every blob address some version names."""

    def dispose(self) -> None:
        """Close the connections."""
