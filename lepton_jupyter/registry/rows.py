"""The registry's stored records as the service sees them: plain frozen rows, never ORM
objects, so a row read in one transaction can be used after it closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .schema import DeletionInfo, FileEntry, YankInfo


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
    """A stored version without its files and aliases
    (:meth:`~.store.RegistryTransaction.describe` adds them)."""

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
    """What :meth:`~.store.RegistryTransaction.add_version` stores (its number is the store's)."""

    digest: str
    kind: str
    entry: str
    description: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    lineage: dict[str, Any]
    created_by: str
    files: list[FileEntry]
