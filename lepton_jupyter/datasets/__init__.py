"""Datasets from a DVC data registry, attached as pinned DVC imports via a shared cache.

``browse(url, rev)`` lists a registry's datasets and versions; ``attach(url, path, rev, to)``
places one in the workspace; ``attached()``, ``update(to, rev)``, ``detach(to)`` manage
them; ``verify()`` rehashes the shared cache, ``prune_mirrors()`` removes unused mirrors of
remote registries. Names are imported lazily: importing this
package does not import DVC.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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
    "prune_mirrors",
    "update",
    "verify",
]

_MODULES = {
    "attach": ".api",
    "attached": ".api",
    "browse": ".api",
    "default_registry": ".api",
    "detach": ".api",
    "prune_mirrors": ".api",
    "update": ".api",
    "verify": ".api",
    "DatasetService": ".service",
    "AttachProgress": ".schema",
    "AttachedDataset": ".schema",
    "CacheReport": ".schema",
    "RegistryListing": ".schema",
}

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
