"""The registry's tables in SQL, and opening a database migrated to them.

SQLite by default, PostgreSQL for a shared deployment. Files live in the blob store; these
tables hold what names them. Versions, files, the alias ledger and comparisons (the
evidence promotion gates check, beside the versions they compare) are only ever inserted,
but for a yank and the hard delete of a yanked version (its files go, its row stays as a
tombstone).
The schema is created and upgraded by the Alembic migrations in ``migrations/`` whenever a
database is opened (:func:`open_engines`). The queries over these tables are
:mod:`~lepton_jupyter.registry.sql_store`'s (and its two statement modules).
"""

from __future__ import annotations

import threading
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
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..sqlite import sqlite_engine


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
    # set once by a yank (the one change a version ever sees): who, when, why
    yanked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    yanked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    yank_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # set once by a hard delete of a yanked version: the row stays as a tombstone (its
    # number is never reused), its file rows go
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


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
    __table_args__ = (
        UniqueConstraint("model_id", "name", name="uq_aliases_model_name"),
        Index("ix_aliases_version", "version_id"),
    )
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


class ComparisonRow(Base):
    """A recorded comparison (tables from migration ``0003``); its record is the model."""

    __tablename__ = "comparisons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(200))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ComparedVersion(Base):
    """Which versions a comparison covers: how a version finds its comparisons."""

    __tablename__ = "comparison_versions"
    __table_args__ = (Index("ix_comparison_versions_version", "version_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))


def open_engines(url: str) -> tuple[Engine, Engine]:
    """(write engine, read engine) over the database at ``url``, migrated to the latest schema.

    SQLite gets two engines: writes start with ``BEGIN IMMEDIATE`` so concurrent publishers
    queue on the database lock instead of failing to upgrade a read lock; reads stay deferred
    so they never wait behind a writer (WAL mode). PostgreSQL has one engine for both.
    """
    if url.startswith("sqlite"):
        write_engine = sqlite_engine(url, begin="BEGIN IMMEDIATE", foreign_keys=True)
        read_engine = sqlite_engine(url, begin="BEGIN", foreign_keys=True)
    else:
        write_engine = read_engine = create_engine(url, pool_pre_ping=True)
    upgrade(url, write_engine)
    return write_engine, read_engine


_migrate_lock = threading.Lock()
_MIGRATION_LOCK_ID = 0x1E9707  # PostgreSQL advisory lock held while migrating


def upgrade(url: str, engine: Engine) -> None:
    """Bring the schema to the latest migration; safe when many processes open at once."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with _migrate_lock, engine.begin() as connection:
        if not url.startswith("sqlite"):
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
