"""The registry REST API (``lepton registry serve``) as an OpenAPI 3.1 document.

``python -m lepton_jupyter.registry.openapi > lepton_jupyter/registry/openapi.json``
regenerates the committed document, served at ``GET /lepton/api/openapi.json``; a test
keeps the two, and the route table, in step.
"""

from __future__ import annotations

from typing import Any

from ..openapi import Operation, document, write
from .schema import (
    AliasEvent,
    AliasInfo,
    Comparison,
    ComparisonRequest,
    ComparisonsQuery,
    DeleteQuery,
    FsckReport,
    FsckRequest,
    GateReport,
    GatesQuery,
    GrantInfo,
    GrantRequest,
    Lineage,
    LoadRequest,
    MissingBlobs,
    MissingBlobsRequest,
    ModelSummary,
    ModelVersion,
    NamespaceInfo,
    NamespaceQuery,
    PublishCheck,
    PublishCheckQuery,
    PublishRequest,
    RefQuery,
    SetAliasRequest,
    VersionDeletion,
    VersionsQuery,
    YankRequest,
)

MODEL = "/registry/models/{namespace}/{model}"

OPERATIONS: dict[str, dict[str, Operation]] = {
    "/openapi.json": {"get": Operation("This document", dict)},
    "/registry/models": {
        "get": Operation("Models the caller can read", list[ModelSummary], query=NamespaceQuery)
    },
    "/registry/resolve": {
        "get": Operation(
            "Resolve a reference (ns/model@alias, ns/model:N, ns/model)",
            ModelVersion,
            query=RefQuery,
        )
    },
    "/registry/lineage": {
        "get": Operation(
            "Lineage of a version and the runs that loaded it", Lineage, query=RefQuery
        )
    },
    "/registry/publish-check": {
        "get": Operation(
            "Whether a publish (and its alias) would be accepted: its error if not",
            PublishCheck,
            query=PublishCheckQuery,
        )
    },
    f"{MODEL}/versions": {
        "get": Operation(
            "Versions of a model, oldest first (a page: the newest limit below before; "
            "yanked ones only if asked)",
            list[ModelVersion],
            query=VersionsQuery,
        ),
        "post": Operation(
            "Publish the next version (its files uploaded first)",
            ModelVersion,
            body=PublishRequest,
            status=201,
        ),
    },
    f"{MODEL}/versions/{{version}}": {
        "get": Operation("One version", ModelVersion),
        "delete": Operation(
            "Hard-delete a yanked version (admin): its files and the blobs only it held go, "
            "its number stays taken; refused while an alias or a comparison points at it",
            VersionDeletion,
            query=DeleteQuery,
        ),
    },
    f"{MODEL}/versions/{{version}}/loads": {
        "post": Operation(
            "Record that a run loaded this version", dict, body=LoadRequest, status=201
        )
    },
    f"{MODEL}/versions/{{version}}/yank": {
        "post": Operation(
            "Withdraw a version (maintainer): hidden from listings and aliases, still "
            "loadable by its number, with the reason",
            ModelVersion,
            body=YankRequest,
        ),
        "delete": Operation(
            "Restore a yanked version (maintainer); aliases are not moved back onto it",
            ModelVersion,
        ),
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
    "/registry/namespaces/{namespace}/grants/{subject_kind}/{subject}": {
        "delete": Operation("Revoke the grant of a user or a group (admin)", GrantInfo)
    },
    "/registry/blobs/missing": {
        "post": Operation(
            "Which of these blob addresses still need uploading",
            MissingBlobs,
            body=MissingBlobsRequest,
        )
    },
    "/registry/fsck": {
        "post": Operation(
            "Check the blob store against the metadata and (gc) collect orphans past the "
            "upload grace; registry admins only; a dry run unless dry_run is false",
            FsckReport,
            body=FsckRequest,
        )
    },
    "/registry/comparisons": {
        "get": Operation(
            "Comparisons of a version or a model, newest first",
            list[Comparison],
            query=ComparisonsQuery,
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
            query=GatesQuery,
        )
    },
    "/registry/blobs/{address}": {
        "put": Operation(
            "Upload a blob; refused (409) unless its bytes hash to the address",
            dict,
            raw_body=True,
            status=201,
        )
    },
}


def build() -> dict[str, Any]:
    return document(
        OPERATIONS,
        "lepton model registry",
        "Served by `lepton registry serve` (and, as part of its own document, by the "
        "Jupyter server extension); every call is authenticated and the caller's role on "
        "the namespace is checked.",
    )


if __name__ == "__main__":
    write(build())
