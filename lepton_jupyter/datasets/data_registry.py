"""A data registry read through DVC: opened at a revision with its cache pointed at the
shared cache, its datasets and versions listed, what a dataset path names found (a tracked
folder or file, a part of one, or files git tracks), and missing objects fetched.

DVC is imported inside the functions: the warm attach (``warm.py``) never loads it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import Forbidden, Invalid, NotFound, did_you_mean
from . import cache
from .schema import (
    AttachProgress,
    DatasetVersion,
    ProgressCallback,
    RegistryDataset,
    RegistryListing,
    no_progress,
)

if TYPE_CHECKING:
    from dvc.output import Output
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo


class DataRegistries:
    """Opens data registries so that what DVC fetches lands in one user's shared cache."""

    def __init__(self, shared: cache.SharedCache) -> None:
        self.shared = shared

    @contextmanager
    def open(self, url: str, rev: str | None = None) -> Iterator[Repo]:
        """The data registry at ``rev``, its DVC cache pointed at the shared cache."""
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo
        from dvc.scm import CloneError, RevError, SCMError
        from pygit2 import GitError

        self.shared.prepare()
        try:
            # No rev: the committed default branch, never a local registry's working tree.
            repo = Repo.open(url, rev=rev or "HEAD", config={"cache": self.shared.dvc_config()})
        except RevError:
            tags = sorted(self.tag_names(url))
            raise NotFound(
                f"Revision {rev!r} not found in data registry {url}. "
                f"Tags: {', '.join(tags) or 'none'}." + did_you_mean(rev or "", tags)
            ) from None
        except CloneError as e:
            raise NotFound(
                f"Data registry {url!r} not found or unreachable (git could not clone it: {e})."
            ) from None
        except NotDvcRepoError:
            raise Invalid(
                f"{url!r} is a git repository but not a DVC data registry (no .dvc folder)."
            ) from None
        except SCMError as e:
            raise NotFound(f"Data registry {url!r} could not be read: {e}") from None
        except GitError as e:
            if "not owned by current user" not in str(e):
                raise
            raise Forbidden(
                f"Data registry {url} belongs to another account, and git opens another "
                "account's repository only where told to trust it: "
                f"`git config --global --add safe.directory {url}` (an administrator: "
                "--system, for every user)."
            ) from None
        try:
            yield repo
        finally:
            repo.close()

    def tag_names(self, url: str) -> list[str]:
        try:
            with self.open(url) as repo:
                return list(repo.scm.list_tags())
        except (NotFound, Invalid):
            return []

    def listing(
        self, url: str, rev: str | None, pin: dict[str, Any] | None = None
    ) -> RegistryListing:
        """The datasets at ``rev`` and the registry's versions; with a run ledger's ``pin``,
        the commit and versions the original run saw."""
        with self.open(url, pin["commit"] if pin else rev) as repo:
            datasets = [
                RegistryDataset(
                    path=path,
                    hash=out.hash_info.value,
                    size=out.meta.size,
                    files=out.meta.nfiles if out.meta.isdir else 1,
                    description=out.annot.desc,
                )
                for path, out in sorted(tracked_outputs(repo).items())
            ]
            if pin is not None:
                versions = [DatasetVersion.model_validate(v) for v in pin["versions"]]
            else:
                versions = registry_versions(repo)
            return RegistryListing(
                url=url, rev=rev, commit=repo.get_rev(), datasets=datasets, versions=versions
            )

    def newer_tags(self, url: str, commits: set[str]) -> dict[str, str | None]:
        """Per attached commit, the tag furthest ahead of it in the registry's history.

        Descent, not dates: tags made within one second are still ordered correctly.
        """
        try:
            with self.open(url) as repo:
                tags = [v for v in registry_versions(repo) if v.kind == "tag"]
                result: dict[str, str | None] = {}
                for commit in commits:
                    ahead = [
                        (d, v.name)
                        for v in tags
                        if v.commit != commit
                        and (d := _distance(repo.scm, v.commit, commit)) is not None
                    ]
                    result[commit] = max(ahead)[1] if ahead else None
                return result
        except (NotFound, Invalid):
            return {}

    def upstream_commit(self, url: str, rev: str | None) -> str | None:
        """What ``rev`` resolves to in the registry now (None if it no longer resolves)."""
        try:
            with self.open(url, rev) as registry:
                return registry.get_rev()
        except (NotFound, Invalid):
            return None

    def dataset_out(self, registry: Repo, url: str, path: str, rev: str | None) -> Output:
        """What ``path`` names in the registry, as ``dvc import`` accepts it: a DVC-tracked
        folder or file, a folder or file inside one, or files tracked by git."""
        datasets = tracked_outputs(registry)
        out = datasets.get(path)
        if out is None:
            out = self._part_of_output(registry, datasets, path) or _git_tracked(registry, path)
        if out is None:
            where = f"at {rev!r}" if rev else "on its default branch"
            raise NotFound(
                f"Dataset {path!r} not found in data registry {url} {where}. "
                f"Datasets: {', '.join(sorted(datasets)) or 'none'}."
                + did_you_mean(path, list(datasets))
            )
        return out

    def _part_of_output(
        self, registry: Repo, datasets: dict[str, Output], path: str
    ) -> Output | None:
        """A folder or file inside a DVC-tracked folder: its part of the folder's manifest."""
        for base, out in datasets.items():
            if not (out.hash_info.isdir and path.startswith(base + "/")):
                continue
            odb = registry.cache.local
            manifest = odb.oid_to_path(out.hash_info.value)
            if not os.path.exists(manifest):
                self.fetch(registry, out, no_progress)
            self.shared.check_manifest(manifest)
            sub = path[len(base) + 1 :]
            entries = manifest_of(odb, out.hash_info)
            exact = [("", oid) for rel, oid in entries if rel == sub]
            inside = [
                (rel[len(sub) + 1 :], oid) for rel, oid in entries if rel.startswith(sub + "/")
            ]
            if not (exact or inside):
                return None
            target = registry.fs.join(registry.root_dir, path)
            objects = exact or inside
            if any(not os.path.exists(odb.oid_to_path(oid)) for _, oid in objects):
                self.fetch(registry, _PartialOutput(target, out.hash_info, out.meta), no_progress)
            return _stored_part(odb, target, objects, isdir=not exact)
        return None

    def fetch(self, registry: Repo, out: Output, emit: ProgressCallback) -> None:
        """Let DVC download the dataset's missing objects from the registry's remote."""
        from dvc.exceptions import DvcException

        emit(
            AttachProgress(
                "fetch", files_total=out.meta.nfiles or 1, bytes_total=out.meta.size or 0
            )
        )
        try:
            registry.fetch(targets=[out.fs_path])
        except DvcException as e:
            raise NotFound(f"Could not fetch {out} from the registry's DVC remote: {e}") from e
        finally:
            self.shared.prepare()  # DVC sets 2775 on the folders it writes to

    def cache_objects(
        self,
        registry: Repo,
        out: Output,
        emit: ProgressCallback,
        checker: cache.ObjectChecker,
    ) -> list[tuple[str, str]]:
        """``(relative path, cache path)`` of each file; the ``.dir`` manifest is fetched
        first if the shared cache lacks it, and checked before it is read (file objects are
        checked while linking)."""
        odb = registry.cache.local
        hash_info = out.hash_info
        if not hash_info.isdir:
            return [("", odb.oid_to_path(hash_info.value))]
        manifest = odb.oid_to_path(hash_info.value)
        if not os.path.exists(manifest):
            self.fetch(registry, out, emit)
        self.shared.check_manifest(manifest, checker)
        oid_to_path = odb.oid_to_path
        return [(rel, oid_to_path(oid)) for rel, oid in manifest_of(odb, hash_info)]


