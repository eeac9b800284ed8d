"""The statements about models, versions, their files and blobs, for
:class:`~.sql_store.SqlTransaction`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from typing import Any

from sqlalchemy import case, delete, func, select, text
from sqlalchemy.orm import Session

from . import tables as t
from .rows import ModelRow, NewVersion, VersionRow
from .schema import DeletionInfo, FileEntry, ModelSummary, ModelVersion, YankInfo

#: The PostgreSQL advisory lock ordering publishes against the blob collector.
_BLOB_LOCK_ID = 0x1E9708


class SqlVersionQueries:
    """Models and versions over ``self.session``."""

    session: Session

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
        return version_where(
            self.session, t.Version.model_id == model_id, t.Version.number == number
        )

    def latest_version(self, model_id: int, *, include_yanked: bool = True) -> VersionRow | None:
        query = select(t.Version).where(t.Version.model_id == model_id)
        if not include_yanked:
            query = query.where(t.Version.yanked_at.is_(None))
        found = self.session.scalar(query.order_by(t.Version.number.desc()).limit(1))
        return None if found is None else version_row(found)

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
            return [version_row(v) for v in self.session.scalars(query.order_by(t.Version.number))]
        page = self.session.scalars(query.order_by(t.Version.number.desc()).limit(limit))
        return [version_row(v) for v in page][::-1]

    def yank(self, version: VersionRow, reason: str, by: str) -> VersionRow:
        row = self.session.get_one(t.Version, version.id)
        row.yanked_at, row.yanked_by, row.yank_reason = t.utcnow(), by, reason
        self.session.flush()
        return version_row(row)

    def unyank(self, version: VersionRow) -> VersionRow:
        row = self.session.get_one(t.Version, version.id)
        row.yanked_at = row.yanked_by = row.yank_reason = None
        self.session.flush()
        return version_row(row)

    def delete_version(self, version: VersionRow, by: str) -> VersionRow:
        self.session.execute(delete(t.VersionFile).where(t.VersionFile.version_id == version.id))
        row = self.session.get_one(t.Version, version.id)
        row.deleted_at, row.deleted_by = t.utcnow(), by
        self.session.flush()
        return version_row(row)

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
        return version_row(version)

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


def version_where(
    session: Session, *where: Any, join: tuple[Any, Any] | None = None
) -> VersionRow | None:
    """The version the conditions ``where`` select (through ``join``), or None."""
    query = select(t.Version)
    if join is not None:
        query = query.join(*join)
    found = session.scalar(query.where(*where))
    return None if found is None else version_row(found)


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


def version_row(v: t.Version) -> VersionRow:
    row = {f.name: getattr(v, f.name) for f in fields(VersionRow) if f.name not in _WITHDRAWN}
    yanked = deleted = None
    if v.yanked_at is not None:
        yanked = YankInfo(reason=v.yank_reason or "", by=v.yanked_by or "", at=v.yanked_at)
    if v.deleted_at is not None:
        deleted = DeletionInfo(by=v.deleted_by or "", at=v.deleted_at)
    return VersionRow(**row, yanked=yanked, deleted=deleted)


_WITHDRAWN = ("yanked", "deleted")
