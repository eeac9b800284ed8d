"""The registry REST API as an OpenAPI 3.1 document, built from the pydantic models.

``python -m lepton_jupyter.registry.openapi > lepton_jupyter/registry/openapi.json``
regenerates the committed document; a test keeps the two, and the route table, in step.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .._version import __version__
from ..compare.schema import Comparison, ComparisonRequest, GateReport
from .schema import (
    AliasEvent,
    AliasInfo,
    GrantInfo,
    GrantRequest,
    Lineage,
    LoadRequest,
    MissingBlobs,
    MissingBlobsRequest,
    ModelSummary,
    ModelVersion,
    NamespaceInfo,
    PublishRequest,
    SetAliasRequest,
)

PREFIX = "/lepton/api"
MODEL = "/registry/models/{namespace}/{model}"


class Operation:
    def __init__(
        self,
        summary: str,
        response: Any = None,
        *,
        body: type[BaseModel] | None = None,
        status: int = 200,
        query: dict[str, str] | None = None,
        raw_body: bool = False,
        raw_response: bool = False,
    ) -> None:
        self.summary = summary
        self.response = response
        self.body = body
        self.status = status
        self.query = query or {}
        self.raw_body = raw_body
        self.raw_response = raw_response


OPERATIONS: dict[str, dict[str, Operation]] = {
    "/registry/models": {
        "get": Operation(
            "Models the caller can read",
            list[ModelSummary],
            query={"namespace": "Only this namespace"},
        )
    },
    "/registry/resolve": {
        "get": Operation(
            "Resolve a reference (ns/model@alias, ns/model:N, ns/model)",
            ModelVersion,
            query={"ref": "The reference"},
        )
    },
    "/registry/lineage": {
        "get": Operation(
            "Lineage of a version and the runs that loaded it",
            Lineage,
            query={"ref": "The reference"},
        )
    },
    f"{MODEL}/versions": {
        "get": Operation("Versions of a model, oldest first", list[ModelVersion]),
        "post": Operation(
            "Publish the next version (its files uploaded first)",
            ModelVersion,
            body=PublishRequest,
            status=201,
        ),
    },
    f"{MODEL}/versions/{{version}}": {"get": Operation("One version", ModelVersion)},
    f"{MODEL}/versions/{{version}}/loads": {
        "post": Operation(
            "Record that a run loaded this version", None, body=LoadRequest, status=201
        )
    },
    f"{MODEL}/versions/{{version}}/files/{{path}}": {
        "get": Operation(
            "Download a file of the version (header X-Lepton-Digest: its address)",
            raw_response=True,
        )
    },
    f"{MODEL}/aliases": {"get": Operation("Aliases of a model", list[AliasInfo])},
    f"{MODEL}/aliases/{{alias}}": {
        "get": Operation("Where an alias points", AliasInfo),
        "put": Operation(
            "Point an alias at a version (protected aliases: maintainer)",
            AliasInfo,
            body=SetAliasRequest,
        ),
    },
    f"{MODEL}/aliases/{{alias}}/rollback": {
        "post": Operation(
            "Move an alias back to where it pointed before its latest move", AliasInfo
        )
    },
    f"{MODEL}/aliases/{{alias}}/history": {
        "get": Operation("Every move of an alias, oldest first", list[AliasEvent])
    },
    "/registry/namespaces/{namespace}": {
        "get": Operation("The caller's role on a namespace and its grants", NamespaceInfo)
    },
    "/registry/namespaces/{namespace}/grants": {
        "get": Operation("Grants on a namespace", list[GrantInfo]),
        "post": Operation(
            "Grant a user or a group a role (admin)", GrantInfo, body=GrantRequest, status=201
        ),
    },
    "/registry/blobs/missing": {
        "post": Operation(
            "Which of these blob addresses still need uploading",
            MissingBlobs,
            body=MissingBlobsRequest,
        )
    },
    "/registry/comparisons": {
        "get": Operation(
            "Comparisons of a version or a model, newest first",
            list[Comparison],
            query={
                "ref": "Only comparisons of this version (ns/model:N)",
                "name": "Only comparisons of this model",
                "limit": "At most this many",
            },
        ),
        "post": Operation(
            "Record a comparison; the registry recomputes its statistics",
            Comparison,
            body=ComparisonRequest,
            status=201,
        ),
    },
    "/registry/comparisons/{comparison_id}": {
        "get": Operation("One comparison (readers of every candidate)", Comparison)
    },
    "/registry/gates": {
        "get": Operation(
            "Gated aliases of a model: holder and each recent comparison's verdict",
            list[GateReport],
            query={"name": "The model (ns/model)"},
        )
    },
    "/registry/blobs/{address}": {
        "put": Operation(
            "Upload a blob; refused (409) unless its bytes hash to the address",
            raw_body=True,
            status=201,
        )
    },
}

ERRORS = {
    "400": "Invalid input (the message names the rule)",
    "403": "Not authenticated, or the role needed (named) is missing",
    "404": "Unknown namespace, model, version, alias or file (with suggestions)",
    "409": "Conflicts with the current state (e.g. nothing to roll back to)",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _schema(annotation: Any) -> dict[str, Any]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _ref(annotation)
    (item,) = annotation.__args__  # list[Model]
    return {"type": "array", "items": _ref(item)}


def build() -> dict[str, Any]:
    models = {
        ModelSummary,
        ModelVersion,
        Lineage,
        PublishRequest,
        LoadRequest,
        AliasInfo,
        SetAliasRequest,
        AliasEvent,
        NamespaceInfo,
        GrantInfo,
        GrantRequest,
        MissingBlobs,
        MissingBlobsRequest,
        Comparison,
        ComparisonRequest,
        GateReport,
    }
    _, definitions = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas = dict(sorted(definitions.get("$defs", {}).items()))
    schemas["Error"] = {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "reason": {"type": "string"}},
    }
    paths: dict[str, Any] = {}
    for path, verbs in OPERATIONS.items():
        names = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        entry: dict[str, Any] = {
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
        }
        for verb, op in verbs.items():
            responses: dict[str, Any] = {}
            if op.raw_response:
                responses[str(op.status)] = {
                    "description": "The file's bytes",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                }
            elif op.response is not None:
                responses[str(op.status)] = {
                    "description": "OK",
                    "content": {"application/json": {"schema": _schema(op.response)}},
                }
            else:
                responses[str(op.status)] = {"description": "Done"}
            for code, text in ERRORS.items():
                responses[code] = {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            operation: dict[str, Any] = {"summary": op.summary, "responses": responses}
            if op.query:
                operation["parameters"] = [
                    {
                        "name": n,
                        "in": "query",
                        "required": n == "ref",
                        "description": d,
                        "schema": {"type": "string"},
                    }
                    for n, d in op.query.items()
                ]
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.body)}},
                }
            if op.raw_body:
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                }
            entry[verb] = operation
        paths[PREFIX + path] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lepton model registry",
            "version": __version__,
            "description": "Served by the Jupyter server extension and by "
            "`lepton registry serve`; every call is authenticated and "
            "the caller's role on the namespace is checked.",
        },
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
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


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
