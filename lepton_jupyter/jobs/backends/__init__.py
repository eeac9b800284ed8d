"""Job backends by name: the built-in ``local`` one, plus any installed package's.

A package adds a backend with an entry point in the ``lepton_jupyter.job_backends`` group
naming a :class:`~lepton_jupyter.jobs.backends.base.Backend` subclass.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from ...errors import Invalid, did_you_mean
from .base import Backend

ENTRY_POINT_GROUP = "lepton_jupyter.job_backends"
BUILTIN = {
    "local": "lepton_jupyter.jobs.backends.local:LocalBackend",
    "slurm": "lepton_jupyter.jobs.backends.slurm:SlurmBackend",
}


def _available() -> dict[str, str]:
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def backend_names() -> list[str]:
    return sorted(_available())


def _target(name: str) -> str:
    """Where backend ``name`` is defined; Invalid naming the known ones when it is none.
    A built-in is found without reading every installed package's entry points (built-ins
    win over a package's of the same name anyway): that read costs 80 ms, twice a launch."""
    if name in BUILTIN:
        return BUILTIN[name]
    known = _available()
    if name not in known:
        raise Invalid(
            f"Unknown job backend {name!r}; known: {', '.join(sorted(known))}."
            + did_you_mean(name, list(known))
        )
    return known[name]


def check_backend(name: str) -> None:
    """Raise Invalid naming the known backends when ``name`` is not one of them."""
    _target(name)


def backend_class(name: str) -> type[Backend]:
    module, _, attr = _target(name).partition(":")
    return getattr(importlib.import_module(module), attr)
