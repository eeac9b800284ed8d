"""Scheduled and recurring runs on jupyter-scheduler (the ``[scheduler]`` extra).

``LeptonExecutionManager`` executes jupyter-scheduler's jobs under the lepton engine, so
each records a run manifest; runs of one job definition form a series, each diffed against
the previous successful run and held to the definition's checks. Names are imported lazily:
only the execution manager needs jupyter-scheduler.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "LeptonExecutionManager": ".executor",
    "ScheduledRunService": ".service",
    "set_checks": ".api",
    "get_checks": ".api",
    "series": ".api",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lepton_jupyter.scheduler' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
