"""The registry's metadata in SQL: SQLite by default, PostgreSQL for a shared deployment.

Files live in the blob store; these tables hold what names them. Versions, files and the
alias ledger are only ever inserted. The schema is created and upgraded by the Alembic
migrations in ``migrations/`` whenever a store is opened.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ROLES = ("reader", "writer", "maintainer", "admin")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Namespace(Base):
    """A team or an organisation; roles are granted on it."""

    __tablename__ = "namespaces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("namespace_id", "name", name="uq_models_namespace_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Version(Base):
    """An immutable, numbered version; ``digest`` names its whole file manifest."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_id", "number", name="uq_versions_model_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    number: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))  # state_dict | file | directory
    entry: Mapped[str] = mapped_column(String(512), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VersionFile(Base):
    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("version_id", "path", name="uq_files_version_path"),
        Index("ix_files_digest", "digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    path: Mapped[str] = mapped_column(String(1024))
    digest: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)


class Alias(Base):
    """Where an alias points now; every move is also appended to ``alias_events``."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("model_id", "name", name="uq_aliases_model_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    name: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))


class AliasEvent(Base):
    """The append-only alias ledger: who moved which alias to which version, when."""

    __tablename__ = "alias_events"
    __table_args__ = (Index("ix_alias_events_model_alias", "model_id", "alias"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    alias: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # set | rollback
    version: Mapped[int] = mapped_column(Integer)
    previous: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # why a gated alias could move: {"comparison": id, ...} or {"override": reason, ...}
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Grant(Base):
    """A role on a namespace for a user or a group (``*`` = every authenticated user)."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("namespace_id", "subject_kind", "subject", name="uq_grants_subject"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id"))
    subject_kind: Mapped[str] = mapped_column(String(8))  # user | group
    subject: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoadEvent(Base):
    """A run that loaded a version: the downstream half of lineage."""

    __tablename__ = "loads"
    __table_args__ = (Index("ix_loads_version", "version_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    user: Mapped[str] = mapped_column(String(128))
    notebook: Mapped[str] = mapped_column(String(1024), default="")
    job: Mapped[str] = mapped_column(String(128), default="")
    run: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Store:
    """Engines and sessions over one registry database, migrated to the latest schema.

    SQLite gets two engines: writes start with ``BEGIN IMMEDIATE`` so concurrent publishers
    queue on the database lock instead of failing to upgrade a read lock; reads stay deferred
    so they never wait behind a writer (WAL mode).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_folder(url)
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.write_engine = create_engine(url, pool_pre_ping=True)
            self.read_engine = self.write_engine
        self._writes = sessionmaker(self.write_engine, expire_on_commit=False)
        self._reads = sessionmaker(self.read_engine, expire_on_commit=False)
        self._local = threading.local()
        upgrade(self)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction, committed on success, rolled back on any error."""
        with self._writes.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    def generation(self) -> int | None:
        """A number that changes whenever any connection commits (SQLite), else None.

        SQLite's ``PRAGMA data_version`` on a connection of our own moves on every commit
        made through any other connection, in this process or another; read caches key on
        it. PostgreSQL offers no equivalent this cheap, so nothing is cached there.
        """
        path = self.url.split("///", 1)[-1] if self.is_sqlite else ""
        if path in ("", ":memory:") or "mode=memory" in path:
            return None  # no file another connection could see: nothing to compare with
        connection = getattr(self._local, "generation", None)
        if connection is None:
            connection = sqlite3.connect(path, timeout=60, check_same_thread=False)
            self._local.generation = connection
        return int(connection.execute("PRAGMA data_version").fetchone()[0])

    def dispose(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_migrate_lock = threading.Lock()
_MIGRATION_LOCK_ID = 0x1E9707  # PostgreSQL advisory lock held while migrating


def upgrade(store: Store) -> None:
    """Bring the schema to the latest migration; safe when many processes open at once."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    with _migrate_lock, store.write_engine.begin() as connection:
        if not store.is_sqlite:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