def registry_versions(repo: Repo) -> list[DatasetVersion]:
    """Tags (newest first), then branches, each with its commit and commit date."""
    scm = repo.scm
    versions = []
    for tag in scm.list_tags():
        versions.append(_version(scm, tag, f"refs/tags/{tag}", "tag"))
    versions.sort(key=lambda v: (v.date, v.name), reverse=True)
    seen = set()
    for base in ("refs/heads/", "refs/remotes/origin/"):
        for ref in scm.iter_refs(base=base):
            name = ref[len(base) :]
            if name == "HEAD" or name in seen:
                continue
            seen.add(name)
            versions.append(_version(scm, name, ref, "branch"))
    return versions


def tracked_outputs(repo: Repo) -> dict[str, Output]:
    """The registry's DVC-tracked outputs (its datasets) by POSIX path."""
    outs = {}
    for out in repo.index.outs:
        if not out.use_cache or out.hash_info is None or not out.hash_info.value:
            continue
        rel = repo.fs.relpath(out.fs_path, repo.root_dir)
        outs[PurePosixPath(rel.replace(os.sep, "/")).as_posix()] = out
    return outs


def _git_tracked(registry: Repo, path: str) -> Output | None:
    """Files git tracks in the registry: each stored in the shared cache, as DVC does."""
    fs = registry.fs
    full = fs.join(registry.root_dir, path)
    if fs.isfile(full):
        files = [("", full)]
    elif fs.isdir(full):
        files = [(fs.relpath(f, full), f) for f in sorted(fs.find(full))]
    else:
        return None
    if not files:
        return None
    odb = registry.cache.local
    objects = []
    for rel, source in files:
        oid = hashlib.md5(fs.cat_file(source)).hexdigest()
        if not os.path.exists(odb.oid_to_path(oid)):
            odb.add(source, fs, oid)
        objects.append((rel, oid))
    return _stored_part(odb, full, objects, isdir=files[0][0] != "")


