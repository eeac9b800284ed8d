"""Federated training across organisations on Flower: ``federate`` starts a SuperLink and
one SuperNode per organisation as a job; each organisation trains on its own attached
dataset; the aggregate is published with one lineage parent per organisation.

Needs the optional dependencies: ``pip install 'lepton-jupyter[federated]'``. Imports are
lazy, so this package imports without them and says what to install when used.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = [
    "DifferentialPrivacy",
    "Federation",
    "Organisation",
    "SecureAggregation",
    "federate",
]

_SOURCES = {
    "federate": ".api",
    "Federation": ".api",
    "Organisation": ".schema",
    "DifferentialPrivacy": ".schema",
    "SecureAggregation": ".schema",
}

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
