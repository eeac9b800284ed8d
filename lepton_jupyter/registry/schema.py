"""The registry's data as pydantic models: what the API returns and what REST carries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

Role = Literal["reader", "writer", "maintainer", "admin"]

#: How deep metrics, params and lineage may nest: deeper is refused before it is stored.
MAX_DEPTH = 32
MAX_DESCRIPTION = 10_000
MAX_VERSION = 2**31 - 1  # a SQL INTEGER (32-bit on PostgreSQL)
MAX_PAGE = 1000  # versions per page


def shallow(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it nests at most MAX_DEPTH levels (counted without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return value


Document = Annotated[dict[str, Any], AfterValidator(shallow)]


def as_utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back without an offset: add it."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


#: A timestamp that always carries its offset (OpenAPI ``date-time`` requires one).
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


class FileEntry(BaseModel):
    path: str = Field(description="Path inside the version, '/'-separated.")
    digest: str = Field(description="Blob address, e.g. 'blake3:<hex>'.")
    size: int = Field(ge=0, lt=2**63)


class YankInfo(BaseModel):
    """Why a version was withdrawn: listings and aliases skip it, exact references and a
    rerun's pins still load it (with this shown)."""

    reason: str
    by: str
    at: UtcDatetime


class DeletionInfo(BaseModel):
    """Who hard-deleted a yanked version and when: its files are gone, its number stays
    taken (a pin naming it fails with this, never loads other bytes)."""

    by: str
    at: UtcDatetime


class ModelVersion(BaseModel):
    """One immutable version; ``ref`` (``ns/model:N``) names it for ever."""

    name: str = Field(description="'namespace/model'.")
    version: int
    digest: str = Field(description="Address of the version's file manifest.")
    kind: Literal["state_dict", "file", "directory"]
    entry: str = Field(description="The file load() returns; '' for a directory.")
    size: int
    description: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)
    created_by: str
    created_at: UtcDatetime
    aliases: list[str] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    yanked: YankInfo | None = Field(default=None, description="Set once the version is yanked.")
    deleted: DeletionInfo | None = Field(
        default=None, description="Set once the yanked version is deleted (its files are gone)."
    )

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


class ModelSummary(BaseModel):
    name: str
    namespace: str
    latest: int
    aliases: dict[str, int] = Field(description="Alias -> version it points at.")
    description: str = ""
    created_by: str
    created_at: UtcDatetime


class AliasInfo(BaseModel):
    name: str
    alias: str
    version: int
    digest: str


class AliasEvent(BaseModel):
    alias: str
    action: Literal["set", "rollback"]
    version: int
    previous: int | None
    actor: str
    at: UtcDatetime
    evidence: dict[str, Any] | None = Field(
        default=None, description="Why a gated alias could move: a comparison or an override."
    )


class GrantInfo(BaseModel):
    namespace: str
    role: Role
    user: str | None = None
    group: str | None = None
    granted_by: str
    granted_at: UtcDatetime


class NamespaceInfo(BaseModel):
    """A namespace the caller has a role in (to anyone else it does not exist: a 404)."""

    name: str
    role: Role = Field(description="The caller's role here.")
    grants: list[GrantInfo]


class LoadInfo(BaseModel):
    user: str
    notebook: str = ""
    job: str = ""
    run: str = Field(default="", description="The lepton run id, when a run engine ran it.")
    at: UtcDatetime


class LineageComparison(BaseModel):
    """A comparison a version took part in, as its lineage summarises it."""

    id: int
    metric: str
    candidates: list[str]
    winner: str | None
    verdict: str
    created_by: str
    created_at: UtcDatetime


class Lineage(BaseModel):
    """Where a version came from (data, parents, job, notebook, commit) and who used it."""

    name: str
    version: int
    digest: str
    user: str
    created_at: UtcDatetime
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    parents: list[dict[str, Any]] = Field(default_factory=list)
    jobs: list[str] = Field(default_factory=list)
    notebook: str | None = None
    git: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    loaded_by: list[LoadInfo] = Field(default_factory=list)
    comparisons: list[LineageComparison] = Field(
        default_factory=list, description="Comparisons this version took part in, newest first."
    )
    promotions: list[AliasEvent] = Field(
        default_factory=list, description="Alias moves to this version, with their evidence."
    )


class FsckReport(BaseModel):
    blobs: int
    referenced: int
    orphans: list[str] = Field(description="Stored blobs no version references (reclaimable).")
    stale_uploads: list[str] = Field(description="Temporary files left by a dead writer.")
    missing: list[str] = Field(description="Blobs a version references that are not stored.")
    mismatches: list[str] = Field(description="Blobs whose bytes do not hash to their address.")
    removed: list[str] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.orphans or self.stale_uploads or self.missing or self.mismatches)


class VersionDeletion(BaseModel):
    """What a hard delete of a yanked version removed, or (``dry_run``) would remove."""

    name: str
    version: int
    dry_run: bool
    deleted: DeletionInfo | None = Field(description="Who deleted it, when (None in a dry run).")
    blobs: list[str] = Field(
        description="Blobs no other version names: they go with it (after the upload grace)."
    )
    reclaimed: list[str] = Field(
        description="Those of blobs removed now; the rest (uploaded within the grace, so "
        "perhaps about to be named by a publish) go with a later `fsck --gc`."
    )


# Request bodies


class PublishRequest(BaseModel):
    files: list[FileEntry] = Field(min_length=1)
    kind: Literal["state_dict", "file", "directory"]
    entry: str = ""
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    metrics: Document = Field(default_factory=dict)
    params: Document = Field(default_factory=dict)
    lineage: Document = Field(default_factory=dict)
    alias: str | None = None


class SetAliasRequest(BaseModel):
    version: int = Field(ge=1, le=MAX_VERSION)
    comparison: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="The comparison a promotion gate should use.",
    )
    override: str | None = Field(
        default=None, max_length=2000, description="A maintainer's reason to bypass a gate."
    )


class GrantRequest(BaseModel):
    role: Role
    user: str | None = None
    group: str | None = None


class DeleteQuery(BaseModel):
    dry_run: bool = Field(default=False, description="Only say what the delete would remove.")


class YankRequest(BaseModel):
    reason: str = Field(
        min_length=1, max_length=2000, description="Why: shown to whoever still loads it."
    )


class LoadRequest(BaseModel):
    notebook: str = ""
    job: str = ""
    run: str = ""


class MissingBlobsRequest(BaseModel):
    addresses: list[str]


class MissingBlobs(BaseModel):
    missing: list[str]


class RefQuery(BaseModel):
    ref: str


class VersionsQuery(BaseModel):
    """One page of a model's versions: the newest ``limit`` below version ``before``."""

    limit: int | None = Field(default=None, ge=1, le=MAX_PAGE, description="Page size.")
    before: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Only versions numbered below this."
    )
    include_yanked: bool = Field(default=False, description="List yanked versions too.")


class PublishCheckQuery(BaseModel):
    name: str = Field(description="The model: 'ns/model'.")
    alias: str | None = Field(default=None, description="An alias the publish would set.")


class PublishCheck(BaseModel):
    """``GET /registry/publish-check``: this publish would be accepted (else its error)."""

    name: str
    alias: str | None


class NamespaceQuery(BaseModel):
    namespace: str | None = None
