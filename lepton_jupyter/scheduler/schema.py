"""Pydantic models of scheduled runs for REST and storage: a definition's checks and its
series of runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..runs.schema import CheckResult, RunStatus


class DefinitionChecks(BaseModel):
    """The checks every run of one job definition must pass (see ``checks.py``)."""

    job_definition_id: str
    checks: list[str] = Field(
        default_factory=list,
        description="'accuracy >= 0.9', 'loss <= previous + 5%': a failing one fails the run.",
    )


class ChecksRequest(BaseModel):
    checks: list[str] = Field(default_factory=list, max_length=50)


class SeriesPoint(BaseModel):
    """One run of a definition and what moved since the previous successful run."""

    run_id: str
    job_id: str
    status: RunStatus
    started_at: datetime
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    previous_run: str | None = Field(
        default=None, description="The earlier successful run this one is compared with."
    )
    changes: list[str] = Field(
        default_factory=list,
        description="Pins (data commit, model alias) and parameters that changed since the "
        "previous successful run, in words.",
    )
    deltas: dict[str, float] = Field(
        default_factory=dict, description="Metric -> this value minus the previous run's."
    )
    checks: list[CheckResult] = Field(default_factory=list)


class Series(BaseModel):
    """Every recorded run of one job definition, oldest first."""

    job_definition_id: str
    job_name: str = ""
    metrics: list[str] = Field(default_factory=list, description="Every metric any run logged.")
    checks: list[str] = Field(default_factory=list)
    points: list[SeriesPoint] = Field(default_factory=list)


class SchedulerStatus(BaseModel):
    """Whether jupyter-scheduler is installed and runs its jobs under the lepton engine."""

    installed: bool
    enabled: bool
    message: str = Field(description="What to install or configure, in one line.")
