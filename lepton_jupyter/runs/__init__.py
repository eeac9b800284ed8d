"""Reproducible runs: a manifest for every run, exact reruns under pins, run diffs.

``from lepton_jupyter.runs import rerun, list_runs, get_run, diff_runs, Run``. Names are imported
lazily: papermill loads ``lepton_jupyter.runs.engine`` through this package, and a batch run
should not pay for what it does not use.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
