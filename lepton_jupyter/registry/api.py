"""The registry's public API: what notebooks, widgets, magics and the CLI call.

Resolutions are written to the run ledger (``pins``) and a rerun's pins are honoured, so
``load("vision/resnet@prod")`` in a rerun returns the version the original run loaded
even after ``prod`` moved. ``publish`` reads the same ledger to record lineage.
"""

from __future__ import annotations

import getpass
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import pins
from ..errors import Conflict, Invalid, NotFound
from ..gitstate import git_state
from ..jobs.folder import JOB_ID_ENV
from .client import get_client
from .grammar import manifest_digest, parse_name
from .schema import (
    AliasEvent,
    AliasInfo,
    GrantInfo,
    Lineage,
    LoadRequest,
    ModelSummary,
    ModelVersion,
    VersionDeletion,
)


class YankedVersionWarning(UserWarning):
    """A version loaded by its number (or a rerun's pin) was yanked: the reason says why."""


def _notebook() -> str | None:
    return os.environ.get("LEPTON_NOTEBOOK_PATH") or os.environ.get("JPY_SESSION_NAME") or None


def _workspace_git() -> dict[str, Any] | None:
    """The commit of the git repo around the working directory, and whether it is dirty."""
    state = git_state(os.getcwd())
    if state is None or state.commit is None:
        return None
    return {"commit": state.commit, "dirty": state.dirty, "root": state.root}


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
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """Store ``obj`` (an ``nn.Module``'s state_dict, a file or a folder) as the next version.

    Lineage (datasets, parent models, jobs, notebook, git commit) is taken from this
    process's run ledger, with ``lineage``'s keys over it (a federation names its
    organisations as parents); ``alias`` (e.g. ``"staging"``) is moved to the new version
    in the same transaction.

    In a dry-run rerun nothing is stored: the files are hashed, the digest this publish
    would have made is recorded (the rerun's diff compares it with the original run's),
    and the version the original run published is returned in its place.
    """
    recorded = {**capture_lineage(), **(lineage or {})}
    if pins.dry_run():
        return _publish_dry_run(name, obj, metrics, params, description, alias, recorded)
    version = get_client().publish(
        name,
        obj,
        description=description or "",
        metrics=metrics,
        params=params,
        lineage=recorded,
        alias=alias,
    )
    pins.record(
        "publish",
        version.ref,
        name=version.name,
        version=version.version,
        digest=version.digest,
        alias=alias,
    )
    return version


def _qualified(name: str) -> str:
    namespace, model = parse_name(name, get_client().principal)
    return f"{namespace}/{model}"


def _publish_dry_run(
    name: str,
    obj: Any,
    metrics: dict[str, Any] | None,
    params: dict[str, Any] | None,
    description: str | None,
    alias: str | None,
    lineage: dict[str, Any],
) -> ModelVersion:
    client = get_client()
    full = _qualified(name)
    staged, files = client.would_publish(obj)
    digest = manifest_digest(files)
    number = _dry_run_number(full)
    pins.record(
        "publish",
        f"{full}:{number}",
        name=full,
        version=number,
        digest=digest,
        alias=alias,
        applied=False,
    )
    return ModelVersion(
        name=full,
        version=number,
        digest=digest,
        kind=staged.kind,  # type: ignore[arg-type]
        entry=staged.entry,
        size=sum(f.size for f in files),
        description=description or "",
        metrics=metrics or {},
        params=params or {},
        lineage=lineage,
        created_by=client.principal.user,
        created_at=datetime.now(timezone.utc),
        aliases=[alias] if alias else [],
        files=files,
    )


def _dry_run_number(name: str) -> int:
    """The number a dry-run publish stands for: the n-th publish of ``name`` in the
    original run gets that run's n-th version; one beyond gets the next free number."""
    done = [e for e in pins.ledger().entries("publish") if e.get("name") == name]
    original = [e for e in pins.recorded("publish") if e.get("name") == name]
    if len(done) < len(original):
        return int(original[len(done)]["version"])
    try:
        latest = max(v.version for v in get_client().versions(name))
    except NotFound:
        latest = 0
    return max([latest, *(int(e["version"]) for e in done)]) + 1


