"""The Jupyter server extension's REST API as one OpenAPI 3.1 document, and its route.

It holds every route the extension serves: the registry's (as ``lepton registry serve``
has them) and the server's own (status, datasets, jobs, runs, compare).
``python -m lepton_jupyter.handlers.openapi > lepton_jupyter/handlers/openapi.json``
regenerates it; ``GET /lepton/api/openapi.json`` serves it, and the labextension's types
(``labextension/src/openapi.d.ts``) are generated from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..compare.schema import RunsRequest
from ..datasets.schema import (
    AttachedDataset,
    AttachProgressInfo,
    AttachRequest,
    BrowseQuery,
    RegistryListing,
    UpdateRequest,
)
from ..jobs.schema import JobInfo, JobList, JobLogs, JobMetrics, LogsQuery, MetricsQuery
from ..jobs.schema import ListQuery as JobListQuery
from ..openapi import Operation, document, write
from ..registry import openapi as registry_openapi
from ..registry.schema import Comparison
from ..runs.diff import RunDiff
from ..runs.schema import DiffQuery, Manifest, RerunRequest
from ..runs.schema import ListQuery as RunListQuery
from ..scheduler.schema import ChecksRequest, DefinitionChecks, SchedulerStatus, Series
from .registry import DocumentHandler
from .status import Status

DOCUMENT = Path(__file__).with_name("openapi.json")
JOB = "/jobs/{job_id}"
RUN = "/runs/{run_id}"
DEFINITION = "/scheduler/definitions/{definition_id}"

OPERATIONS: dict[str, dict[str, Operation]] = {
    **registry_openapi.OPERATIONS,
    "/status": {"get": Operation("Version, user and configured services", Status)},
    "/datasets": {
        "get": Operation("Datasets attached in the server's root folder", list[AttachedDataset]),
        "post": Operation(
            "Attach a dataset of a data registry, pinned to a revision",
            AttachedDataset,
            body=AttachRequest,
            status=201,
        ),
    },
    "/datasets/browse": {
        "get": Operation(
            "The datasets of a data registry at a revision, and its versions",
            RegistryListing,
            query=BrowseQuery,
        )
    },
    "/datasets/update": {
        "post": Operation(
            "Move an attached dataset to a revision", AttachedDataset, body=UpdateRequest
        )
    },
    "/datasets/progress": {"get": Operation("The attaches running now", list[AttachProgressInfo])},
    "/datasets/{to}": {
        "get": Operation("The dataset attached at a folder", AttachedDataset),
        "delete": Operation("Detach: remove what attach made", AttachedDataset),
    },
    "/jobs": {"get": Operation("Jobs, newest first", JobList, query=JobListQuery)},
    JOB: {"get": Operation("One job", JobInfo)},
    f"{JOB}/cancel": {"post": Operation("Cancel a job: stop every rank", JobInfo)},
    f"{JOB}/logs": {"get": Operation("The ranks' logs", JobLogs, query=LogsQuery)},
    f"{JOB}/metrics": {
        "get": Operation("Metrics reported after an offset", JobMetrics, query=MetricsQuery)
    },
    "/runs": {"get": Operation("Recorded runs, newest first", list[Manifest], query=RunListQuery)},
    RUN: {"get": Operation("One run's manifest", Manifest)},
    f"{RUN}/diff": {
        "get": Operation("A run against its original (or another run)", RunDiff, query=DiffQuery)
    },
    f"{RUN}/output": {
        "get": Operation(
            "The run's output notebook as a static page (read-only view)",
            raw_response=True,
            raw_type="text/html",
        )
    },
    f"{RUN}/rerun": {
        "post": Operation(
            "Rerun a run exactly, under its pins (dry run unless apply)",
            Manifest,
            body=RerunRequest,
            status=201,
        )
    },
    "/scheduler/status": {
        "get": Operation("Whether jupyter-scheduler's jobs are recorded as runs", SchedulerStatus)
    },
    f"{DEFINITION}/checks": {
        "get": Operation("The checks every run of a job definition must pass", DefinitionChecks),
        "put": Operation("Replace a job definition's checks", DefinitionChecks, body=ChecksRequest),
    },
    f"{DEFINITION}/series": {
        "get": Operation("A job definition's runs, with what moved between them", Series)
    },
    "/compare/runs": {
        "post": Operation(
            "Record a comparison assembled from evaluation runs on this server",
            Comparison,
            body=RunsRequest,
            status=201,
        )
    },
}


def build() -> dict[str, Any]:
    return document(
        OPERATIONS,
        "lepton-jupyter server extension",
        "Every route under /lepton/api of a Jupyter server with the extension: status, "
        "datasets, jobs, runs, scheduled runs, compare and the model registry (forwarded to "
        "the shared registry when registry_url is set). Every call is authenticated.",
    )


class ServerDocumentHandler(DocumentHandler):
    """``GET /lepton/api/openapi.json`` of the Jupyter server: this module's document."""

    document = DOCUMENT


routes = [(r"/openapi.json", ServerDocumentHandler)]


if __name__ == "__main__":
    write(build())
