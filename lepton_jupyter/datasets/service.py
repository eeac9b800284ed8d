"""Datasets: browse a DVC data registry, attach pinned imports linked from a shared cache.

The result of an attach is a standard DVC import (a ``.dvc`` file with ``rev_lock``) built
with DVC's own stage objects and serialiser, so ``dvc status``, ``dvc update`` and
``dvc pull`` keep working on it. What differs from ``dvc import`` is how the files arrive:
only objects missing from the shared cache are fetched (by DVC, into that cache), and every
file is then linked straight from the cache into a staging folder that is renamed into
place, which makes a warm attach cost one link per file and an interrupted one leave
nothing behind.

This module is the one entry point (what ``api.py``, REST and the CLI call) and keeps what
works on attached imports: listing, update, detach. The parts: ``attaching.py`` places a
dataset (warm, through DVC, in a rerun), ``data_registry.py`` reads a registry through DVC,
``project.py`` is the workspace's DVC project and its destination checks, ``store.py`` what
attaching keeps on disk, ``cache.py`` the shared cache, ``linker.py`` linking, ``warm.py``
the DVC-free warm path.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .. import pins
from ..errors import Invalid, NotFound, did_you_mean
from ..settings import Settings, load_settings
from ..workdir import remove_tree
from . import cache
from .attaching import Attacher, RevisionMoved
from .data_registry import DataRegistries
from .linker import Placement, refuse_links
from .project import WorkspaceProject
from .schema import (
    AttachedDataset,
    AttachPlan,
    CacheReport,
    ProgressCallback,
    PrunedMirror,
    RegistryListing,
    no_progress,
)
from .store import dvc_project_lock, load_import, rerun_attached, save_rerun_attached

if TYPE_CHECKING:
    from collections.abc import Callable

    from dvc.repo import Repo
    from dvc.stage import Stage

__all__ = [
    "DatasetService",
    "ProgressCallback",
    "RevisionMoved",
    "browse_key",
    "default_destination",
    "normalise_url",
    "pin_key",
]


def pin_key(url: str, path: str, rev: str | None) -> str:
    """The run-ledger key of an attach: the same call in a rerun finds its recorded commit."""
    return f"{url}|{path}|{rev or ''}"


def browse_key(url: str, rev: str | None) -> str:
    """The run ledger's key of a browse of registry ``url`` (normalised) at ``rev``."""
    return f"{url}|{rev or ''}"


def default_destination(path: str) -> str:
    """Where a dataset lands when no ``to`` is given: its folder name."""
    return PurePosixPath(path.strip().strip("/")).name


def normalise_url(url: str) -> str:
    """Local registry paths become absolute so the .dvc file works from anywhere."""
    url = url.strip()
    if not url:
        raise Invalid("Data registry URL is empty; pass a git URL or a local path.")
    if "://" not in url and not url.startswith("git@") and os.path.exists(url):
        return os.path.abspath(url)
    return url


