"""Comparisons as pydantic models: what the API returns, REST carries and the registry stores."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..registry.schema import UtcDatetime


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


class RunsRequest(BaseModel):
    """REST: assemble a comparison from recorded evaluation runs."""

    runs: list[str] = Field(min_length=2, max_length=50)
    metric: str = Field(min_length=1)
    candidate_parameter: str = "candidate"
    higher_is_better: bool = True
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)


class GatesQuery(BaseModel):
    name: str = Field(description="The model: 'ns/model'.")


class ComparisonsQuery(BaseModel):
    ref: str | None = Field(default=None, description="Only comparisons of this version.")
    name: str | None = Field(default=None, description="Only comparisons of this model.")
    limit: int = Field(default=50, ge=1, le=1000)
