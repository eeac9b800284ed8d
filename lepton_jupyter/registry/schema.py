"""The registry's data as pydantic models: what the API returns and what REST carries.

Comparisons are here too: the registry stores them as the evidence its promotion gates
check (the compare subsystem computes them, and shows them).
"""

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
    latest: int | None = Field(
        description="The highest version not yanked; null when every version is (such a "
        "model is listed only when yanked ones are asked for)."
    )
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


class FsckRequest(BaseModel):
    """``POST /registry/fsck``: what a registry admin asks of the blob store check."""

    gc: bool = Field(
        default=False,
        description="Collect: remove orphans and stale uploads older than the upload grace.",
    )
    dry_run: bool = Field(
        default=True, description="With gc, only list what it would remove (the default)."
    )
    verify: bool = Field(
        default=False, description="Re-hash every blob (reads the whole store: slow)."
    )


class FsckReport(BaseModel):
    blobs: int
    referenced: int
    orphans: list[str] = Field(description="Stored blobs no version references.")
    stale_uploads: list[str] = Field(description="Temporary files left by a dead writer.")
    missing: list[str] = Field(description="Blobs a version references that are not stored.")
    mismatches: list[str] = Field(
        description="Blobs whose bytes do not hash to their address (when verified)."
    )
    verified: bool = Field(default=True, description="Whether every blob was re-hashed.")
    reclaimable: list[str] = Field(
        default_factory=list,
        description="What a gc would remove now: orphans and stale uploads past the grace.",
    )
    dry_run: bool = Field(default=False, description="A gc that only listed what would go.")
    removed: list[str] = Field(default_factory=list, description="What the gc removed.")

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
    include_yanked: bool = Field(
        default=False,
        description="List models whose every version is yanked too (their latest is null).",
    )


# comparisons: promotion evidence


class DatasetPin(BaseModel):
    """A dataset an evaluation read, at the commit it read."""

    url: str
    path: str
    rev: str | None = Field(default=None, description="What the evaluation asked for.")
    commit: str = Field(description="What that resolved to: the same for every candidate.")


class EvaluationInfo(BaseModel):
    """The evaluation every candidate ran: a notebook (or a function, kept as one)."""

    kind: Literal["notebook", "function"] = "notebook"
    path: str = Field(description="The notebook that ran (for a function: its generated one).")
    digest: str = Field(description="Digest of the notebook's cells: the evaluation code.")


class CandidateResult(BaseModel):
    """One candidate's evaluation: which version, which run, what it measured."""

    ref: str = Field(description="The reference as asked: 'ns/net@prod', 'ns/net:7'.")
    name: str
    version: int = Field(ge=1)
    digest: str = Field(description="The version's content address, as the run loaded it.")
    run: str = Field(description="Id of the recorded evaluation run (rerunnable).")
    metrics: dict[str, Any] = Field(default_factory=dict, description="The run's scalar metrics.")
    examples: list[float] = Field(
        default_factory=list, description="Per-example results of the compared metric."
    )

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"


class ComparisonRequest(BaseModel):
    """What a comparison was computed from; the registry recomputes its statistics."""

    metric: str = Field(min_length=1, max_length=200)
    higher_is_better: bool = True
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    resamples: int = Field(default=9999, ge=100, le=200_000)
    seed: int = Field(default=0, ge=0)
    candidate_parameter: str = Field(default="candidate", min_length=1)
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The evaluation's parameters other than the candidate."
    )
    evaluation: EvaluationInfo
    datasets: list[DatasetPin] = Field(default_factory=list)
    candidates: list[CandidateResult] = Field(min_length=2, max_length=50)
    rerun_of: int | None = Field(default=None, description="The comparison this one reran.")


class PairStat(BaseModel):
    """Candidate ``a`` against ``b``: the mean paired difference ``a - b`` and its interval."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    difference: float
    low: float
    high: float
    confidence: float = Field(description="Of this interval (Bonferroni-adjusted for k > 2).")
    test: str
    p_value: float
    n: int
    better: str | None = Field(description="The better one when the interval excludes zero.")


class Standing(BaseModel):
    candidate: str
    mean: float
    rank: int = Field(description="1 + how many candidates are significantly better.")


class Comparison(ComparisonRequest):
    """A recorded comparison: its inputs, statistics, verdict, and who ran it."""

    id: int
    pairs: list[PairStat] = Field(default_factory=list)
    ranking: list[Standing] = Field(default_factory=list)
    winner: str | None = None
    verdict: str
    created_by: str
    created_at: UtcDatetime

    def candidate(self, label: str) -> CandidateResult:
        return next(c for c in self.candidates if c.label == label)

    def pair(self, a: str, b: str) -> PairStat | None:
        """The statistics of ``a`` against ``b`` (sign flipped when stored the other way)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                return p.model_copy(
                    update={
                        "a": a,
                        "b": b,
                        "mean_a": p.mean_b,
                        "mean_b": p.mean_a,
                        "difference": -p.difference,
                        "low": -p.high,
                        "high": -p.low,
                    }
                )
        return None


class PromotionGate(BaseModel):
    """What moving a gated alias needs: a passing comparison of new vs current holder."""

    dataset: str = Field(description="Path of the evaluation dataset in its data registry.")
    url: str | None = Field(default=None, description="The data registry, if it matters.")
    metric: str
    min_delta: float = Field(
        default=0.0,
        description="The interval of (new - current) must lie above this (below -this for "
        "lower-is-better metrics); a negative value allows a bounded loss.",
    )
    higher_is_better: bool = True


class GateVerdict(BaseModel):
    """Whether a comparison lets ``new`` take an alias from ``current``, and why."""

    gate: str
    new: str
    current: str
    comparison: int | None = None
    passed: bool
    reason: str


class GateReport(BaseModel):
    """A gated alias of one model: its gate, current holder and each comparison's verdict."""

    alias: str
    gate: str = Field(description="The gate's key: 'alias' or 'ns/model@alias'.")
    description: str
    holder: int | None = Field(description="The version holding the alias now.")
    verdicts: list[GateVerdict] = Field(
        default_factory=list,
        description="For each comparison with the holder: may each other candidate take it?",
    )


class GatesQuery(BaseModel):
    name: str = Field(description="The model: 'ns/model'.")


class ComparisonsQuery(BaseModel):
    ref: str | None = Field(default=None, description="Only comparisons of this version.")
    name: str | None = Field(default=None, description="Only comparisons of this model.")
    limit: int = Field(default=50, ge=1, le=1000)
