"""Recorded comparisons, in the registry's database beside the versions they compare.

They live there, not in a folder of their own, because they are the evidence for alias
moves: the registry checks a promotion gate in the same transaction that moves the alias,
wherever the registry runs (in the Jupyter server, ``lepton registry serve``, a hub
service). The tables are created by the registry's migration ``0003``; comparisons are
only ever inserted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..registry.tables import Base, Version, utcnow
from .schema import Comparison


class ComparisonRow(Base):
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


def insert(session: Session, comparison: Comparison, version_ids: list[int]) -> Comparison:
    """Store a computed comparison (its id is assigned here); return it with id and time."""
    row = ComparisonRow(
        metric=comparison.metric,
        record={},
        created_by=comparison.created_by,
        created_at=comparison.created_at,
    )
    session.add(row)
    session.flush()
    stored = comparison.model_copy(update={"id": row.id})
    row.record = stored.model_dump(mode="json")
    session.add_all(ComparedVersion(comparison_id=row.id, version_id=v) for v in version_ids)
    session.flush()
    return stored


def get(session: Session, comparison_id: int) -> Comparison | None:
    row = session.get(ComparisonRow, comparison_id)
    return None if row is None else Comparison.model_validate(row.record)


def of_version(session: Session, version_id: int, limit: int | None = None) -> list[Comparison]:
    """Comparisons that include a version, newest first."""
    query = (
        select(ComparisonRow.record)
        .join(ComparedVersion, ComparedVersion.comparison_id == ComparisonRow.id)
        .where(ComparedVersion.version_id == version_id)
        .order_by(ComparisonRow.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [Comparison.model_validate(r) for r in session.scalars(query)]


def of_model(session: Session, model_id: int, limit: int) -> list[Comparison]:
    """Comparisons that include any version of a model, newest first."""
    ids = (
        select(ComparedVersion.comparison_id)
        .join(Version, Version.id == ComparedVersion.version_id)
        .where(Version.model_id == model_id)
        .distinct()
    )
    query = (
        select(ComparisonRow.record)
        .where(ComparisonRow.id.in_(ids))
        .order_by(ComparisonRow.id.desc())
        .limit(limit)
    )
    return [Comparison.model_validate(r) for r in session.scalars(query)]
