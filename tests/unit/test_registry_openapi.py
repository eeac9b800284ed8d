"""The committed OpenAPI document matches the models and covers every registry route."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lepton_jupyter.handlers import compare
from lepton_jupyter.handlers import registry as handlers
from lepton_jupyter.registry import openapi

DOCUMENT = Path(openapi.__file__).with_name("openapi.json")
VERBS = ("get", "post", "put", "patch", "delete")


def test_committed_document_is_up_to_date():
    # Regenerate: python -m lepton_jupyter.registry.openapi > lepton_jupyter/registry/openapi.json
    assert json.loads(DOCUMENT.read_text()) == json.loads(json.dumps(openapi.build()))


def test_every_route_and_verb_is_documented():
    documented = {}
    for path, entry in json.loads(DOCUMENT.read_text())["paths"].items():
        pattern = re.sub(r"\{path\}", "(.+)", path.removeprefix(openapi.PREFIX))
        pattern = re.sub(r"\{\w+\}", "([^/]+)", pattern)
        documented[pattern] = {v for v in entry if v in VERBS}
    served = {
        pattern: {v for v in VERBS if v in vars(handler)}
        for pattern, handler in [*handlers.routes, *compare.registry_routes]
    }
    assert documented == served
