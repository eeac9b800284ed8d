"""The compare subsystem's own REST request; the comparisons themselves are the registry's
(:mod:`lepton_jupyter.registry.schema`), which stores them as promotion evidence."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RunsRequest(BaseModel):
    """REST: assemble a comparison from recorded evaluation runs."""

    runs: list[str] = Field(min_length=2, max_length=50)
    metric: str = Field(min_length=1)
    candidate_parameter: str = "candidate"
    higher_is_better: bool = True
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
