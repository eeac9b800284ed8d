"""OpenAPI 3.1 documents of lepton's REST servers, made from the pydantic models.

Each server has one committed document (``registry/openapi.json`` for ``lepton registry
serve``, ``handlers/openapi.json`` for the Jupyter server extension), written from an
operation table by :func:`document`; tests keep the committed files, the route tables and
the labextension's TypeScript types in step with it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from ._version import __version__

#: Path parameters that may hold slashes (a file inside a version, a dataset's folder).
SLASHED_PARAMETERS = frozenset({"path", "to"})

ERRORS = {
    "400": "Invalid input (the message names the rule)",
    "403": "Not authenticated, or a role the caller has is too small (the one needed named)",
    "404": "Unknown namespace, model, version, alias, file, dataset, job or run (with "
    "suggestions); a namespace the caller has no role in answers as if it did not exist",
    "409": "Conflicts with the current state (e.g. nothing to roll back to, a yanked version)",
    "413": "The request body exceeds the route's limit",
}

_BINARY = {"type": "string", "format": "binary"}


@dataclass
class Operation:
    """One verb on one path: what it takes and what it answers.

    ``response`` is a pydantic model, ``list[Model]``, ``dict`` (any JSON object) or None
    (no body); ``raw_body``/``raw_response`` mean bytes (blob upload, file download).
    """

    summary: str
    response: Any = None
    body: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None
    raw_body: bool = False
    raw_response: bool = False
    #: What a raw response is: a file's bytes, or a page (``text/html``).
    raw_type: str = "application/octet-stream"
    models: list[tuple[type[BaseModel], str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.body is not None:
            self.models.append((self.body, "validation"))
        if self.query is not None:
            self.models.append((self.query, "validation"))
        item = _item(self.response)
        if item is not None:
            self.models.append((item, "serialization"))


class _Schema(GenerateJsonSchema):
    """A reply carries every field (``model_dump``), so in a response all are required."""

    def field_is_required(self, field: Any, total: bool) -> bool:
        return self.mode == "serialization" or super().field_is_required(field, total)


def _item(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = getattr(annotation, "__args__", ())
    return args[0] if len(args) == 1 and issubclass(args[0], BaseModel) else None


def _json(content: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": content}}


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A query model's fields as parameters; ``X | None`` is X (absent means None)."""
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            parameter["description"] = prop["description"]
        if prop.get("type") == "array":
            parameter["style"], parameter["explode"] = "form", False  # comma-separated
        parameters.append(parameter)
    return parameters


def document(
    operations: dict[str, dict[str, Operation]],
    title: str,
    description: str,
    prefix: str = "/lepton/api",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (paths relative to ``prefix``)."""
    pairs = {
        (m, mode) for verbs in operations.values() for op in verbs.values() for m, mode in op.models
    }
    keyed, definitions = models_json_schema(
        sorted(pairs, key=lambda p: (p[0].__name__, p[1])),
        ref_template="#/components/schemas/{model}",
        schema_generator=_Schema,
    )
    schemas = dict(definitions.get("$defs", {}))

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return keyed[(model, mode)]

    queries = {op.query for verbs in operations.values() for op in verbs.values() if op.query}
    query_schemas = {}
    for query in queries:
        name = ref(query, "validation")["$ref"].rsplit("/", 1)[1]
        query_schemas[query] = schemas.pop(name)  # parameters, not a body: not a component
    schemas["Error"] = {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "reason": {"type": "string"}},
    }
    errors = {
        code: {"description": text, "content": _json({"$ref": "#/components/schemas/Error"})}
        for code, text in ERRORS.items()
    }
    paths: dict[str, Any] = {}
    for path, verbs in operations.items():
        names = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        entry: dict[str, Any] = {
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
        }
        for verb, op in verbs.items():
            item = _item(op.response)
            if op.raw_response:
                page = op.raw_type == "text/html"
                reply = {
                    "description": "A page" if page else "The file's bytes",
                    "content": {op.raw_type: {"schema": {"type": "string"} if page else _BINARY}},
                }
            elif item is not None:
                schema = ref(item, "serialization")
                if item is not op.response:
                    schema = {"type": "array", "items": schema}
                reply = {"description": "OK", "content": _json(schema)}
            elif op.response is dict:
                reply = {"description": "OK", "content": _json({"type": "object"})}
            else:
                reply = {"description": "Done"}
            operation: dict[str, Any] = {
                "summary": op.summary,
                "responses": {str(op.status): reply, **errors},
            }
            if op.query is not None:
                operation["parameters"] = _query_parameters(query_schemas[op.query])
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": _json(ref(op.body, "validation")),
                }
            if op.raw_body:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/octet-stream": {"schema": _BINARY}},
                }
            entry[verb] = operation
        paths[prefix + path] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__, "description": description},
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <token>': a Jupyter or JupyterHub token, or one "
                    "given to `lepton registry serve`",
                }
            },
        },
    }


def write(doc: dict[str, Any]) -> None:
    """Print a document as committed (``python -m <module> > <module>.json``)."""
    json.dump(doc, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
