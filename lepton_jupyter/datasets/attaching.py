"""Placing one dataset into the workspace, the three ways: warm (``warm.py``, no DVC, when
the shared cache holds it), through DVC's objects (any registry, dataset and workspace;
fetches what the cache lacks), or into a papermill rerun's own working folder.

Each takes one :class:`AttachPlan` (what to attach, checked, and where). The result is a
standard DVC import (a ``.dvc`` file with ``rev_lock``) written as DVC writes it; files are
linked from the shared cache into a staging folder that is renamed into place, so an
interrupted attach leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Conflict, NotFound
from ..workdir import remove_tree, unmirror
from . import cache, warm
from .data_registry import DataRegistries
from .linker import Linker, Placement, link_files, refuse_links, write_new_file
from .project import (
    WorkspaceProject,
    check_content,
    check_folder,
    check_lock,
    clear_destination,
    present,
    same_import,
)
from .schema import AttachedDataset, AttachPlan, AttachProgress, ProgressCallback
from .store import (
    dvc_project_lock,
    load_import,
    rerun_attached,
    save_rerun_attached,
    stage_text,
)

if TYPE_CHECKING:
    from dvc.output import Output
    from dvc.repo import Repo
    from dvc.stage import Stage


class RevisionMoved(UserWarning):
    """An attached dataset's rev has moved upstream; the workspace keeps its locked commit."""


