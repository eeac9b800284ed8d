"""A/B comparison of model versions on one pinned evaluation set, and promotion gates.

``compare(candidates, evaluation, metric=...)`` evaluates each candidate as a recorded run
and records paired statistics in the registry; gated aliases move only on a passing one.
Names are imported lazily so importing the package is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "compare": ".api",
    "compare_runs": ".api",
    "rerun_comparison": ".api",
    "get_comparison": ".api",
    "comparisons": ".api",
    "ComparisonResult": ".api",
    "NotComparable": ".comparable",
    "EvaluationFailed": ".evaluate",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lepton_jupyter.compare' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