def _digest_of(name: str, version: int) -> str:
    """The content of ``name:version``, including a version a dry run only pretended."""
    for entry in reversed(pins.ledger().entries("publish")):
        if entry.get("name") == name and entry.get("version") == version:
            return str(entry["digest"])
    return get_client().resolve(f"{name}:{version}").digest


def _alias_view(found: list[ModelVersion]) -> list[ModelVersion]:
    """In a rerun, each version's aliases as the original run saw them (its pins)."""
    pinned: dict[tuple[str, str], int] = {}
    for (kind, key), entry in pins.pins().items():
        if kind == "model" and "@" in key and entry.get("name"):
            pinned[(entry["name"], key.rsplit("@", 1)[1])] = int(entry["version"])
    if not pinned:
        return found
    for v in found:
        held = {a for (n, a), number in pinned.items() if n == v.name and number == v.version}
        moved = {a for (n, a) in pinned if n == v.name}
        v.aliases = sorted((set(v.aliases) - moved) | held)
    return found


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
    if version.yanked is not None:
        warnings.warn(
            f"{version.ref} was yanked by {version.yanked.by}: {version.yanked.reason}",
            YankedVersionWarning,
            stacklevel=2,
        )
    pins.record("model", ref, name=version.name, version=version.version, digest=version.digest)
    return _alias_view([version])[0]


