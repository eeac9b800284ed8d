"""The model registry: publish versions, pin them with aliases, roll back, see lineage.

``publish("vision/resnet", model, metrics=...)`` stores an immutable numbered version;
``set_alias("vision/resnet", "prod", 3)`` pins it; ``load("vision/resnet@prod")`` returns
a local path to it anywhere. Names are imported lazily so importing the package is cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = [
    "ModelVersion",
    "delete_version",
    "grant",
    "history",
    "lineage",
    "load",
    "load_state_dict",
    "models",
    "publish",
    "revoke",
    "rollback",
    "set_alias",
    "unyank",
    "versions",
    "yank",
]

_MODULES = {name: ".api" for name in __all__} | {"ModelVersion": ".schema"}

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
