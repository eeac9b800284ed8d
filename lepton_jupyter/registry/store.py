"""The registry's persistence behind a small protocol, and its SQLAlchemy implementation.

:class:`RegistryStore` opens transactions; a :class:`RegistryTransaction` answers the
service's questions (which namespace, which grants, which version) and records its
decisions, each method one statement or two. The service holds every rule (grammar, roles,
gates) and never sees SQL; the store holds every statement and decides nothing, so a
check and the write it allows run in one transaction. As with MLflow's ``AbstractStore``
beside its ``SqlAlchemyStore``, the protocol is the contract and :class:`SqlRegistryStore`
(SQLite by default, PostgreSQL shared; tables in :mod:`.tables`) the one implementation.
Records come back as plain rows or as the :mod:`.schema` models REST sends, never as ORM
objects.

Longer than 500 lines on purpose: the protocol and its only implementation stay in one
module, so a method's contract and its statements are found in one place.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, case, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import tables as t
from .schema import (
    AliasEvent,
    Comparison,
    DeletionInfo,
    FileEntry,
    GrantInfo,
    LoadInfo,
    LoadRequest,
    ModelSummary,
    ModelVersion,
    YankInfo,
)

T = TypeVar("T")


@dataclass(frozen=True)
class NamespaceRow:
    id: int
    name: str


@dataclass(frozen=True)
class ModelRow:
    id: int
    namespace_id: int
    name: str


@dataclass(frozen=True)
class VersionRow:
    """A stored version without its files and aliases (:meth:`describe` adds them)."""

    id: int
    model_id: int
    number: int
    digest: str
    kind: str
    entry: str
    size: int
    description: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    lineage: dict[str, Any]
    created_by: str
    created_at: datetime
    yanked: YankInfo | None = None
    deleted: DeletionInfo | None = None


@dataclass(frozen=True)
class NewVersion:
    """What :meth:`RegistryTransaction.add_version` stores (its number is the store's)."""

    digest: str
    kind: str
    entry: str
    description: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    lineage: dict[str, Any]
    created_by: str
    files: list[FileEntry]


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


_GRANTED_ALIAS = text("""
    SELECT v.number AS number, v.digest AS digest,
           (SELECT count(*) FROM grants g
             WHERE g.namespace_id = n.id
               AND ((g.subject_kind = 'user' AND g.subject = :user)
                    OR (g.subject_kind = 'group' AND g.subject IN :groups))) AS rank
      FROM namespaces n
      JOIN models m ON m.namespace_id = n.id
      JOIN aliases a ON a.model_id = m.id
      JOIN versions v ON v.id = a.version_id
     WHERE n.name = :namespace AND m.name = :model AND a.name = :alias
       AND v.yanked_at IS NULL
""").bindparams(bindparam("groups", expanding=True))

#: The PostgreSQL advisory lock ordering publishes against the blob collector.
_BLOB_LOCK_ID = 0x1E9708

#: How often a write transaction is tried when concurrent writers keep winning races.
WRITE_ATTEMPTS = 20


class SqlRegistryStore:
    """:class:`RegistryStore` over SQLAlchemy: SQLite (a file) or PostgreSQL (shared).

    ``read()`` and ``write()`` hand out plain sessions (tests look at rows with them).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.write_engine, self.read_engine = t.open_engines(url)
        self._writes = sessionmaker(self.write_engine, expire_on_commit=False)
        self._reads = sessionmaker(self.read_engine, expire_on_commit=False)
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction, committed on success, rolled back on any error."""
        with self._writes.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[SqlTransaction]:
        with self.read() as session:
            yield SqlTransaction(session)

    def writing(self, work: Callable[[SqlTransaction], T]) -> T:
        """Two publishers creating the same model (or, on PostgreSQL, racing past the model
        row lock's first insert) hit a unique constraint; SQLite may report its lock as
        busy. The loser tries again and then sees the winner's rows; each try is one
        transaction, so nothing is half-written."""
        delay = 0.01
        for attempt in range(WRITE_ATTEMPTS):
            last = attempt == WRITE_ATTEMPTS - 1
            try:
                with self.write() as session:
                    return work(SqlTransaction(session))
            except IntegrityError:
                if last:
                    raise
            except OperationalError as e:
                if "locked" not in str(e) or last:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def granted_alias(
        self, namespace: str, model: str, alias: str, user: str, groups: Collection[str]
    ) -> tuple[int, str] | None:
        with self.read_engine.connect() as connection:
            row = connection.execute(
                _GRANTED_ALIAS,
                {
                    "namespace": namespace,
                    "model": model,
                    "alias": alias,
                    "user": user,
                    "groups": list(groups),
                },
            ).first()
        return (row.number, row.digest) if row is not None and row.rank else None

    def generation(self) -> int | None:
        """SQLite's ``PRAGMA data_version`` on a connection of our own moves on every commit
        made through any other connection, in this process or another. PostgreSQL offers
        no equivalent this cheap: None, so nothing is cached there."""
        path = self.url.split("///", 1)[-1] if self.is_sqlite else ""
        if path in ("", ":memory:") or "mode=memory" in path:
            return None  # no file another connection could see: nothing to compare with
        connection = getattr(self._local, "generation", None)
        if connection is None:
            connection = sqlite3.connect(path, timeout=60, check_same_thread=False)
            self._local.generation = connection
        return int(connection.execute("PRAGMA data_version").fetchone()[0])

    def referenced_blobs(self) -> set[str]:
        with self.read() as session:
            return set(session.scalars(select(t.VersionFile.digest).distinct()))

    def dispose(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()


class SqlTransaction:
    """:class:`RegistryTransaction` over one SQLAlchemy session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # namespaces and grants

    def namespace(self, name: str) -> NamespaceRow | None:
        found = self.session.scalar(select(t.Namespace).where(t.Namespace.name == name))
        return None if found is None else NamespaceRow(found.id, found.name)

    def namespaces(self) -> list[NamespaceRow]:
        rows = self.session.execute(
            select(t.Namespace.id, t.Namespace.name).order_by(t.Namespace.name)
        )
        return [NamespaceRow(i, n) for i, n in rows]

    def create_namespace(
        self, name: str, created_by: str, grants: Iterable[tuple[str, str, str]]
    ) -> NamespaceRow:
        ns = t.Namespace(name=name, created_by=created_by)
        self.session.add(ns)
        self.session.flush()
        self.session.add_all(
            t.Grant(
                namespace_id=ns.id,
                subject_kind=kind,
                subject=subject,
                role=role,
                granted_by=created_by,
            )
            for kind, subject, role in grants
        )
        self.session.flush()
        return NamespaceRow(ns.id, ns.name)

    def roles(
        self, user: str, groups: Collection[str], namespace_ids: Collection[int] | None = None
    ) -> dict[int, list[str]]:
        query = select(t.Grant.namespace_id, t.Grant.role).where(
            or_(
                (t.Grant.subject_kind == "user") & (t.Grant.subject == user),
                (t.Grant.subject_kind == "group") & t.Grant.subject.in_(list(groups)),
            )
        )
        if namespace_ids is not None:
            query = query.where(t.Grant.namespace_id.in_(list(namespace_ids)))
        found: dict[int, list[str]] = {}
        for namespace_id, role in self.session.execute(query):
            found.setdefault(namespace_id, []).append(role)
        return found

    def grants(self, namespace: NamespaceRow) -> list[GrantInfo]:
        rows = self.session.scalars(
            select(t.Grant).where(t.Grant.namespace_id == namespace.id).order_by(t.Grant.id)
        )
        return [_grant_info(namespace.name, g) for g in rows]

    def _grant(self, namespace: NamespaceRow, subject_kind: str, subject: str) -> t.Grant | None:
        return self.session.scalar(
            select(t.Grant).where(
                t.Grant.namespace_id == namespace.id,
                t.Grant.subject_kind == subject_kind,
                t.Grant.subject == subject,
            )
        )

    def put_grant(
        self, namespace: NamespaceRow, subject_kind: str, subject: str, role: str, by: str
    ) -> GrantInfo:
        grant = self._grant(namespace, subject_kind, subject)
        if grant is None:
            grant = t.Grant(
                namespace_id=namespace.id,
                subject_kind=subject_kind,
                subject=subject,
                role=role,
                granted_by=by,
            )
            self.session.add(grant)
        else:
            grant.role = role
            grant.granted_by = by
            grant.granted_at = t.utcnow()
        self.session.flush()
        return _grant_info(namespace.name, grant)

    def delete_grant(
        self, namespace: NamespaceRow, subject_kind: str, subject: str
    ) -> GrantInfo | None:
        grant = self._grant(namespace, subject_kind, subject)
        if grant is None:
            return None
        removed = _grant_info(namespace.name, grant)
        self.session.delete(grant)
        self.session.flush()
        return removed

    # models and versions

    def model(self, namespace_id: int, name: str, *, lock: bool = False) -> ModelRow | None:
        query = select(t.Model.id, t.Model.namespace_id, t.Model.name).where(
            t.Model.namespace_id == namespace_id, t.Model.name == name
        )
        found = self.session.execute(query.with_for_update() if lock else query).first()
        return None if found is None else ModelRow(*found)

    def model_names(self, namespace_id: int) -> list[str]:
        return list(
            self.session.scalars(select(t.Model.name).where(t.Model.namespace_id == namespace_id))
        )

    def create_model(self, namespace_id: int, name: str, created_by: str) -> ModelRow:
        model = t.Model(namespace_id=namespace_id, name=name, created_by=created_by)
        self.session.add(model)
        self.session.flush()
        return ModelRow(model.id, namespace_id, name)

    def model_summaries(
        self, namespace_ids: Collection[int], *, include_yanked: bool = False
    ) -> list[ModelSummary]:
        ids = list(namespace_ids)
        if not ids:
            return []
        # Per model, its highest number: one (model, number) index lookup each, where a
        # GROUP BY over every version would read them all.
        latest = (
            select(func.max(t.Version.number))
            .where(t.Version.model_id == t.Model.id, t.Version.yanked_at.is_(None))
            .correlate(t.Model)
            .scalar_subquery()
        )
        # With yanked ones: a model whose every version is yanked is described by its
        # highest version, and reports no latest.
        shown = (
            func.coalesce(
                latest,
                select(func.max(t.Version.number))
                .where(t.Version.model_id == t.Model.id)
                .correlate(t.Model)
                .scalar_subquery(),
            )
            if include_yanked
            else latest
        )
        rows = self.session.execute(
            select(
                t.Model.id,
                t.Namespace.name,
                t.Model.name,
                t.Model.created_by,
                t.Model.created_at,
                # A yanked version (every one of the model's is) is no model's latest.
                case((t.Version.yanked_at.is_(None), t.Version.number)),
                t.Version.description,
            )
            .join(t.Model, t.Model.namespace_id == t.Namespace.id)
            .join(t.Version, (t.Version.model_id == t.Model.id) & (t.Version.number == shown))
            .where(t.Namespace.id.in_(ids))
            .order_by(t.Namespace.name, t.Model.name)
        ).all()
        aliases: dict[int, dict[str, int]] = {}
        for model_id, alias, number in self.session.execute(
            select(t.Alias.model_id, t.Alias.name, t.Version.number)
            .join(t.Version, t.Alias.version_id == t.Version.id)
            .join(t.Model, t.Model.id == t.Alias.model_id)
            .where(t.Model.namespace_id.in_(ids), t.Version.yanked_at.is_(None))
        ):
            aliases.setdefault(model_id, {})[alias] = number
        return [
            ModelSummary(
                name=f"{namespace}/{name}",
                namespace=namespace,
                latest=latest,
                aliases=dict(sorted(aliases.get(model_id, {}).items())),
                description=description,
                created_by=created_by,
                created_at=created_at,
            )
            for model_id, namespace, name, created_by, created_at, latest, description in rows
        ]

    def version(self, model_id: int, number: int) -> VersionRow | None:
        return self._version_where(t.Version.model_id == model_id, t.Version.number == number)

    def latest_version(self, model_id: int, *, include_yanked: bool = True) -> VersionRow | None:
        query = select(t.Version).where(t.Version.model_id == model_id)
        if not include_yanked:
            query = query.where(t.Version.yanked_at.is_(None))
        found = self.session.scalar(query.order_by(t.Version.number.desc()).limit(1))
        return None if found is None else _version_row(found)

    def versions(
        self,
        model_id: int,
        limit: int | None = None,
        before: int | None = None,
        include_yanked: bool = True,
    ) -> list[VersionRow]:
        query = select(t.Version).where(t.Version.model_id == model_id)
        if not include_yanked:
            query = query.where(t.Version.yanked_at.is_(None))
        if before is not None:
            query = query.where(t.Version.number < before)
        if limit is None:
            return [_version_row(v) for v in self.session.scalars(query.order_by(t.Version.number))]
        page = self.session.scalars(query.order_by(t.Version.number.desc()).limit(limit))
        return [_version_row(v) for v in page][::-1]

    def yank(self, version: VersionRow, reason: str, by: str) -> VersionRow:
        row = self.session.get_one(t.Version, version.id)
        row.yanked_at, row.yanked_by, row.yank_reason = t.utcnow(), by, reason
        self.session.flush()
        return _version_row(row)

    def unyank(self, version: VersionRow) -> VersionRow:
        row = self.session.get_one(t.Version, version.id)
        row.yanked_at = row.yanked_by = row.yank_reason = None
        self.session.flush()
        return _version_row(row)

    def delete_version(self, version: VersionRow, by: str) -> VersionRow:
        self.session.execute(delete(t.VersionFile).where(t.VersionFile.version_id == version.id))
        row = self.session.get_one(t.Version, version.id)
        row.deleted_at, row.deleted_by = t.utcnow(), by
        self.session.flush()
        return _version_row(row)

    def add_version(self, model_id: int, number: int, new: NewVersion) -> VersionRow:
        version = t.Version(
            model_id=model_id,
            number=number,
            digest=new.digest,
            kind=new.kind,
            entry=new.entry,
            size=sum(f.size for f in new.files),
            description=new.description,
            metrics=new.metrics,
            params=new.params,
            lineage=new.lineage,
            created_by=new.created_by,
        )
        self.session.add(version)
        self.session.flush()
        self.session.add_all(
            t.VersionFile(version_id=version.id, path=f.path, digest=f.digest, size=f.size)
            for f in new.files
        )
        self.session.flush()
        return _version_row(version)

    def describe(self, name: str, versions: list[VersionRow]) -> list[ModelVersion]:
        ids = [v.id for v in versions]
        files: dict[int, list[FileEntry]] = {i: [] for i in ids}
        aliases: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            for f in self.session.scalars(
                select(t.VersionFile)
                .where(t.VersionFile.version_id.in_(ids))
                .order_by(t.VersionFile.path)
            ):
                files[f.version_id].append(FileEntry(path=f.path, digest=f.digest, size=f.size))
            for version_id, alias in self.session.execute(
                select(t.Alias.version_id, t.Alias.name)
                .where(t.Alias.version_id.in_(ids))
                .order_by(t.Alias.name)
            ):
                aliases[version_id].append(alias)
        return [
            ModelVersion(
                name=name,
                version=v.number,
                aliases=aliases[v.id],
                files=files[v.id],
                **{k: getattr(v, k) for k in _DESCRIBED},
                yanked=v.yanked,
                deleted=v.deleted,
            )
            for v in versions
        ]

    def file(self, version_id: int, path: str) -> FileEntry | None:
        found = self.session.scalar(
            select(t.VersionFile).where(
                t.VersionFile.version_id == version_id, t.VersionFile.path == path
            )
        )
        return None if found is None else FileEntry(path=path, digest=found.digest, size=found.size)

    def file_paths(self, version_id: int) -> list[str]:
        return list(
            self.session.scalars(
                select(t.VersionFile.path).where(t.VersionFile.version_id == version_id)
            )
        )

    def blob_namespaces(self, addresses: Collection[str]) -> list[tuple[str, int]]:
        rows = self.session.execute(
            select(t.VersionFile.digest, t.Model.namespace_id)
            .join(t.Version, t.Version.id == t.VersionFile.version_id)
            .join(t.Model, t.Model.id == t.Version.model_id)
            .where(t.VersionFile.digest.in_(list(addresses)))
            .distinct()
        )
        return [(digest, namespace_id) for digest, namespace_id in rows]

    def referenced(self, addresses: Collection[str], *, excluding: int | None = None) -> set[str]:
        query = select(t.VersionFile.digest).where(t.VersionFile.digest.in_(list(addresses)))
        if excluding is not None:
            query = query.where(t.VersionFile.version_id != excluding)
        return set(self.session.scalars(query.distinct()))

    def lock_blobs(self, *, exclusive: bool) -> None:
        # SQLite: every write transaction already holds the one database lock (BEGIN
        # IMMEDIATE). PostgreSQL: an advisory lock, shared among publishes.
        if self.session.get_bind().dialect.name == "postgresql":
            lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            self.session.execute(text(f"SELECT {lock}(:id)"), {"id": _BLOB_LOCK_ID})

    # aliases and their ledger

    def alias_target(self, model_id: int, alias: str) -> VersionRow | None:
        return self._version_where(
            t.Alias.model_id == model_id,
            t.Alias.name == alias,
            join=(t.Alias, t.Alias.version_id == t.Version.id),
        )

    def alias_names(self, model_id: int) -> list[str]:
        return list(self.session.scalars(select(t.Alias.name).where(t.Alias.model_id == model_id)))

    def aliases(self, model_id: int) -> list[tuple[str, int, str, bool]]:
        rows = self.session.execute(
            select(t.Alias.name, t.Version.number, t.Version.digest, t.Version.yanked_at)
            .join(t.Version, t.Alias.version_id == t.Version.id)
            .where(t.Alias.model_id == model_id)
            .order_by(t.Alias.name)
        )
        return [
            (alias, number, digest, yanked is not None) for alias, number, digest, yanked in rows
        ]

    def move_alias(
        self,
        model_id: int,
        alias: str,
        target: VersionRow,
        action: str,
        actor: str,
        evidence: dict[str, Any] | None,
    ) -> None:
        current = self.session.scalar(
            select(t.Alias).where(t.Alias.model_id == model_id, t.Alias.name == alias)
        )
        previous = None
        if current is None:
            self.session.add(t.Alias(model_id=model_id, name=alias, version_id=target.id))
        else:
            previous = self.session.scalar(
                select(t.Version.number).where(t.Version.id == current.version_id)
            )
            current.version_id = target.id
        self.session.add(
            t.AliasEvent(
                model_id=model_id,
                alias=alias,
                action=action,
                version=target.number,
                previous=previous,
                actor=actor,
                evidence=evidence,
            )
        )
        self.session.flush()

    def alias_events(self, model_id: int, alias: str | None = None) -> list[AliasEvent]:
        query = select(t.AliasEvent).where(t.AliasEvent.model_id == model_id)
        if alias is not None:
            query = query.where(t.AliasEvent.alias == alias)
        return [_alias_event(e) for e in self.session.scalars(query.order_by(t.AliasEvent.id))]

    def promotions(self, model_id: int, number: int) -> list[AliasEvent]:
        rows = self.session.scalars(
            select(t.AliasEvent)
            .where(t.AliasEvent.model_id == model_id, t.AliasEvent.version == number)
            .order_by(t.AliasEvent.id)
        )
        return [_alias_event(e) for e in rows]

    # loads and comparisons

    def add_load(self, version_id: int, user: str, request: LoadRequest) -> None:
        self.session.add(
            t.LoadEvent(
                version_id=version_id,
                user=user,
                notebook=request.notebook,
                job=request.job,
                run=request.run,
            )
        )

    def loads(self, version_id: int) -> list[LoadInfo]:
        rows = self.session.scalars(
            select(t.LoadEvent).where(t.LoadEvent.version_id == version_id).order_by(t.LoadEvent.id)
        )
        return [
            LoadInfo(user=x.user, notebook=x.notebook, job=x.job, run=x.run, at=x.at) for x in rows
        ]

    def add_comparison(self, comparison: Comparison, version_ids: list[int]) -> Comparison:
        row = t.ComparisonRow(
            metric=comparison.metric,
            record={},
            created_by=comparison.created_by,
            created_at=comparison.created_at,
        )
        self.session.add(row)
        self.session.flush()
        stored = comparison.model_copy(update={"id": row.id})
        row.record = stored.model_dump(mode="json")
        self.session.add_all(
            t.ComparedVersion(comparison_id=row.id, version_id=v) for v in version_ids
        )
        self.session.flush()
        return stored

    def comparison(self, comparison_id: int) -> Comparison | None:
        row = self.session.get(t.ComparisonRow, comparison_id)
        return None if row is None else Comparison.model_validate(row.record)

    def comparisons_of(self, version_id: int, limit: int | None = None) -> list[Comparison]:
        ids = select(t.ComparedVersion.comparison_id).where(
            t.ComparedVersion.version_id == version_id
        )
        return self._comparisons(ids, limit)

    def model_comparisons(self, model_id: int, limit: int) -> list[Comparison]:
        ids = (
            select(t.ComparedVersion.comparison_id)
            .join(t.Version, t.Version.id == t.ComparedVersion.version_id)
            .where(t.Version.model_id == model_id)
        )
        return self._comparisons(ids, limit)

    def _comparisons(self, ids: Any, limit: int | None) -> list[Comparison]:
        """The comparisons whose id ``ids`` selects, newest first."""
        query = (
            select(t.ComparisonRow.record)
            .where(t.ComparisonRow.id.in_(ids))
            .order_by(t.ComparisonRow.id.desc())
            .limit(limit)
        )
        return [Comparison.model_validate(r) for r in self.session.scalars(query)]

    def _version_where(self, *where: Any, join: tuple[Any, Any] | None = None) -> VersionRow | None:
        query = select(t.Version)
        if join is not None:
            query = query.join(*join)
        found = self.session.scalar(query.where(*where))
        return None if found is None else _version_row(found)


#: What a :class:`VersionRow` and the :class:`ModelVersion` describing it share.
_DESCRIBED = (
    "digest",
    "kind",
    "entry",
    "size",
    "description",
    "metrics",
    "params",
    "lineage",
    "created_by",
    "created_at",
)


def _version_row(v: t.Version) -> VersionRow:
    row = {f.name: getattr(v, f.name) for f in fields(VersionRow) if f.name not in _WITHDRAWN}
    yanked = deleted = None
    if v.yanked_at is not None:
        yanked = YankInfo(reason=v.yank_reason or "", by=v.yanked_by or "", at=v.yanked_at)
    if v.deleted_at is not None:
        deleted = DeletionInfo(by=v.deleted_by or "", at=v.deleted_at)
    return VersionRow(**row, yanked=yanked, deleted=deleted)


_WITHDRAWN = ("yanked", "deleted")


def _grant_info(namespace: str, grant: t.Grant) -> GrantInfo:
    return GrantInfo(
        namespace=namespace,
        role=grant.role,
        user=grant.subject if grant.subject_kind == "user" else None,
        group=grant.subject if grant.subject_kind == "group" else None,
        granted_by=grant.granted_by,
        granted_at=grant.granted_at,
    )


def _alias_event(event: t.AliasEvent) -> AliasEvent:
    return AliasEvent(
        alias=event.alias,
        action=event.action,
        version=event.version,
        previous=event.previous,
        actor=event.actor,
        at=event.at,
        evidence=event.evidence,
    )
