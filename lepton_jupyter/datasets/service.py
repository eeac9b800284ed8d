"""Datasets: browse a DVC data registry, attach pinned imports linked from a shared cache.

The result of an attach is a standard DVC import (a ``.dvc`` file with ``rev_lock``) built
with DVC's own stage objects and serialiser, so ``dvc status``, ``dvc update`` and
``dvc pull`` keep working on it. What differs from ``dvc import`` is how the files arrive:
only objects missing from the shared cache are fetched (by DVC, into that cache), and every
file is then linked straight from the cache into a staging folder that is renamed into
place, which makes a warm attach cost one link per file and an interrupted one leave
nothing behind.

This module is over 500 lines on purpose: attach, update, detach and the listing share one
set of checks (locks kept, destinations confined, no writing through links) that read best
side by side; what attaching keeps on disk is in ``store.py``, the cache in ``cache.py``,
linking in ``linker.py``, the DVC-free warm path in ``warm.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .. import pins
from ..errors import Conflict, Forbidden, Invalid, NotFound, did_you_mean
from ..gitstate import is_ignored
from ..settings import Settings, load_settings
from ..workdir import remove_tree, unmirror
from . import cache, warm
from .linker import Linker, Placement, check_link_types, link_files, refuse_links, write_new_file
from .schema import (
    AttachedDataset,
    AttachProgress,
    CacheReport,
    DatasetVersion,
    RegistryDataset,
    RegistryListing,
)
from .store import (
    dvc_project_lock,
    load_import,
    quiet_dvc,
    rerun_attached,
    save_rerun_attached,
    stage_text,
)

if TYPE_CHECKING:
    from dvc.output import Output
    from dvc.repo import Repo
    from dvc.stage import Stage
    from dvc_data.hashfile.hash_info import HashInfo

ProgressCallback = Callable[[AttachProgress], None]


def _noop(_: AttachProgress) -> None:
    pass


class RevisionMoved(UserWarning):
    """An attached dataset's rev has moved upstream; the workspace keeps its locked commit."""


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
        check_link_types(self.settings.cache_link_types)

    # -- the shared cache -------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        return Path(self.settings.data_cache).resolve()

    def _cache_config(self) -> dict[str, Any]:
        return {
            "dir": str(self.cache_dir),
            "shared": "group",
            "type": ",".join(self.settings.cache_link_types),
        }

    def _ensure_cache(self) -> None:
        # setgid + sticky folders: objects keep the cache's group; only their owner may
        # remove or rename them.
        cache.prepare(self.cache_dir)

    def _object_checker(self) -> cache.ObjectChecker:
        """Hashes other users' cache objects before their first use by this user."""
        record = self.settings.state_dir / "checked-cache-objects.sqlite"
        return cache.ObjectChecker(self.cache_dir, record)

    def _check_manifest(self, path: str, checker: cache.ObjectChecker | None = None) -> None:
        """A folder's manifest is checked before it is read: a planted one could point its
        files at other objects."""
        own = checker or self._object_checker()
        with suppress(FileNotFoundError):  # not fetched: _manifest names the problem
            own.check(path)
        if checker is None:
            own.save()

    # -- registries ---------------------------------------------------------------------

    @contextmanager
    def _registry(self, url: str, rev: str | None = None) -> Iterator[Repo]:
        """The data registry at ``rev``, its DVC cache pointed at the shared cache."""
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo
        from dvc.scm import CloneError, RevError, SCMError
        from pygit2 import GitError

        self._ensure_cache()
        try:
            # No rev: the committed default branch, never a local registry's working tree.
            repo = Repo.open(url, rev=rev or "HEAD", config={"cache": self._cache_config()})
        except RevError:
            tags = sorted(self._tag_names(url))
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

    def _tag_names(self, url: str) -> list[str]:
        try:
            with self._registry(url) as repo:
                return list(repo.scm.list_tags())
        except (NotFound, Invalid):
            return []

    @staticmethod
    def _versions(repo: Repo) -> list[DatasetVersion]:
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

    @staticmethod
    def _datasets(repo: Repo) -> dict[str, Output]:
        outs = {}
        for out in repo.index.outs:
            if not out.use_cache or out.hash_info is None or not out.hash_info.value:
                continue
            rel = repo.fs.relpath(out.fs_path, repo.root_dir)
            outs[PurePosixPath(rel.replace(os.sep, "/")).as_posix()] = out
        return outs

    def browse(self, url: str, rev: str | None = None) -> RegistryListing:
        """The datasets of a data registry at ``rev`` (default branch if None) and its versions.

        In a rerun, the registry as the original run saw it: the commit ``rev`` resolved to
        then, and the versions (tags, branches) it listed (``api.browse`` records them).
        """
        url = normalise_url(url)
        pin = pins.pinned("browse", browse_key(url, rev))
        with self._registry(url, pin["commit"] if pin else rev) as repo:
            datasets = [
                RegistryDataset(
                    path=path,
                    hash=out.hash_info.value,
                    size=out.meta.size,
                    files=out.meta.nfiles if out.meta.isdir else 1,
                    description=out.annot.desc,
                )
                for path, out in sorted(self._datasets(repo).items())
            ]
            if pin is not None:
                versions = [DatasetVersion.model_validate(v) for v in pin["versions"]]
            else:
                versions = self._versions(repo)
            listing = RegistryListing(
                url=url, rev=rev, commit=repo.get_rev(), datasets=datasets, versions=versions
            )
        return listing

    # -- the workspace's DVC project ----------------------------------------------------

    @contextmanager
    def _project(self, create: bool = True) -> Iterator[Repo | None]:
        """The workspace's DVC project (initialised when missing), using the shared cache."""
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo

        try:
            root = Repo.find_root(str(self.workspace))
        except NotDvcRepoError:
            if not create:
                yield None
                return
            root = self._init_project()
        repo = Repo(root)
        try:
            if create and not self._uses_shared_cache(repo):
                self._configure_cache(repo)
                repo.close()
                repo = Repo(root)
            yield repo
        finally:
            repo.close()

    def _uses_shared_cache(self, repo: Repo) -> bool:
        current = {k: repo.config["cache"].get(k) for k in self._cache_config()}
        if current["type"] is not None and not isinstance(current["type"], str):
            current["type"] = ",".join(current["type"])
        return current == self._cache_config()

    def _configure_cache(self, repo: Repo) -> None:
        """Point the project at the shared cache in ``.dvc/config.local`` (per machine)."""
        dvc_dir = Path(repo.dvc_dir)
        refuse_links(dvc_dir, dvc_dir / "config.local")
        self._ensure_cache()
        with repo.config.edit("local") as conf:
            conf["cache"].update(self._cache_config())

    def _init_project(self) -> str:
        from dvc.repo import Repo

        git_root = next(
            (p for p in (self.workspace, *self.workspace.parents) if (p / ".git").exists()),
            None,
        )
        if (
            git_root is not None
            and git_root != self.workspace
            and is_ignored(git_root, self.workspace)
        ):
            # The enclosing repo will never track this folder (a scratch or demo folder
            # listed in its .gitignore): DVC cannot live in it as a subdir project.
            git_root = None
        with (
            quiet_dvc(),
            Repo.init(
                str(self.workspace),
                no_scm=git_root is None,
                subdir=git_root is not None and git_root != self.workspace,
            ) as repo,
        ):
            with repo.config.edit() as conf:
                conf["core"]["analytics"] = False
            self._configure_cache(repo)
            return repo.root_dir

    def _destination(self, to: str) -> tuple[str, Path, Path]:
        """``to`` checked to lie inside the workspace -> (posix relpath, folder, .dvc file)."""
        raw = to.strip()
        if any(ord(c) < 32 or c == "\x7f" for c in raw):
            raise Invalid(f"Destination {to!r} holds a NUL or control character.")
        try:
            encoded = raw.encode()
        except UnicodeEncodeError:
            raise Invalid(f"Destination {to!r} is not valid Unicode (a lone surrogate).") from None
        posix = PurePosixPath(raw.replace(os.sep, "/"))
        # The journal's name adds 20 bytes to the last part; Linux allows 255 per part.
        if len(encoded) > 1024 or any(len(p.encode()) > 200 for p in posix.parts):
            raise Invalid(
                f"Destination {to[:60]!r}... is too long: at most 200 bytes per folder name."
            )
        if not raw or posix.is_absolute() or Path(raw).is_absolute():
            raise Invalid(
                f"Destination {to!r} must be a path relative to the workspace {self.workspace}."
            )
        if ".." in posix.parts:
            raise Invalid(f"Destination {to!r} leaves the workspace ('..' is not allowed).")
        if posix.as_posix() in ("", ".") or posix.parts[0] in (".dvc", ".git"):
            raise Invalid(f"Destination {to!r} is not a folder name lepton can attach into.")
        dest = self.workspace / posix
        if not dest.parent.resolve().is_relative_to(self.workspace):
            raise Invalid(f"Destination {to!r} resolves outside the workspace.")
        return posix.as_posix(), dest, dest.parent / f"{dest.name}.dvc"

    # -- attach -------------------------------------------------------------------------

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
        emit = progress or _noop
        to_rel, dest, dvc_file = self._destination(to)
        key = pin_key(url, path, rev)
        pin = pins.pinned("dataset", key)
        rerun_folder = pins.rerun_workdir()
        if rerun_folder is not None and self.workspace.is_relative_to(rerun_folder):
            result = self._attach_in_rerun(url, path, rev, to_rel, dest, pin, emit)
        else:
            result = self._attach_here(url, path, rev, to_rel, dest, dvc_file, pin, emit, replace)
        return result

    def _attach_here(
        self,
        url: str,
        path: str,
        rev: str | None,
        to_rel: str,
        dest: Path,
        dvc_file: Path,
        pin: dict[str, Any] | None,
        emit: ProgressCallback,
        replace: bool,
    ) -> AttachedDataset:
        """Attach into this workspace, honouring the destination's lock (as ``dvc import``).

        The same url + path + rev name already imported at ``to`` keeps its locked commit
        and only has its folder made whole; a moved upstream is reported, not taken.
        """
        attached = None
        if not replace:
            attached = self._try_warm(url, path, rev, to_rel, dest, dvc_file, pin, emit)
        result, upstream = attached or self._attach_with_dvc(
            url, path, rev, to_rel, dest, dvc_file, pin, emit, replace
        )
        if upstream is not None and upstream != result.commit:
            result.upstream_commit = upstream
            warnings.warn(
                f"{rev or 'The default branch'} of {url} is now at {upstream[:12]}; "
                f"{to_rel!r} stays at its locked commit {result.commit[:12]}. "
                f"update({to_rel!r}) to take it.",
                RevisionMoved,
                stacklevel=4,
            )
        return result

    def _try_warm(self, *args: Any) -> tuple[AttachedDataset, str | None] | None:
        """``_attach_warm``, or None (the debug log says why) where DVC's path must attach. A
        workspace without its DVC project has DVC make it first (once: DVC's bookkeeping)."""
        log = logging.getLogger(__name__)
        try:
            try:
                return self._attach_warm(*args)
            except warm.ProjectNotReady as e:
                log.debug("DVC sets up the workspace's project first: %s", e)
                with self._project():
                    pass
                return self._attach_warm(*args)
        except warm.NotWarm as e:
            log.debug("attach of %s takes DVC's path: %s", args[1], e)
            return None

    def _attach_with_dvc(
        self,
        url: str,
        path: str,
        rev: str | None,
        to_rel: str,
        dest: Path,
        dvc_file: Path,
        pin: dict[str, Any] | None,
        emit: ProgressCallback,
        replace: bool,
    ) -> tuple[AttachedDataset, str | None]:
        """The attach through DVC's objects: any registry, dataset and workspace; fetches
        what the shared cache lacks. Returns the result and where ``rev`` is upstream now."""
        locked = None if replace else self._locked_commit(dvc_file, to_rel, url, path, rev)
        upstream = None
        if pin is not None:
            wanted = pin["commit"]
        elif locked is not None:
            upstream = self._upstream_commit(url, rev)
            wanted = locked
        else:
            wanted = rev
        emit(AttachProgress("resolve"))
        with self._registry(url, wanted) as registry:
            commit = registry.get_rev()
            out = self._dataset_out(registry, url, path, rev)
            with self._project() as ws, dvc_project_lock(ws):
                placement = Placement(dest, dvc_file)
                refuse_links(dest.parent / ".gitignore")
                placement.recover()
                stage = self._check_destination(
                    ws, to_rel, dest, dvc_file, url, path, rev, commit, replace
                )
                if stage is not None:
                    result = self._make_whole(ws, registry, stage, out, placement, emit)
                else:
                    result = self._place(
                        ws,
                        registry,
                        placement,
                        out,
                        emit,
                        url=url,
                        path=path,
                        rev=rev,
                        commit=commit,
                        to=to_rel,
                    )
        return result, upstream

    def _attach_warm(
        self,
        url: str,
        path: str,
        rev: str | None,
        to_rel: str,
        dest: Path,
        dvc_file: Path,
        pin: dict[str, Any] | None,
        emit: ProgressCallback,
    ) -> tuple[AttachedDataset, str | None]:
        """The attach without DVC (``warm.py``) when the shared cache holds the dataset: a
        new import placed as ``_place`` places it, or the import already at ``to`` made
        whole as ``_make_whole`` does, with the same checks, lock and conflicts. NotWarm for
        every other case, before anything is written (making a folder whole, the files
        linked before a missing object stay: DVC's path then links the rest)."""
        refuse_links(dvc_file)
        root = warm.project_root(self.workspace)
        uses_git = warm.check_project(root, self._cache_config())
        self._ensure_cache()
        registry = warm.open_registry(url, self.cache_dir)
        held = warm.held_import(dvc_file)
        upstream = None
        wanted = pin["commit"] if pin else rev
        if held is not None:
            _same_import(held.repo, held.path, to_rel, url, path, rev)
            if held.out_path != dest.name:
                raise warm.NotWarm("the import's output is not the destination")
            if pin is None:
                wanted = held.rev_lock
                with suppress(warm.NotWarm):
                    upstream = registry.resolve(rev)
        commit = registry.resolve(wanted)
        out = warm.tracked_output(registry.repo, commit, path)
        emit(AttachProgress("resolve"))
        checker = self._object_checker()
        linker = Linker(self.settings.cache_link_types)
        placement = Placement(dest, dvc_file)
        try:
            files = warm.cache_objects(self.cache_dir, out, checker.check)
            with warm.project_lock(root):
                refuse_links(dest.parent / ".gitignore")
                placement.recover()
                if warm.held_import(dvc_file) != held:
                    raise warm.NotWarm("the destination changed meanwhile")
                try:
                    if held is None:
                        _clear_destination(to_rel, dest)
                        text = warm.stage_text(url, path, rev, commit, out, dest.name)
                        self._link_warm(files, placement.staging, out, linker, emit, checker)
                        placement.publish(lambda journal: write_new_file(journal, text))
                    else:
                        _check_lock(to_rel, path, held.rev_lock, commit)
                        _check_content(dvc_file.name, held.out.md5, path, out.md5, dest.name)
                        if not os.path.lexists(dest):
                            self._link_warm(files, placement.staging, out, linker, emit, checker)
                            placement.publish_folder()
                        elif out.isdir:
                            refuse_links(dest)
                            _check_folder(dest)
                            missing = [(rel, src) for rel, src in files if not _present(dest, rel)]
                            self._link_warm(missing, dest, out, linker, emit, checker)
                except BaseException:
                    placement.discard()
                    raise
                if uses_git:
                    with suppress(Exception):
                        warm.ignore_in_git(root, dest)
        finally:
            checker.save()
        recorded = held.out if held is not None else out
        result = AttachedDataset(
            to=to_rel,
            local_path=str(dest),
            dvc_file=dvc_file.relative_to(self.workspace).as_posix(),
            url=held.repo["url"] if held else url,
            path=held.path if held else path,
            rev=held.repo.get("rev") if held else rev,
            commit=held.rev_lock or "" if held else commit,
            hash=recorded.md5,
            files=recorded.files,
            bytes=recorded.size or 0,
            link_type=",".join(sorted(linker.used)) or None,
            hashed_objects=checker.hashed,
        )
        return result, upstream

    @staticmethod
    def _link_warm(
        files: list[tuple[str, str]],
        root: Path,
        out: warm.TrackedOutput,
        linker: Linker,
        emit: ProgressCallback,
        checker: cache.ObjectChecker,
    ) -> None:
        """Link every entry, with the progress events of DVC's path; NotWarm if an object
        is missing."""
        n, total = len(files), out.size or 0
        report = _link_reporter(emit, n, total)
        report(0)
        if _link_entries(files, root, out.isdir, linker, report, checker):
            raise warm.NotWarm("objects are missing from the shared cache")
        emit(AttachProgress("done", n, n, total, total))

    def _attach_in_rerun(
        self,
        url: str,
        path: str,
        rev: str | None,
        to_rel: str,
        dest: Path,
        pin: dict[str, Any] | None,
        emit: ProgressCallback,
    ) -> AttachedDataset:
        """A rerun's attach: the pinned commit's files linked into the rerun's own folder.

        The rerun's working folder mirrors the workspace with links (``workdir.py``); the
        mirror link at ``to`` is replaced by the pinned data, linked from the shared cache.
        The workspace's folder, .dvc file and lock are neither read nor changed.
        """
        emit(AttachProgress("resolve"))
        with self._registry(url, pin["commit"] if pin else rev) as registry:
            commit = registry.get_rev()
            out = self._dataset_out(registry, url, path, rev)
            unmirror(self.workspace, dest)
            staging = Placement(dest, dest).staging
            linker = Linker(self.settings.cache_link_types)
            try:
                self._link_dataset(registry, out, staging, linker, emit)
                if os.path.lexists(dest):
                    remove_tree(dest)  # this rerun's own earlier attach at ``to``
                os.rename(staging, dest)
            except BaseException:
                remove_tree(staging)
                raise
        result = AttachedDataset(
            to=to_rel,
            local_path=str(dest),
            dvc_file=f"{to_rel}.dvc",
            url=url,
            path=path,
            rev=rev,
            commit=commit,
            hash=out.hash_info.value,
            files=out.meta.nfiles if out.meta.isdir else 1,
            bytes=out.meta.size or 0,
            link_type=",".join(sorted(linker.used)) or None,
        )
        held = rerun_attached()
        held[to_rel] = result
        save_rerun_attached(held)
        return result

    def _dataset_out(self, registry: Repo, url: str, path: str, rev: str | None) -> Output:
        """What ``path`` names in the registry, as ``dvc import`` accepts it: a DVC-tracked
        folder or file, a folder or file inside one, or files tracked by git."""
        datasets = self._datasets(registry)
        out = datasets.get(path)
        if out is None:
            out = self._part_of_output(registry, datasets, path) or self._git_tracked(
                registry, path
            )
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
                self._fetch(registry, out, _noop)
            self._check_manifest(manifest)
            sub = path[len(base) + 1 :]
            entries = _manifest(odb, out.hash_info)
            exact = [("", oid) for rel, oid in entries if rel == sub]
            inside = [
                (rel[len(sub) + 1 :], oid) for rel, oid in entries if rel.startswith(sub + "/")
            ]
            if not (exact or inside):
                return None
            target = registry.fs.join(registry.root_dir, path)
            objects = exact or inside
            if any(not os.path.exists(odb.oid_to_path(oid)) for _, oid in objects):
                self._fetch(registry, _PartialOutput(target, out.hash_info, out.meta), _noop)
            return _stored_part(odb, target, objects, isdir=not exact)
        return None

    def _git_tracked(self, registry: Repo, path: str) -> Output | None:
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

    def _locked_commit(
        self, dvc_file: Path, to: str, url: str, path: str, rev: str | None
    ) -> str | None:
        """The ``rev_lock`` of the same import already at ``to``; Conflict for another one."""
        refuse_links(dvc_file)
        if not dvc_file.is_file():
            return None
        with self._project(create=False) as ws:
            stage = load_import(ws, dvc_file) if ws is not None else None
        if stage is None:
            return None  # _check_destination names what is in the way
        _same_import(stage.deps[0].def_repo, stage.deps[0].def_path, to, url, path, rev)
        return stage.deps[0].def_repo.get("rev_lock") or None

    def _upstream_commit(self, url: str, rev: str | None) -> str | None:
        """What ``rev`` resolves to in the registry now (None if it no longer resolves)."""
        try:
            with self._registry(url, rev) as registry:
                return registry.get_rev()
        except (NotFound, Invalid):
            return None

    def _check_destination(
        self,
        ws: Repo,
        to: str,
        dest: Path,
        dvc_file: Path,
        url: str,
        path: str,
        rev: str | None,
        commit: str,
        replace: bool,
    ) -> Stage | None:
        """None when the attach may place a new import; the import to make whole when the
        destination already records this one (DVC's lock-file semantics)."""
        if dvc_file.exists():
            stage = load_import(ws, dvc_file)
            if stage is None:
                raise Conflict(
                    f"Destination {to!r} is tracked by {dvc_file.name}, which is "
                    "not a dataset import; choose another destination."
                )
            if replace:
                return None
            _same_import(stage.deps[0].def_repo, stage.deps[0].def_path, to, url, path, rev)
            if not self._confined(stage):
                raise Invalid(
                    f"{dvc_file.name} is not an import lepton attached: its output "
                    f"{stage.outs[0].def_path!r} is not {dest.name!r} beside it."
                )
            _check_lock(to, path, stage.deps[0].def_repo.get("rev_lock"), commit)
            return stage
        _clear_destination(to, dest)
        return None

    def _make_whole(
        self,
        ws: Repo,
        registry: Repo,
        stage: Stage,
        out: Output,
        placement: Placement,
        emit: ProgressCallback,
    ) -> AttachedDataset:
        """Link what the locked import's folder lacks (a clone, a deleted or partial folder).

        The .dvc file is left as it is (it is the lock); files already there are kept.
        """
        recorded = stage.outs[0].hash_info
        _check_content(
            stage.relpath,
            recorded.value if recorded else None,
            out,
            out.hash_info.value,
            placement.dest.name,
        )
        dest = placement.dest
        linker = Linker(self.settings.cache_link_types)
        hashed = 0
        if not os.path.lexists(dest):
            try:
                hashed = self._link_dataset(registry, out, placement.staging, linker, emit)
                placement.publish_folder()
            except BaseException:
                placement.discard()
                raise
        elif out.hash_info.isdir:
            refuse_links(dest)
            _check_folder(dest)
            hashed = self._link_dataset(registry, out, dest, linker, emit, only_missing=True)
        with suppress(Exception):
            stage.outs[0].ignore()
        result = self._describe(ws, stage)
        result.link_type = ",".join(sorted(linker.used)) or None
        result.hashed_objects = hashed
        return result

    def _cache_objects(
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
            self._fetch(registry, out, emit)
        self._check_manifest(manifest, checker)
        oid_to_path = odb.oid_to_path
        return [(rel, oid_to_path(oid)) for rel, oid in _manifest(odb, hash_info)]

    def _fetch(self, registry: Repo, out: Output, emit: ProgressCallback) -> None:
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
            self._ensure_cache()  # DVC sets 2775 on the folders it writes to

    def _link_dataset(
        self,
        registry: Repo,
        out: Output,
        root: Path,
        linker: Linker,
        emit: ProgressCallback,
        *,
        only_missing: bool = False,
    ) -> int:
        """Link the dataset's files from the shared cache under ``root`` (a folder, or the
        file itself for a one-file dataset), fetching the objects the cache lacks; returns
        how many other users' objects were hashed before their first use.

        ``only_missing``: leave files already at their place alone (making a folder whole).
        """
        checker = self._object_checker()
        try:
            self._link_checked(registry, out, root, linker, emit, checker, only_missing)
        finally:
            checker.save()
        return checker.hashed

    def _link_checked(
        self,
        registry: Repo,
        out: Output,
        root: Path,
        linker: Linker,
        emit: ProgressCallback,
        checker: cache.ObjectChecker,
        only_missing: bool,
    ) -> None:
        files = self._cache_objects(registry, out, emit, checker)
        if only_missing:
            files = [(rel, src) for rel, src in files if not _present(root, rel)]
        n = len(files)
        total_bytes = out.meta.size or 0
        report = _link_reporter(emit, n, total_bytes)
        report(0)
        missing = _link_entries(files, root, out.hash_info.isdir, linker, report, checker)
        if missing:
            self._fetch(registry, out, emit)
            linked = n - len(missing)
            still = _link_entries(
                missing,
                root,
                out.hash_info.isdir,
                linker,
                lambda done: report(linked + done),
                checker,
            )
            if still:
                raise NotFound(
                    f"{len(still)} file(s) of {out} are in neither the shared cache nor "
                    f"the registry's DVC remote, e.g. {still[0][0]!r}; was it pushed?"
                )
        emit(AttachProgress("done", n, n, total_bytes, total_bytes))

    def _place(
        self,
        ws: Repo,
        registry: Repo,
        placement: Placement,
        out: Output,
        emit: ProgressCallback,
        **info: Any,
    ) -> AttachedDataset:
        """Link into staging (fetching what the cache lacks), then publish atomically."""
        linker = Linker(self.settings.cache_link_types)
        try:
            hashed = self._link_dataset(registry, out, placement.staging, linker, emit)
            stage = self._import_stage(ws, placement, out, info)
            placement.publish(lambda journal: write_new_file(journal, stage_text(stage)))
        except BaseException:
            placement.discard()
            raise
        with suppress(Exception):
            stage.outs[0].ignore()
        result = self._describe(ws, stage)
        result.link_type = ",".join(sorted(linker.used)) or None
        result.hashed_objects = hashed
        return result

    @staticmethod
    def _import_stage(ws: Repo, placement: Placement, out: Output, info: dict[str, Any]) -> Stage:
        """The import stage DVC itself would write (``dvc import``), from its own objects."""
        erepo = {"url": info["url"]}
        if info["rev"]:
            erepo["rev"] = info["rev"]
        stage = ws.stage.create(
            single_stage=True,
            validate=False,
            fname=str(placement.dvc_file),
            wdir=str(placement.dest.parent),
            deps=[info["path"]],
            outs=[placement.dest.name],
            erepo=erepo,
            force=True,
        )
        stage.deps[0].def_repo["rev_lock"] = info["commit"]
        ws_out = stage.outs[0]
        ws_out.hash_info = out.hash_info
        ws_out.meta = out.meta
        ws_out.hash_name = out.hash_info.name
        stage.frozen = True
        stage.md5 = stage.compute_md5()
        return stage

    def _describe(self, ws: Repo, stage: Stage, newer_tag: str | None = None) -> AttachedDataset:
        dep, out = stage.deps[0], stage.outs[0]
        local = Path(out.fs_path)
        return AttachedDataset(
            to=local.relative_to(self.workspace).as_posix(),
            local_path=str(local),
            dvc_file=Path(stage.path).relative_to(self.workspace).as_posix(),
            url=dep.def_repo["url"],
            path=dep.def_path,
            rev=dep.def_repo.get("rev"),
            commit=dep.def_repo.get("rev_lock", ""),
            hash=out.hash_info.value,
            files=out.meta.nfiles if out.meta.isdir else 1,
            bytes=out.meta.size or 0,
            newer_tag=newer_tag,
        )

    # -- what is attached -------------------------------------------------------------

    def _imports(self, ws: Repo) -> list[Stage]:
        """The workspace's dataset imports; a .dvc file DVC cannot load is skipped (and
        logged), one that is a link or whose output lies outside the workspace is ignored."""
        from dvc.repo.index import Index

        def skip(path: str, error: Exception) -> None:
            logging.getLogger(__name__).warning("Skipping %s: %s", path, error)

        stages = []
        for stage in Index.from_repo(ws, onerror=skip).stages:
            if stage.is_repo_import and self._confined(stage):
                stages.append(stage)
        return sorted(stages, key=lambda s: s.outs[0].fs_path)

    def _confined(self, stage: Stage) -> bool:
        """Whether the import's .dvc file is no link and its output lies in the workspace,
        beside it and named after it, as attach writes them."""
        dvc_file = Path(stage.path)
        out = Path(os.path.normpath(stage.outs[0].fs_path))
        return (
            not dvc_file.is_symlink()
            and out.parent == dvc_file.parent
            and dvc_file.name == f"{out.name}.dvc"
            and out.parent.resolve().is_relative_to(self.workspace)
        )

    def attached(self, check_upstream: bool = True) -> list[AttachedDataset]:
        """The imports in this workspace; ``newer_tag`` names a newer upstream tag if any.

        In a rerun: what the rerun attached, at the commits it was pinned to.
        """
        if self._in_rerun():
            # As a listing reports them: how each was placed belongs to its attach.
            return [
                held.model_copy(update={"link_type": None, "hashed_objects": 0})
                for _, held in sorted(rerun_attached().items())
            ]
        with self._project(create=False) as ws:
            if ws is None:
                return []
            stages = self._imports(ws)
            newer: dict[str, str | None] = {}
            if check_upstream:
                for url in {s.deps[0].def_repo["url"] for s in stages}:
                    locks = {
                        s.deps[0].def_repo.get("rev_lock")
                        for s in stages
                        if s.deps[0].def_repo["url"] == url
                    }
                    newer.update(self._newer_tags(url, {c for c in locks if c}))
            return [
                self._describe(ws, s, newer.get(s.deps[0].def_repo.get("rev_lock") or ""))
                for s in stages
            ]

    def _newer_tags(self, url: str, commits: set[str]) -> dict[str, str | None]:
        """Per attached commit, the tag furthest ahead of it in the registry's history.

        Descent, not dates: tags made within one second are still ordered correctly.
        """
        try:
            with self._registry(url) as repo:
                tags = [v for v in self._versions(repo) if v.kind == "tag"]
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

    def _find_attached(self, ws: Repo | None, to: str) -> tuple[str, Path, Path, Stage]:
        to_rel, dest, dvc_file = self._destination(to)
        refuse_links(dvc_file)
        stage = load_import(ws, dvc_file) if ws is not None and dvc_file.exists() else None
        if stage is not None and not self._confined(stage):
            raise Invalid(
                f"{dvc_file.name} is not an import lepton attached: its output "
                f"{stage.outs[0].def_path!r} is not {dest.name!r} beside it."
            )
        if stage is None:
            names = [a.to for a in self.attached(check_upstream=False)]
            raise NotFound(
                f"No dataset is attached at {to!r}. Attached: "
                f"{', '.join(names) or 'none'}." + did_you_mean(to_rel, names)
            )
        return to_rel, dest, dvc_file, stage

    def _in_rerun(self) -> bool:
        folder = pins.rerun_workdir()
        return folder is not None and self.workspace.is_relative_to(folder)

    def _rerun_held(self, to: str) -> AttachedDataset:
        to_rel = self._destination(to)[0]
        held = rerun_attached()
        if to_rel not in held:
            raise NotFound(
                f"No dataset is attached at {to!r} in this rerun. Attached: "
                f"{', '.join(held) or 'none'}." + did_you_mean(to_rel, list(held))
            )
        return held[to_rel]

    def describe(self, to: str) -> AttachedDataset:
        """The dataset attached at ``to`` (404 naming what is attached otherwise)."""
        if self._in_rerun():
            return self._rerun_held(to)
        with self._project(create=False) as ws:
            stage = self._find_attached(ws, to)[3]
            return self._describe(ws, stage)

    def update(
        self, to: str, rev: str | None = None, progress: ProgressCallback | None = None
    ) -> AttachedDataset:
        """Move an attached dataset to ``rev`` (default: its own rev, re-resolved)."""
        if self._in_rerun():
            held = self._rerun_held(to)
            new_rev = rev if rev is not None else held.rev
            return self._attach(held.url, held.path, new_rev, held.to, progress, replace=True)
        with self._project(create=False) as ws:
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
        if self._in_rerun():
            held = self._rerun_held(to)
            remove_tree(Path(held.local_path))
            remaining = rerun_attached()
            remaining.pop(held.to, None)
            save_rerun_attached(remaining)
            return held
        with self._project(create=False) as ws:
            _, dest, dvc_file, stage = self._find_attached(ws, to)
            described = self._describe(ws, stage)
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
        return cache.verify(self.cache_dir, self._object_checker(), fix_permissions, progress)


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


def _same_import(
    repo: dict[str, Any], held_path: str, to: str, url: str, path: str, rev: str | None
) -> None:
    """Conflict unless the import at ``to`` (its ``repo`` and path) is of the same url, path
    and rev name."""
    if (repo.get("url"), held_path, repo.get("rev") or None) == (url, path, rev):
        return
    now = repo.get("rev") or repo.get("rev_lock")
    raise Conflict(
        f"Destination {to!r} already holds {held_path!r} from "
        f"{repo.get('url')} at {now!r}; use update({to!r}, rev=...) to move "
        "it, or choose another destination."
    )


def _check_lock(to: str, path: str, locked: str | None, commit: str) -> None:
    """Conflict when a run pins another commit than the one the destination is locked to."""
    if locked != commit:
        raise Conflict(
            f"Destination {to!r} is locked to commit {locked} of {path!r}, but this "
            f"run pins {commit}; attach to another destination (to=...)."
        )


def _check_content(dvc_file: str, recorded: str | None, what: object, now: str, name: str) -> None:
    """Conflict when the .dvc file records other content than the locked commit holds."""
    if recorded and recorded != now:
        raise Conflict(
            f"{dvc_file} records content {recorded}, but {what} at its locked "
            f"commit is {now}; update({name!r}) to repair it."
        )


def _check_folder(dest: Path) -> None:
    if not dest.is_dir():
        raise Conflict(
            f"Destination {dest.name!r} should be the dataset's folder but is not a "
            "plain folder; remove it and attach again."
        )


def _clear_destination(to: str, dest: Path) -> None:
    """Conflict if something other than an empty folder is at ``dest`` (removed: a place to
    attach into, as for ``dvc import``)."""
    if not os.path.lexists(dest):
        return
    if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
        dest.rmdir()
        return
    raise Conflict(
        f"Destination {to!r} already exists and is not an attached "
        "dataset; choose another destination or remove it."
    )


def _link_reporter(emit: ProgressCallback, n: int, total_bytes: int) -> Callable[[int], None]:
    """Link progress as ``files done`` -> events; the manifest holds no per-file sizes, so
    bytes advance with the files."""

    def report(files_done: int) -> None:
        emit(
            AttachProgress(
                "link", files_done, n, total_bytes * files_done // max(n, 1), total_bytes
            )
        )

    return report


def _link_entries(
    files: list[tuple[str, str]],
    root: Path,
    isdir: bool,
    linker: Linker,
    report: Callable[[int], None],
    checker: cache.ObjectChecker,
) -> list[tuple[str, str]]:
    """Link ``(relative path, cache path)`` entries under ``root`` (a folder, or the file
    itself for a one-file dataset), each object checked first; returns those missing."""
    if not files:
        return []
    if isdir:
        return link_files(files, root, linker, report, check=checker.check)
    return _link_one(files[0][1], root, linker, report, checker.check)


def _present(root: Path, rel: str) -> bool:
    """Whether ``rel`` exists under ``root``, refusing folders that link out of ``root``."""
    target = os.path.join(root, rel)
    if os.path.lexists(target):
        return True
    parent = os.path.dirname(target)
    if (
        os.path.lexists(parent)
        and not os.path.realpath(parent).startswith(os.path.realpath(root) + os.sep)
        and os.path.realpath(parent) != os.path.realpath(root)
    ):
        raise Conflict(
            f"{os.path.relpath(parent, root.parent)!r} inside the attached folder leads "
            "outside it; lepton does not write through links. Remove it and attach again."
        )
    return False


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


def _manifest(odb: Any, hash_info: HashInfo) -> list[tuple[str, str]]:
    """``(relative path, oid)`` of every file in a DVC ``.dir`` object: plain md5 manifests
    read as JSON (``cache.manifest_entries``), other hash flavours (``md5-dos2unix`` of DVC 2
    caches) through DVC's ``Tree.load``."""
    from dvc_data.hashfile.tree import Tree

    name = hash_info.name or "md5"
    if odb.hash_name != name or name != "md5":
        return [("/".join(key), hi.value) for key, _, hi in Tree.load(odb, hash_info)]
    return cache.manifest_entries(odb.oid_to_path(hash_info.value))


def _link_one(
    src: str,
    dest: Path,
    linker: Linker,
    progress: Callable[[int], None],
    check: Callable[[str], None],
) -> list[tuple[str, str]]:
    """A single-file dataset: link it, or report its object missing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        check(src)
        linker.link(src, str(dest))
    except FileNotFoundError:
        return [("", src)]
    progress(1)
    return []