class _PartialOutput:
    """Stands for a DVC output where attach needs one: a part of a tracked folder or files
    git tracks. Its objects are in the shared cache; ``fs_path`` is what to fetch."""

    def __init__(self, fs_path: str, hash_info: HashInfo, meta: Any) -> None:
        self.fs_path = fs_path
        self.hash_info = hash_info
        self.meta = meta

    def __str__(self) -> str:
        return self.fs_path.lstrip("/")


def _stored_part(odb: Any, fs_path: str, objects: list[tuple[str, str]], isdir: bool) -> Output:
    """The import of ``objects`` (relative path, md5), its folder manifest stored in the
    cache as ``dvc import`` computes it, so the hash matches DVC's own."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree

    sizes = [os.stat(odb.oid_to_path(oid)).st_size for _, oid in objects]
    if not isdir:
        return _PartialOutput(fs_path, HashInfo("md5", objects[0][1]), Meta(size=sizes[0]))  # type: ignore[return-value]
    tree = Tree()
    for rel, oid in objects:
        tree.add(tuple(rel.split("/")), None, HashInfo("md5", oid))
    tree.digest()
    if not os.path.exists(odb.oid_to_path(tree.oid)):
        odb.add(tree.path, tree.fs, tree.oid)
    meta = Meta(isdir=True, size=sum(sizes), nfiles=len(objects))
    return _PartialOutput(fs_path, tree.hash_info, meta)  # type: ignore[return-value]


def manifest_of(odb: Any, hash_info: HashInfo) -> list[tuple[str, str]]:
    """``(relative path, oid)`` of every file in a DVC ``.dir`` object: plain md5 manifests
    read as JSON (``cache.manifest_entries``), other hash flavours (``md5-dos2unix`` of DVC 2
    caches) through DVC's ``Tree.load``."""
    from dvc_data.hashfile.tree import Tree

    name = hash_info.name or "md5"
    if odb.hash_name != name or name != "md5":
        return [("/".join(key), hi.value) for key, _, hi in Tree.load(odb, hash_info)]
    return cache.manifest_entries(odb.oid_to_path(hash_info.value))


def _version(scm: Any, name: str, ref: str, kind: str) -> DatasetVersion:
    commit = scm.resolve_commit(ref)
    return DatasetVersion(
        name=name,
        kind=kind,
        commit=commit.hexsha,
        date=datetime.fromtimestamp(commit.commit_time, tz=timezone.utc),
    )


def _distance(scm: Any, descendant: str, ancestor: str, limit: int = 10_000) -> int | None:
    """How many commits ``descendant`` is ahead of ``ancestor``; None if not descended."""
    frontier, seen, depth = [descendant], {descendant}, 0
    while frontier and depth < limit:
        depth += 1
        parents = []
        for sha in frontier:
            for parent in scm.resolve_commit(sha).parents:
                if parent == ancestor:
                    return depth
                if parent not in seen:
                    seen.add(parent)
                    parents.append(parent)
        frontier = parents
    return None
