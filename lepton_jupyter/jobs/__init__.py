"""Distributed PyTorch jobs launched from a notebook, outliving the kernel.

``launch`` starts one, ``Job`` / ``Job.attach`` follows it, ``jobs`` lists them, and
``report`` (inside the training function) records metrics. Imports are lazy: a rank that
only needs ``report`` never loads the store or pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Job", "jobs", "launch", "report"]

_SOURCES = {"launch": ".api", "Job": ".api", "jobs": ".api", "report": ".metrics"}


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'lepton_jupyter.jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
