"""A/B comparison of model versions on one pinned evaluation set, and promotion gates.

``compare(candidates, evaluation, metric=...)`` evaluates each candidate as a recorded run
and records paired statistics in the registry; gated aliases move only on a passing one.
Names are imported lazily so importing the package is cheap.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _CallableCompare(types.ModuleType):
    """Once imported, this subpackage is the attribute ``lepton_jupyter.compare``, which
    hides the ``compare()`` function of the same name; calling the module compares, so
    ``from lepton_jupyter import compare; compare(...)`` works either way."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .api import compare

        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableCompare
