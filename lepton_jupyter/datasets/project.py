"""The workspace's side of attaching: its DVC project (found, or initialised and pointed at
the shared cache), where an attach may write (a destination confined to the workspace, and
what may already be there), and the imports the project holds.

DVC is imported inside the methods: the warm attach (``warm.py``) never loads it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .. import pins
from ..errors import Conflict, Invalid
from ..gitstate import is_ignored
from . import cache
from .linker import refuse_links
from .schema import AttachedDataset, AttachPlan
from .store import quiet_dvc

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage


class WorkspaceProject:
    """One workspace (a notebook's cwd or the server root) and its DVC project."""

    def __init__(self, workspace: Path, shared: cache.SharedCache) -> None:
        self.workspace = workspace
        self.shared = shared

    @contextmanager
    def open(self, create: bool = True) -> Iterator[Repo | None]:
        """The workspace's DVC project (initialised when missing), using the shared cache;
        None without one when ``create`` is false."""
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo

        try:
            root = Repo.find_root(str(self.workspace))
        except NotDvcRepoError:
            if not create:
                yield None
                return
            root = self._init()
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
        wanted = self.shared.dvc_config()
        current = {k: repo.config["cache"].get(k) for k in wanted}
        if current["type"] is not None and not isinstance(current["type"], str):
            current["type"] = ",".join(current["type"])
        return current == wanted

    def _configure_cache(self, repo: Repo) -> None:
        """Point the project at the shared cache in ``.dvc/config.local`` (per machine)."""
        dvc_dir = Path(repo.dvc_dir)
        refuse_links(dvc_dir, dvc_dir / "config.local")
        self.shared.prepare()
        with repo.config.edit("local") as conf:
            conf["cache"].update(self.shared.dvc_config())

    def _init(self) -> str:
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

    def in_rerun(self) -> bool:
        """Whether this workspace is a papermill rerun's own working folder."""
        folder = pins.rerun_workdir()
        return folder is not None and self.workspace.is_relative_to(folder)

    def destination(self, to: str) -> tuple[str, Path, Path]:
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

    def imports(self, ws: Repo) -> list[Stage]:
        """The workspace's dataset imports; a .dvc file DVC cannot load is skipped (and
        logged), one that is a link or whose output lies outside the workspace is ignored."""
        from dvc.repo.index import Index

        def skip(path: str, error: Exception) -> None:
            logging.getLogger(__name__).warning("Skipping %s: %s", path, error)

        stages = []
        for stage in Index.from_repo(ws, onerror=skip).stages:
            if stage.is_repo_import and self.confined(stage):
                stages.append(stage)
        return sorted(stages, key=lambda s: s.outs[0].fs_path)

    def confined(self, stage: Stage) -> bool:
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

    def check_confined(self, stage: Stage, dvc_file: Path, dest: Path) -> None:
        if not self.confined(stage):
            raise Invalid(
                f"{dvc_file.name} is not an import lepton attached: its output "
                f"{stage.outs[0].def_path!r} is not {dest.name!r} beside it."
            )

    def describe(self, stage: Stage, newer_tag: str | None = None) -> AttachedDataset:
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


# -- what may already be at a destination ------------------------------------------------


def same_import(repo: dict[str, Any], held_path: str, plan: AttachPlan) -> None:
    """Conflict unless the import at the destination (its ``repo`` and path) is of the
    plan's url, path and rev name."""
    if (repo.get("url"), held_path, repo.get("rev") or None) == (plan.url, plan.path, plan.rev):
        return
    now = repo.get("rev") or repo.get("rev_lock")
    raise Conflict(
        f"Destination {plan.to!r} already holds {held_path!r} from "
        f"{repo.get('url')} at {now!r}; use update({plan.to!r}, rev=...) to move "
        "it, or choose another destination."
    )


def check_lock(to: str, path: str, locked: str | None, commit: str) -> None:
    """Conflict when a run pins another commit than the one the destination is locked to."""
    if locked != commit:
        raise Conflict(
            f"Destination {to!r} is locked to commit {locked} of {path!r}, but this "
            f"run pins {commit}; attach to another destination (to=...)."
        )


def check_content(dvc_file: str, recorded: str | None, what: object, now: str, name: str) -> None:
    """Conflict when the .dvc file records other content than the locked commit holds."""
    if recorded and recorded != now:
        raise Conflict(
            f"{dvc_file} records content {recorded}, but {what} at its locked "
            f"commit is {now}; update({name!r}) to repair it."
        )


def check_folder(dest: Path) -> None:
    if not dest.is_dir():
        raise Conflict(
            f"Destination {dest.name!r} should be the dataset's folder but is not a "
            "plain folder; remove it and attach again."
        )


def clear_destination(to: str, dest: Path) -> None:
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


def present(root: Path, rel: str) -> bool:
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
