"""The statements about what is recorded around versions: aliases and their ledger,
loads, comparisons; for :class:`~.sql_store.SqlTransaction`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import tables as t
from .rows import VersionRow
from .schema import AliasEvent, Comparison, LoadInfo, LoadRequest
from .sql_versions import version_where


class SqlLedgerQueries:
    """Aliases, their ledger, loads and comparisons over ``self.session``."""

    session: Session

    def alias_target(self, model_id: int, alias: str) -> VersionRow | None:
        return version_where(
            self.session,
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
