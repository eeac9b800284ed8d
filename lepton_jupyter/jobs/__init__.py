"""Distributed PyTorch jobs launched from a notebook, outliving the kernel.

``launch`` starts one, ``Job`` / ``Job.attach`` follows it, ``jobs`` lists them, and
``report`` (inside the training function) records metrics. Imports are lazy: a rank that
only needs ``report`` never loads the store or pydantic.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .._lazy import lazy_exports

__all__ = ["Job", "jobs", "launch", "report"]

_SOURCES = {"launch": ".api", "Job": ".api", "jobs": ".api", "report": ".metrics"}

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)


class _CallableJobs(types.ModuleType):
    """Once imported, this subpackage is the attribute ``lepton_jupyter.jobs``, which
    hides the ``jobs()`` function of the same name; calling the module lists jobs, so
    ``from lepton_jupyter import jobs; jobs()`` works either way."""

    def __call__(self, status: str | None = None) -> Any:
        from .api import jobs

        return jobs(status)


sys.modules[__name__].__class__ = _CallableJobs
