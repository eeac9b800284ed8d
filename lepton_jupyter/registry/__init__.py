"""The model registry: publish versions, pin them with aliases, roll back, see lineage.

``publish("vision/resnet", model, metrics=...)`` stores an immutable numbered version;
``set_alias("vision/resnet", "prod", 3)`` pins it; ``load("vision/resnet@prod")`` returns
a local path to it anywhere. Names are imported lazily so importing the package is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_MODULES = {"ModelVersion": ".schema"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'lepton_jupyter.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES.get(name, ".api"), __name__), name)