class Attacher:
    """Attaches into one workspace's project from data registries through one shared cache."""

    def __init__(
        self,
        project: WorkspaceProject,
        registries: DataRegistries,
        shared: cache.SharedCache,
    ) -> None:
        self.project = project
        self.registries = registries
        self.shared = shared

    def attach(self, plan: AttachPlan, emit: ProgressCallback) -> AttachedDataset:
        if self.project.in_rerun():
            return self._attach_in_rerun(plan, emit)
        return self._attach_here(plan, emit)

    def _attach_here(self, plan: AttachPlan, emit: ProgressCallback) -> AttachedDataset:
        """Attach into this workspace, honouring the destination's lock (as ``dvc import``).

        The same url + path + rev name already imported at ``to`` keeps its locked commit
        and only has its folder made whole; a moved upstream is reported, not taken.
        """
        attached = None if plan.replace else self._try_warm(plan, emit)
        result, upstream = attached or self._attach_with_dvc(plan, emit)
        if upstream is not None and upstream != result.commit:
            result.upstream_commit = upstream
            warnings.warn(
                f"{plan.rev or 'The default branch'} of {plan.url} is now at {upstream[:12]}; "
                f"{plan.to!r} stays at its locked commit {result.commit[:12]}. "
                f"update({plan.to!r}) to take it.",
                RevisionMoved,
                stacklevel=5,  # the caller of DatasetService.attach / update
            )
        return result

    def _try_warm(
        self, plan: AttachPlan, emit: ProgressCallback
    ) -> tuple[AttachedDataset, str | None] | None:
        """``_attach_warm``, or None (the debug log says why) where DVC's path must attach. A
        workspace without its DVC project has DVC make it first (once: DVC's bookkeeping)."""
        log = logging.getLogger(__name__)
        try:
            try:
                return self._attach_warm(plan, emit)
            except warm.ProjectNotReady as e:
                log.debug("DVC sets up the workspace's project first: %s", e)
                with self.project.open():
                    pass
                return self._attach_warm(plan, emit)
        except warm.NotWarm as e:
            log.debug("attach of %s takes DVC's path: %s", plan.path, e)
            return None

    def _attach_with_dvc(
        self, plan: AttachPlan, emit: ProgressCallback
    ) -> tuple[AttachedDataset, str | None]:
        """The attach through DVC's objects: any registry, dataset and workspace; fetches
        what the shared cache lacks. Returns the result and where ``rev`` is upstream now."""
        locked = None if plan.replace else self._locked_commit(plan)
        upstream = None
        if plan.pin is not None:
            wanted = plan.pin["commit"]
        elif locked is not None:
            upstream = self.registries.upstream_commit(plan.url, plan.rev)
            wanted = locked
        else:
            wanted = plan.rev
        emit(AttachProgress("resolve"))
        with self.registries.open(plan.url, wanted) as registry:
            commit = registry.get_rev()
            out = self.registries.dataset_out(registry, plan.url, plan.path, plan.rev)
            with self.project.open() as ws, dvc_project_lock(ws):
                placement = Placement(plan.dest, plan.dvc_file)
                refuse_links(plan.dest.parent / ".gitignore")
                placement.recover()
                stage = self._check_destination(ws, plan, commit)
                if stage is not None:
                    result = self._make_whole(registry, stage, out, placement, emit)
                else:
                    result = self._place(ws, registry, placement, out, emit, plan, commit)
        return result, upstream

    def _attach_warm(
        self, plan: AttachPlan, emit: ProgressCallback
    ) -> tuple[AttachedDataset, str | None]:
        """The attach without DVC (``warm.py``) when the shared cache holds the dataset: a
        new import placed as ``_place`` places it, or the import already at ``to`` made
        whole as ``_make_whole`` does, with the same checks, lock and conflicts. NotWarm for
        every other case, before anything is written (making a folder whole, the files
        linked before a missing object stay: DVC's path then links the rest)."""
        url, path, rev = plan.url, plan.path, plan.rev
        to_rel, dest, dvc_file = plan.to, plan.dest, plan.dvc_file
        refuse_links(dvc_file)
        root = warm.project_root(self.project.workspace)
        uses_git = warm.check_project(root, self.shared.dvc_config())
        self.shared.prepare()
        registry = warm.open_registry(
            url, self.shared.cache_dir, self.shared.settings.data_registry_timeout
        )
        held = warm.held_import(dvc_file)
        upstream = None
        wanted = plan.pin["commit"] if plan.pin else rev
        if held is not None:
            same_import(held.repo, held.path, plan)
            if held.out_path != dest.name:
                raise warm.NotWarm("the import's output is not the destination")
            if plan.pin is None:
                wanted = held.rev_lock
                with suppress(warm.NotWarm):
                    upstream = registry.resolve(rev)
        commit = registry.resolve(wanted)
        out = warm.tracked_output(registry.repo, commit, path)
        emit(AttachProgress("resolve"))
        checker = self.shared.object_checker()
        linker = self.shared.linker()
        placement = Placement(dest, dvc_file)
        try:
            files = warm.cache_objects(self.shared.cache_dir, out, checker.check)
            with warm.project_lock(root):
                refuse_links(dest.parent / ".gitignore")
                placement.recover()
                if warm.held_import(dvc_file) != held:
                    raise warm.NotWarm("the destination changed meanwhile")
                try:
                    if held is None:
                        clear_destination(to_rel, dest)
                        text = warm.stage_text(url, path, rev, commit, out, dest.name)
                        _link_warm(files, placement.staging, out, linker, emit, checker)
                        placement.publish(lambda journal: write_new_file(journal, text))
                    else:
                        check_lock(to_rel, path, held.rev_lock, commit)
                        check_content(dvc_file.name, held.out.md5, path, out.md5, dest.name)
                        if not os.path.lexists(dest):
                            _link_warm(files, placement.staging, out, linker, emit, checker)
                            placement.publish_folder()
                        elif out.isdir:
                            refuse_links(dest)
                            check_folder(dest)
                            missing = [(rel, src) for rel, src in files if not present(dest, rel)]
                            _link_warm(missing, dest, out, linker, emit, checker)
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
            dvc_file=dvc_file.relative_to(self.project.workspace).as_posix(),
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

    def _attach_in_rerun(self, plan: AttachPlan, emit: ProgressCallback) -> AttachedDataset:
        """A rerun's attach: the pinned commit's files linked into the rerun's own folder.

        The rerun's working folder mirrors the workspace with links (``workdir.py``); the
        mirror link at ``to`` is replaced by the pinned data, linked from the shared cache.
        The workspace's folder, .dvc file and lock are neither read nor changed.
        """
        dest = plan.dest
        emit(AttachProgress("resolve"))
        with self.registries.open(plan.url, plan.pin["commit"] if plan.pin else plan.rev) as reg:
            commit = reg.get_rev()
            out = self.registries.dataset_out(reg, plan.url, plan.path, plan.rev)
            unmirror(self.project.workspace, dest)
            staging = Placement(dest, dest).staging
            linker = self.shared.linker()
            try:
                self._link_dataset(reg, out, staging, linker, emit)
                if os.path.lexists(dest):
                    remove_tree(dest)  # this rerun's own earlier attach at ``to``
                os.rename(staging, dest)
            except BaseException:
                remove_tree(staging)
                raise
        result = AttachedDataset(
            to=plan.to,
            local_path=str(dest),
            dvc_file=f"{plan.to}.dvc",
            url=plan.url,
            path=plan.path,
            rev=plan.rev,
            commit=commit,
            hash=out.hash_info.value,
            files=out.meta.nfiles if out.meta.isdir else 1,
            bytes=out.meta.size or 0,
            link_type=",".join(sorted(linker.used)) or None,
        )
        held = rerun_attached()
        held[plan.to] = result
        save_rerun_attached(held)
        return result

    def _locked_commit(self, plan: AttachPlan) -> str | None:
        """The ``rev_lock`` of the same import already at ``to``; Conflict for another one."""
        refuse_links(plan.dvc_file)
        if not plan.dvc_file.is_file():
            return None
        with self.project.open(create=False) as ws:
            stage = load_import(ws, plan.dvc_file) if ws is not None else None
        if stage is None:
            return None  # _check_destination names what is in the way
        same_import(stage.deps[0].def_repo, stage.deps[0].def_path, plan)
        return stage.deps[0].def_repo.get("rev_lock") or None

    def _check_destination(self, ws: Repo, plan: AttachPlan, commit: str) -> Stage | None:
        """None when the attach may place a new import; the import to make whole when the
        destination already records this one (DVC's lock-file semantics)."""
        if plan.dvc_file.exists():
            stage = load_import(ws, plan.dvc_file)
            if stage is None:
                raise Conflict(
                    f"Destination {plan.to!r} is tracked by {plan.dvc_file.name}, which is "
                    "not a dataset import; choose another destination."
                )
            if plan.replace:
                return None
            same_import(stage.deps[0].def_repo, stage.deps[0].def_path, plan)
            self.project.check_confined(stage, plan.dvc_file, plan.dest)
            check_lock(plan.to, plan.path, stage.deps[0].def_repo.get("rev_lock"), commit)
            return stage
        clear_destination(plan.to, plan.dest)
        return None

    def _make_whole(
        self,
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
        check_content(
            stage.relpath,
            recorded.value if recorded else None,
            out,
            out.hash_info.value,
            placement.dest.name,
        )
        dest = placement.dest
        linker = self.shared.linker()
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
            check_folder(dest)
            hashed = self._link_dataset(registry, out, dest, linker, emit, only_missing=True)
        return self._placed(stage, linker, hashed)

    def _place(
        self,
        ws: Repo,
        registry: Repo,
        placement: Placement,
        out: Output,
        emit: ProgressCallback,
        plan: AttachPlan,
        commit: str,
    ) -> AttachedDataset:
        """Link into staging (fetching what the cache lacks), then publish atomically."""
        linker = self.shared.linker()
        try:
            hashed = self._link_dataset(registry, out, placement.staging, linker, emit)
            stage = _import_stage(ws, placement, out, plan, commit)
            placement.publish(lambda journal: write_new_file(journal, stage_text(stage)))
        except BaseException:
            placement.discard()
            raise
        return self._placed(stage, linker, hashed)

    def _placed(self, stage: Stage, linker: Linker, hashed: int) -> AttachedDataset:
        """The import as placed: its .gitignore entry made (best effort), how it linked."""
        with suppress(Exception):
            stage.outs[0].ignore()
        result = self.project.describe(stage)
        result.link_type = ",".join(sorted(linker.used)) or None
        result.hashed_objects = hashed
        return result

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
        checker = self.shared.object_checker()
        try:
            files = self.registries.cache_objects(registry, out, emit, checker)
            if only_missing:
                files = [(rel, src) for rel, src in files if not present(root, rel)]
            n = len(files)
            total_bytes = out.meta.size or 0
            report = _link_reporter(emit, n, total_bytes)
            report(0)
            missing = _link_entries(files, root, out.hash_info.isdir, linker, report, checker)
            if missing:
                self.registries.fetch(registry, out, emit)
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
        finally:
            checker.save()
        return checker.hashed


def _import_stage(
    ws: Repo, placement: Placement, out: Output, plan: AttachPlan, commit: str
) -> Stage:
    """The import stage DVC itself would write (``dvc import``), from its own objects."""
    erepo = {"url": plan.url}
    if plan.rev:
        erepo["rev"] = plan.rev
    stage = ws.stage.create(
        single_stage=True,
        validate=False,
        fname=str(placement.dvc_file),
        wdir=str(placement.dest.parent),
        deps=[plan.path],
        outs=[placement.dest.name],
        erepo=erepo,
        force=True,
    )
    stage.deps[0].def_repo["rev_lock"] = commit
    ws_out = stage.outs[0]
    ws_out.hash_info = out.hash_info
    ws_out.meta = out.meta
    ws_out.hash_name = out.hash_info.name
    stage.frozen = True
    stage.md5 = stage.compute_md5()
    return stage


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