def load(ref: str) -> Path:
    """A local path to the version's files: its entry file, or its folder.

    The files are hard links into the local cache (read-only: edit a copy), so loading a
    version that is already local takes a lookup, not a copy.
    """
    client = get_client()
    version = resolve(ref)
    path = client.materialize(version)
    if not pins.dry_run():  # who loaded what is shared: a dry-run rerun does not add to it
        loader = LoadRequest(
            notebook=_notebook() or "",
            job=os.environ.get(JOB_ID_ENV, ""),
            run=pins.run_id() or "",
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


def models(namespace: str | None = None, *, include_yanked: bool = False) -> list[ModelSummary]:
    """Models you can read, optionally in one namespace; with ``include_yanked`` also
    those whose every version is yanked (``latest`` None)."""
    return get_client().models(namespace, include_yanked=include_yanked)


def versions(
    name: str,
    *,
    limit: int | None = None,
    before: int | None = None,
    include_yanked: bool = False,
) -> list[ModelVersion]:
    """Versions of ``name``, oldest first, yanked ones only if asked (each then says why);
    with ``limit``: the newest ``limit`` numbered below ``before``, one page. In a rerun,
    with the aliases the original run resolved."""
    client = get_client()
    found = client.versions(name, limit=limit, before=before, include_yanked=include_yanked)
    return _alias_view(found)


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

    In a dry-run rerun the move is recorded in the run ledger, not made.
    """
    if pins.dry_run():
        full = _qualified(name)
        return _record_alias(
            AliasInfo(name=full, alias=alias, version=version, digest=_digest_of(full, version)),
            applied=False,
        )
    info = get_client().set_alias(name, alias, version, comparison=comparison, override=override)
    return _record_alias(info, applied=True)


def rollback(name: str, alias: str) -> AliasInfo:
    """Move ``alias`` back to the version it pointed at before its latest move.

    In a dry-run rerun the move is recorded in the run ledger, not made.
    """
    if pins.dry_run():
        events = get_client().history(name, alias)
        if not events or events[-1].previous is None:
            raise Conflict(f"{name}@{alias} has no earlier version to roll back to.")
        full = _qualified(name)
        previous = events[-1].previous
        return _record_alias(
            AliasInfo(name=full, alias=alias, version=previous, digest=_digest_of(full, previous)),
            applied=False,
        )
    return _record_alias(get_client().rollback(name, alias), applied=True)


def _record_alias(info: AliasInfo, applied: bool) -> AliasInfo:
    pins.record(
        "alias",
        f"{info.name}@{info.alias}",
        name=info.name,
        alias=info.alias,
        version=info.version,
        digest=info.digest,
        applied=applied,
    )
    return info


def history(name: str, alias: str) -> list[AliasEvent]:
    """Who moved ``alias`` when, oldest first."""
    return get_client().history(name, alias)


def lineage(ref: str) -> Lineage:
    """Where the version ``ref`` names came from, and who loaded it.

    In a rerun, ``ref`` names the version the original run saw, and only the loads made
    before the original run asked are listed.
    """
    client = get_client()
    pin = pins.pinned("lineage", ref) or pins.pinned("model", ref)
    if pin is None:
        found = client.lineage(ref)
    else:
        found = client.lineage(f"{pin['name']}:{pin['version']}")
        if pin["kind"] == "lineage":
            asked = datetime.fromtimestamp(float(pin["at"]), timezone.utc)
            found.loaded_by = [
                load
                for load in found.loaded_by
                if (load.at if load.at.tzinfo else load.at.replace(tzinfo=timezone.utc)) <= asked
            ]
    pins.record("lineage", ref, name=found.name, version=found.version, digest=found.digest)
    return found


def grant(
    namespace: str, role: str, user: str | None = None, group: str | None = None
) -> GrantInfo:
    """Give a user or a group (a team, an organisation; ``"*"`` = everyone) a role.

    In a dry-run rerun the grant is recorded in the run ledger, not made.
    """
    if pins.dry_run():
        info = GrantInfo(
            namespace=namespace,
            role=role,  # type: ignore[arg-type]
            user=user,
            group=group,
            granted_by=get_client().principal.user,
            granted_at=datetime.now(timezone.utc),
        )
    else:
        info = get_client().grant(namespace, role, user=user, group=group)  # type: ignore[arg-type]
    pins.record(
        "grant",
        f"{namespace}:{user or ''}:{group or ''}",
        namespace=namespace,
        role=role,
        user=user,
        group=group,
        applied=not pins.dry_run(),
    )
    return info


def revoke(namespace: str, user: str | None = None, group: str | None = None) -> GrantInfo:
    """Take back the role a user or a group holds on a namespace (admins); the grant removed.

    In a dry-run rerun the revocation is recorded in the run ledger, not made.
    """
    if pins.dry_run():
        held = {(g.user, g.group): g for g in get_client().namespace(namespace).grants}
        info = held.get((user, group))
        if info is None:
            who = f"the user {user!r}" if user else f"the group {group!r}"
            raise NotFound(f"Namespace {namespace!r} has no grant for {who}.")
    else:
        info = get_client().revoke(namespace, user=user, group=group)
    pins.record(
        "revoke",
        f"{namespace}:{user or ''}:{group or ''}",
        namespace=namespace,
        user=user,
        group=group,
        applied=not pins.dry_run(),
    )
    return info


def yank(name: str, version: int, reason: str) -> ModelVersion:
    """Withdraw a bad version (maintainers): listings, the latest and aliases skip it and no
    alias can be moved onto it; ``name:version`` and a rerun's pins still load it, with
    ``reason`` shown. A yanked version keeps its number and its bytes.

    In a dry-run rerun the yank is recorded in the run ledger, not made.
    """
    client = get_client()
    if pins.dry_run():
        found = client.resolve(f"{name}:{int(version)}")
    else:
        found = client.yank(name, version, reason)
    pins.record(
        "yank",
        found.ref,
        name=found.name,
        version=found.version,
        reason=reason,
        applied=not pins.dry_run(),
    )
    return found


def unyank(name: str, version: int) -> ModelVersion:
    """Restore a yanked version (maintainers): listed again, possibly the latest again; no
    alias is moved back onto it. A deleted version cannot be restored.

    In a dry-run rerun the un-yank is recorded in the run ledger, not made.
    """
    client = get_client()
    if pins.dry_run():
        found = client.resolve(f"{name}:{int(version)}")
    else:
        found = client.unyank(name, version)
    pins.record(
        "unyank", found.ref, name=found.name, version=found.version, applied=not pins.dry_run()
    )
    return found


def delete_version(name: str, version: int, *, dry_run: bool = False) -> VersionDeletion:
    """Hard-delete a yanked version (admins): its files go, with the blobs no other version
    names; its number stays taken, and loading it says who deleted it and why it was
    yanked. Refused while an alias or a comparison points at it. ``dry_run`` only says what
    would go.

    In a dry-run rerun the deletion is recorded in the run ledger (and checked), not made.
    """
    found = get_client().delete_version(name, version, dry_run=dry_run or pins.dry_run())
    pins.record(
        "delete",
        f"{found.name}:{found.version}",
        name=found.name,
        version=found.version,
        applied=not found.dry_run,
    )
    return found
