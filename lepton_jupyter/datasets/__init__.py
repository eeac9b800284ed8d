"""Datasets from a DVC data registry, attached as pinned DVC imports via a shared cache.

``browse(url, rev)`` lists a registry's datasets and versions; ``attach(url, path, rev, to)``
places one in the workspace; ``attached()``, ``update(to, rev)``, ``detach(to)`` manage
them; ``verify()`` rehashes the shared cache. Names are imported lazily: importing this
package does not import DVC.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AttachProgress",
    "AttachedDataset",
    "CacheReport",
    "DatasetService",
    "RegistryListing",
    "attach",
    "attached",
    "browse",
    "default_registry",
    "detach",
    "update",
    "verify",
]

_MODULES = {
    "attach": ".api",
    "attached": ".api",
    "browse": ".api",
    "default_registry": ".api",
    "detach": ".api",
    "update": ".api",
    "verify": ".api",
    "DatasetService": ".service",
    "AttachProgress": ".schema",
    "AttachedDataset": ".schema",
    "CacheReport": ".schema",
    "RegistryListing": ".schema",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'lepton_jupyter.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