class DatasetService:
    """Every dataset operation for one workspace (a notebook's cwd or the server root)."""

    def __init__(self, workspace: Path | str, settings: Settings | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.settings = settings or load_settings()
        self.shared = cache.SharedCache(self.settings)
        self.registries = DataRegistries(self.shared)
        self.project = WorkspaceProject(self.workspace, self.shared)
        self.attacher = Attacher(self.project, self.registries, self.shared)

    def browse(self, url: str, rev: str | None = None) -> RegistryListing:
        """The datasets of a data registry at ``rev`` (default branch if None) and its versions.

        In a rerun, the registry as the original run saw it: the commit ``rev`` resolved to
        then, and the versions (tags, branches) it listed (``api.browse`` records them).
        """
        url = normalise_url(url)
        return self.registries.listing(url, rev, pins.pinned("browse", browse_key(url, rev)))

    def attach(
        self,
        url: str,
        path: str,
        rev: str | None = None,
        to: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> AttachedDataset:
        """Attach ``path`` of the registry at ``rev`` into ``to``; see the module docstring."""
        url = normalise_url(url)
        path = path.strip().strip("/")
        if not path:
            raise Invalid("Dataset path is empty; browse() lists the registry's datasets.")
        return self._attach(
            url, path, rev, to or default_destination(path), progress, replace=False
        )

    def _attach(
        self,
        url: str,
        path: str,
        rev: str | None,
        to: str,
        progress: ProgressCallback | None,
        replace: bool,
    ) -> AttachedDataset:
        to_rel, dest, dvc_file = self.project.destination(to)
        plan = AttachPlan(
            url=url,
            path=path,
            rev=rev,
            to=to_rel,
            dest=dest,
            dvc_file=dvc_file,
            pin=pins.pinned("dataset", pin_key(url, path, rev)),
            replace=replace,
        )
        return self.attacher.attach(plan, progress or no_progress)

    # -- what is attached -------------------------------------------------------------

    def attached(self, check_upstream: bool = True) -> list[AttachedDataset]:
        """The imports in this workspace; ``newer_tag`` names a newer upstream tag if any.

        In a rerun: what the rerun attached, at the commits it was pinned to.
        """
        if self.project.in_rerun():
            # As a listing reports them: how each was placed belongs to its attach.
            return [
                held.model_copy(update={"link_type": None, "hashed_objects": 0})
                for _, held in sorted(rerun_attached().items())
            ]
        with self.project.open(create=False) as ws:
            if ws is None:
                return []
            stages = self.project.imports(ws)
            newer: dict[str, str | None] = {}
            if check_upstream:
                for url in {s.deps[0].def_repo["url"] for s in stages}:
                    locks = {
                        s.deps[0].def_repo.get("rev_lock")
                        for s in stages
                        if s.deps[0].def_repo["url"] == url
                    }
                    newer.update(self.registries.newer_tags(url, {c for c in locks if c}))
            return [
                self.project.describe(s, newer.get(s.deps[0].def_repo.get("rev_lock") or ""))
                for s in stages
            ]

    def _find_attached(self, ws: Repo | None, to: str) -> tuple[str, Path, Path, Stage]:
        to_rel, dest, dvc_file = self.project.destination(to)
        refuse_links(dvc_file)
        stage = load_import(ws, dvc_file) if ws is not None and dvc_file.exists() else None
        if stage is not None:
            self.project.check_confined(stage, dvc_file, dest)
        if stage is None:
            names = [a.to for a in self.attached(check_upstream=False)]
            raise NotFound(
                f"No dataset is attached at {to!r}. Attached: "
                f"{', '.join(names) or 'none'}." + did_you_mean(to_rel, names)
            )
        return to_rel, dest, dvc_file, stage

    def _rerun_held(self, to: str) -> AttachedDataset:
        to_rel = self.project.destination(to)[0]
        held = rerun_attached()
        if to_rel not in held:
            raise NotFound(
                f"No dataset is attached at {to!r} in this rerun. Attached: "
                f"{', '.join(held) or 'none'}." + did_you_mean(to_rel, list(held))
            )
        return held[to_rel]

    def describe(self, to: str) -> AttachedDataset:
        """The dataset attached at ``to`` (404 naming what is attached otherwise)."""
        if self.project.in_rerun():
            return self._rerun_held(to)
        with self.project.open(create=False) as ws:
            stage = self._find_attached(ws, to)[3]
            return self.project.describe(stage)

    def update(
        self, to: str, rev: str | None = None, progress: ProgressCallback | None = None
    ) -> AttachedDataset:
        """Move an attached dataset to ``rev`` (default: its own rev, re-resolved)."""
        if self.project.in_rerun():
            held = self._rerun_held(to)
            new_rev = rev if rev is not None else held.rev
            return self._attach(held.url, held.path, new_rev, held.to, progress, replace=True)
        with self.project.open(create=False) as ws:
            to_rel, _, _, stage = self._find_attached(ws, to)
            dep = stage.deps[0]
            url, path = dep.def_repo["url"], dep.def_path
            new_rev = rev if rev is not None else dep.def_repo.get("rev")
        return self._attach(url, path, new_rev, to_rel, progress, replace=True)

    def detach(self, to: str) -> AttachedDataset:
        """Remove what attach made: the dataset's folder, its .dvc file, its .gitignore entry.

        A folder that is a link (attach never makes one for a folder) is refused, not
        followed; the folder is moved aside first and deleted last, so an interrupted
        detach leaves the import whole or the next attach clears the leftover.
        """
        if self.project.in_rerun():
            held = self._rerun_held(to)
            remove_tree(Path(held.local_path))
            remaining = rerun_attached()
            remaining.pop(held.to, None)
            save_rerun_attached(remaining)
            return held
        with self.project.open(create=False) as ws:
            _, dest, dvc_file, stage = self._find_attached(ws, to)
            described = self.project.describe(stage)
            placement = Placement(dest, dvc_file)
            with dvc_project_lock(ws):
                placement.refuse_links()
                refuse_links(dest.parent / ".gitignore")
                if stage.outs[0].hash_info.isdir:
                    refuse_links(dest)
                if os.path.lexists(dest):
                    os.rename(dest, placement.trash)
            # The .dvc file and the .gitignore entry; DVC takes the project lock itself.
            ws.remove(str(dvc_file), outs=False)
            placement.recover()
        return described

    # -- the shared cache's integrity ---------------------------------------------------

    def verify(
        self, fix_permissions: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> CacheReport:
        """Rehash every object of the shared cache (md5, as DVC names them) and check that
        no member can change what another reads; ``fix_permissions`` mends what this user
        may (root: everything)."""
        return cache.verify(
            self.shared.cache_dir, self.shared.object_checker(), fix_permissions, progress
        )

    def prune_mirrors(self, max_age_days: float | None = None) -> list[PrunedMirror]:
        """Remove remote registries' git mirrors unused for ``max_age_days`` (default: the
        ``data_mirror_max_age_days`` setting), never one in use; the next attach from such
        a registry mirrors it again."""
        if max_age_days is None:
            max_age_days = self.shared.settings.data_mirror_max_age_days
        if not max_age_days >= 0:
            raise Invalid(f"max_age_days must be 0 or more days, not {max_age_days!r}.")
        from .mirror import prune

        return prune(self.shared.cache_dir, max_age_days)
