"""Reproducible runs: a manifest for every run, exact reruns under pins, run diffs.

``from lepton_jupyter.runs import rerun, list_runs, get_run, diff_runs, Run``. Names are imported
lazily: papermill loads ``lepton_jupyter.runs.engine`` through this package, and a batch run
should not pay for what it does not use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Run": ".api",
    "rerun": ".api",
    "list_runs": ".api",
    "get_run": ".api",
    "diff_runs": ".api",
    "record_run": ".interactive",
    "RunDiff": ".diff",
    "Manifest": ".schema",
    "RunFailed": ".rerunner",
    "RunService": ".service",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lepton_jupyter.runs' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
