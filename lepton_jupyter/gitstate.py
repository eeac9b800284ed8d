"""The git state of a folder (its repository's root, HEAD commit, dirty or not), read with
pygit2: one reader for run manifests and model lineage alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    root: str
    commit: str | None  # None in a repository without commits
    dirty: bool  # tracked files differ from HEAD; untracked files do not count


def git_state(folder: str | Path) -> GitState | None:
    """The state of the git repository containing ``folder``; None outside one, in a bare
    one, or where git cannot read it."""
    import pygit2

    try:
        found = pygit2.discover_repository(str(folder))
        repo = None if found is None else pygit2.Repository(found)
    except (pygit2.GitError, OSError):
        return None
    if repo is None or repo.is_bare:
        return None
    commit = None if repo.head_is_unborn else str(repo.head.target)
    changes = repo.status(untracked_files="no")
    dirty = any(flags != pygit2.enums.FileStatus.CURRENT for flags in changes.values())
    return GitState(root=str(Path(repo.workdir).resolve()), commit=commit, dirty=dirty)


def is_ignored(git_root: Path, path: Path) -> bool:
    """Whether ``path`` is git-ignored in the repository at ``git_root``."""
    import pygit2

    repo = pygit2.Repository(str(git_root))
    relative = path.resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    return bool(repo.path_is_ignored(relative))
