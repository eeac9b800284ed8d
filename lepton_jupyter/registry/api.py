"""The registry's public API: what notebooks, widgets, magics and the CLI call.

Resolutions are written to the run ledger (``pins``) and a rerun's pins are honoured, so
``load("vision/resnet@prod")`` in a rerun returns the version the original run loaded
even after ``prod`` moved. ``publish`` reads the same ledger to record lineage.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from .. import pins
from ..errors import Conflict, Invalid, NotFound
from .client import get_client
from .schema import (
    AliasEvent,
    AliasInfo,
    GrantInfo,
    Lineage,
    LoadRequest,
    ModelSummary,
    ModelVersion,
)


def _notebook() -> str | None:
    return os.environ.get("LEPTON_NOTEBOOK_PATH") or os.environ.get("JPY_SESSION_NAME") or None


def _workspace_git() -> dict[str, Any] | None:
    """The commit of the git repo around the working directory, and whether it is dirty."""
    from scmrepo.exceptions import SCMError
    from scmrepo.git import Git

    try:
        git = Git(os.getcwd())
        return {
            "commit": git.get_rev(),
            "dirty": git.is_dirty(untracked_files=False),
            "root": str(git.root_dir),
        }
    except (SCMError, OSError, ValueError):
        return None


def capture_lineage() -> dict[str, Any]:
    """What this process attached, loaded and launched so far, from its run ledger."""
    datasets: dict[str, dict[str, Any]] = {}
    parents: dict[str, dict[str, Any]] = {}
    jobs: list[str] = []
    for entry in pins.ledger().entries():
        if entry["kind"] == "dataset":
            datasets[entry["key"]] = {
                k: entry.get(k) for k in ("url", "path", "rev", "commit", "hash")
            }
        elif entry["kind"] == "model":
            parents[f"{entry.get('name')}:{entry.get('version')}"] = {
                "ref": entry["key"],
                "name": entry.get("name"),
                "version": entry.get("version"),
                "digest": entry.get("digest"),
            }
        elif entry["kind"] == "job" and entry["key"] not in jobs:
            jobs.append(entry["key"])
    return {
        "datasets": list(datasets.values()),
        "parents": list(parents.values()),
        "jobs": jobs,
        "notebook": _notebook(),
        "git": _workspace_git(),
        "user": getpass.getuser(),
    }


def publish(
    name: str,
    obj: Any,
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    description: str | None = None,
    alias: str | None = None,
) -> ModelVersion:
    """Store ``obj`` (an ``nn.Module``'s state_dict, a file or a folder) as the next version.

    Lineage (datasets, parent models, jobs, notebook, git commit) is taken from this
    process's run ledger; ``alias`` (e.g. ``"staging"``) is moved to the new version in the
    same transaction.
    """
    version = get_client().publish(
        name,
        obj,
        description=description or "",
        metrics=metrics,
        params=params,
        lineage=capture_lineage(),
        alias=alias,
    )
    pins.record(
        "publish", version.ref, name=version.name, version=version.version, digest=version.digest
    )
    return version


def resolve(ref: str) -> ModelVersion:
    """The version ``ref`` names now, or the one a rerun pinned; recorded in the ledger."""
    client = get_client()
    pin = pins.pinned("model", ref)
    if pin is None:
        version = client.resolve(ref)
    else:
        pinned_ref = f"{pin['name']}:{pin['version']}"
        try:
            version = client.resolve(pinned_ref)
        except NotFound as e:
            raise NotFound(
                f"This rerun pins {ref!r} to {pinned_ref}, which no longer exists ({e.message})"
            ) from e
        if pin.get("digest") and pin["digest"] != version.digest:
            raise Conflict(
                f"This rerun pins {ref!r} to {pinned_ref} with content "
                f"{pin['digest']}, but the registry now has {version.digest}."
            )
    pins.record("model", ref, name=version.name, version=version.version, digest=version.digest)
    return version


def load(ref: str) -> Path:
    """A local path to the version's files: its entry file, or its folder.

    The files are hard links into the local cache (read-only: edit a copy), so loading a
    version that is already local takes a lookup, not a copy.
    """
    client = get_client()
    version = resolve(ref)
    path = client.materialize(version)
    loader = LoadRequest(
        notebook=_notebook() or "", job=os.environ.get("LEPTON_JOB_ID", ""), run=pins.run_id() or ""
    )
    client.record_load(version, loader)
    return path


def load_state_dict(ref: str, map_location: str = "cpu") -> dict[str, Any]:
    """The state_dict of a version published from an ``nn.Module`` or a checkpoint file."""
    import torch

    path = load(ref)
    if path.is_dir():
        raise Invalid(
            f"{ref!r} is a folder; load_state_dict needs a version published from "
            "an nn.Module or a single checkpoint file (use load() for folders)."
        )
    return torch.load(path, map_location=map_location, weights_only=True)


def models(namespace: str | None = None) -> list[ModelSummary]:
    """Models you can read, optionally in one namespace."""
    return get_client().models(namespace)


def versions(name: str) -> list[ModelVersion]:
    return get_client().versions(name)


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    comparison: int | None = None,
    override: str | None = None,
) -> AliasInfo:
    """Point ``alias`` at ``version``; protected aliases (``prod``) need the maintainer role.

    A gated alias (``promotion_gates``) needs a passing comparison of ``version`` against
    the current holder (``comparison`` names one; else the newest is used) or, from a
    maintainer, an ``override`` reason. Rollback is never gated.
    """
    return get_client().set_alias(name, alias, version, comparison=comparison, override=override)


def rollback(name: str, alias: str) -> AliasInfo:
    """Move ``alias`` back to the version it pointed at before its latest move."""
    return get_client().rollback(name, alias)


def history(name: str, alias: str) -> list[AliasEvent]:
    """Who moved ``alias`` when, oldest first."""
    return get_client().history(name, alias)


def lineage(ref: str) -> Lineage:
    return get_client().lineage(ref)


def grant(
    namespace: str, role: str, user: str | None = None, group: str | None = None
) -> GrantInfo:
    """Give a user or a group (a team, an organisation; ``"*"`` = everyone) a role."""
    return get_client().grant(namespace, role, user=user, group=group)  # type: ignore[arg-type]
