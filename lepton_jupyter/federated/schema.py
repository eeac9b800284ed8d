"""What a federation is: its organisations, privacy options, the plan the job runs, and
what each round reported.

The plan (:class:`FederationPlan`) is what the federation's job runs from. It is split on
purpose: :class:`NodePlan` (an organisation's workspace and dataset folder) goes only to
that organisation's SuperNode; :class:`AggregatorPlan` (rounds, strategy, privacy) is all
the SuperLink's ServerApp ever sees.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

#: The name the weighted average of the organisations' evaluations is reported under.
GLOBAL = "(global)"
#: The plan, in the federation job's folder.
PLAN_FILE = "federation.json"


class Organisation(BaseModel):
    """One participant: a registry namespace, the workspace its node runs in, and the
    dataset attached there that it trains on (the folder ``attach(..., to=...)`` made)."""

    name: str = Field(description="The organisation, also its namespace in the registry.")
    workspace: str = Field(description="Folder the organisation's node runs in.")
    dataset: str = Field(description="The attached dataset's folder, inside the workspace.")
    user: str | None = Field(
        default=None,
        description="Who the organisation's node acts as (default: the caller). Must hold "
        "the writer role on the organisation's namespace.",
    )


class DifferentialPrivacy(BaseModel):
    """Client-side DP-SGD (Opacus) in every organisation: per-sample gradients clipped to
    ``max_grad_norm``, Gaussian noise of ``noise_multiplier`` times that; the budget spent
    (epsilon at ``delta``) is accounted per organisation across rounds (RDP)."""

    noise_multiplier: float = Field(default=1.0, gt=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)


class SecureAggregation(BaseModel):
    """Flower's SecAgg+: the aggregator learns only the sum of the updates. ``shares`` and
    ``threshold`` default to every organisation and a majority of them."""

    shares: int | None = Field(default=None, ge=2)
    threshold: int | None = Field(default=None, ge=2)
    clipping_range: float = Field(default=8.0, gt=0)
    max_weight: float = Field(default=10000.0, gt=0)


class DatasetPin(BaseModel):
    """The dataset an organisation trained on: where it comes from, never where it lies."""

    url: str
    path: str
    rev: str | None = None
    commit: str


class NodePlan(BaseModel):
    """What one organisation's SuperNode is started with (its side only)."""

    organisation: str
    workspace: str
    data_dir: str
    user: str | None = None
    dataset: DatasetPin


class AggregatorPlan(BaseModel):
    """Everything the ServerApp is told: no data path, no dataset."""

    rounds: int = Field(ge=1)
    strategy: str
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    organisations: list[str]
    min_organisations: int = Field(ge=1)
    metric: str
    privacy: DifferentialPrivacy | None = None
    secure_aggregation: SecureAggregation | None = None
    start_timeout: float = Field(default=120.0, gt=0)


class FederationPlan(BaseModel):
    """The federation's job: the aggregator's part, each node's part, the starting model."""

    aggregator: AggregatorPlan
    nodes: list[NodePlan]
    start: dict[str, Any] = Field(description="The starting version: ref, name, version, digest.")


class OrganisationReport(BaseModel):
    """What one organisation contributed to the federation, for the lineage."""

    organisation: str
    dataset: DatasetPin
    examples: int = Field(description="Training examples it used in one round.")
    rounds: list[int] = Field(description="The rounds its update was aggregated in.")
    privacy: dict[str, float] | None = Field(
        default=None, description="The DP budget it spent: epsilon at delta."
    )


class FederationSummary(BaseModel):
    """A finished federation, as its job returns it (``Federation.summary()``)."""

    rounds: int
    strategy: str
    metric: str
    start_metric: float | None = Field(
        default=None, description="The starting model's evaluation, weighted across organisations."
    )
    round_metrics: dict[int, float] = Field(
        default_factory=dict, description="Round -> the aggregate's weighted evaluation."
    )
    organisations: list[OrganisationReport]
    aggregate: str = Field(description="Path of the final aggregate's state_dict.")
    round_aggregates: dict[int, str] = Field(default_factory=dict)
    secure_aggregation: bool = False
