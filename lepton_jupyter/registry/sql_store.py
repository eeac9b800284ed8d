"""The registry's store over SQLAlchemy: SQLite (a file) or PostgreSQL (shared).

:class:`SqlRegistryStore` opens the transactions (retrying a write that lost a race) and
answers what is asked outside one: where an alias points for a caller with a grant (what
serving clients poll), whether anyone has committed since (for read caches), which blobs
any version names (for fsck). :class:`SqlTransaction` holds the statements of one
transaction: namespaces and grants here, versions in :mod:`.sql_versions`, aliases, loads
and comparisons in :mod:`.sql_ledger`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import tables as t
from .rows import NamespaceRow
from .schema import GrantInfo
from .sql_ledger import SqlLedgerQueries
from .sql_versions import SqlVersionQueries

T = TypeVar("T")


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


#: How often a write transaction is tried when concurrent writers keep winning races.
WRITE_ATTEMPTS = 20


class SqlRegistryStore:
    """:class:`~.store.RegistryStore` over SQLAlchemy: SQLite (a file) or PostgreSQL (shared).

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


class SqlTransaction(SqlVersionQueries, SqlLedgerQueries):
    """:class:`~.store.RegistryTransaction` over one SQLAlchemy session."""

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


def _grant_info(namespace: str, grant: t.Grant) -> GrantInfo:
    return GrantInfo(
        namespace=namespace,
        role=grant.role,
        user=grant.subject if grant.subject_kind == "user" else None,
        group=grant.subject if grant.subject_kind == "group" else None,
        granted_by=grant.granted_by,
        granted_at=grant.granted_at,
    )
