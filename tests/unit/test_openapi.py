"""The committed OpenAPI documents match the models and cover every route of their server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lepton_jupyter.handlers import API_PREFIX, api_routes, compare, status
from lepton_jupyter.handlers import openapi as server_openapi
from lepton_jupyter.handlers import registry as handlers
from lepton_jupyter.handlers.base import LeptonHandler
from lepton_jupyter.openapi import SLASHED_PARAMETERS
from lepton_jupyter.registry import openapi as registry_openapi

VERBS = ("get", "post", "put", "patch", "delete")
REGISTRY_ROUTES = [*handlers.routes, *compare.registry_routes, *handlers.document_routes]
SERVER_FALLBACK = {API_PREFIX + path for path, _ in status.fallback_routes}
DOCUMENTS = {
    # Regenerate: python -m lepton_jupyter.<module>.openapi > lepton_jupyter/<module>/openapi.json
    "lepton registry serve": (registry_openapi, [(API_PREFIX + p, h) for p, h in REGISTRY_ROUTES]),
    "jupyter server": (
        server_openapi,
        [(p, h) for p, h in api_routes() if p not in SERVER_FALLBACK],
    ),
}


def _document(module) -> dict:
    return json.loads(Path(module.__file__).with_name("openapi.json").read_text())


@pytest.mark.parametrize("server", DOCUMENTS)
def test_committed_document_is_up_to_date(server):
    module, _ = DOCUMENTS[server]
    assert _document(module) == json.loads(json.dumps(module.build()))


def _unnamed(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>", "(", pattern)


def _verbs(handler: type) -> set[str]:
    """The verbs a lepton handler class (or a lepton base of it) defines."""
    lepton = [c for c in handler.__mro__ if issubclass(c, LeptonHandler)]
    return {v for v in VERBS if any(v in vars(c) for c in lepton)}


@pytest.mark.parametrize("server", DOCUMENTS)
def test_every_route_and_verb_is_documented(server):
    module, routes = DOCUMENTS[server]
    documented = {}
    for path, entry in _document(module)["paths"].items():
        pattern = path
        for name in SLASHED_PARAMETERS:
            pattern = pattern.replace(f"{{{name}}}", "(.+)")
        pattern = re.sub(r"\{\w+\}", "([^/]+)", pattern)
        documented[pattern] = {v for v in entry if v in VERBS}
    served = {_unnamed(pattern): _verbs(h) for pattern, h in routes}
    assert documented == served
