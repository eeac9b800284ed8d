"""Scheduled and recurring runs on jupyter-scheduler (the ``[scheduler]`` extra).

``LeptonExecutionManager`` executes jupyter-scheduler's jobs under the lepton engine, so
each records a run manifest; runs of one job definition form a series, each diffed against
the previous successful run and held to the definition's checks. Names are imported lazily:
only the execution manager needs jupyter-scheduler.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "LeptonExecutionManager": ".executor",
    "ScheduledRunService": ".service",
    "set_checks": ".api",
    "get_checks": ".api",
    "series": ".api",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
