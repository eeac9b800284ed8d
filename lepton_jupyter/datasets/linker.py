"""Placing cache objects in a workspace as links, and publishing them atomically.

DVC's own checkout goes through its filesystem layer file by file; for a warm shared cache
all an attach needs is one link per file, made straight from the cache path. Files are
linked into a hidden staging folder beside the destination and renamed into place, and the
.dvc file is written last, so an interrupted attach never leaves a half-filled destination
nor a .dvc file pointing at one. A journal (the pending .dvc file) lets the next attach undo
whatever a killed one left behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import Invalid

LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")

# Errors that mean "this link type does not work here", as opposed to a real failure.
_UNSUPPORTED = {
    errno.EXDEV,
    errno.EPERM,
    errno.ENOTSUP,
    errno.EOPNOTSUPP,
    errno.EINVAL,
    errno.ENOTTY,
    errno.EMLINK,
    errno.EACCES,
}


# ioctl(2) request cloning a whole file on Linux (btrfs, XFS, overlayfs over those).
_FICLONE = 0x40049409


def _reflink(src: str, dst: str) -> None:
    """A copy-on-write clone of ``src`` at a new ``dst``.

    On Linux one ``FICLONE`` ioctl, as dvc_objects does it; elsewhere dvc_objects' own
    (``clonefile`` on macOS), imported only there: its filesystem layer costs a new process
    0.2 s to import, and a warm attach links 5,000 files in less.
    """
    if sys.platform != "linux":
        from dvc_objects.fs.system import reflink

        reflink(src, dst)
        return
    import fcntl

    src_fd = os.open(src, os.O_RDONLY)
    try:
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        try:
            fcntl.ioctl(dst_fd, _FICLONE, src_fd)
        except OSError:
            os.unlink(dst)
            raise
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def _copy(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)


def _symlink(src: str, dst: str) -> None:
    os.stat(src)  # a dangling link would hide a missing cache object
    os.symlink(src, dst)


_LINKERS: dict[str, Callable[[str, str], None]] = {
    "reflink": _reflink,
    # Cache objects are regular files, so one link(2) call; dvc_objects' hardlink() also
    # lstat()s the source to dereference symlinks, a second system call per file.
    "hardlink": os.link,
    "symlink": _symlink,
    "copy": _copy,
}


def check_link_types(link_types: Sequence[str]) -> list[str]:
    """The configured link types, or Invalid naming the unknown ones."""
    if not link_types:
        raise Invalid(
            "cache_link_types (LEPTON_CACHE_LINK_TYPES) is empty: files cannot be placed "
            f"from the shared cache without a way to link them; name some of {list(LINK_TYPES)}."
        )
    unknown = [t for t in link_types if t not in _LINKERS]
    if unknown:
        raise Invalid(
            f"Unknown cache link types {unknown} (cache_link_types / "
            f"LEPTON_CACHE_LINK_TYPES); choose from {list(LINK_TYPES)}."
        )
    return list(link_types)


class Linker:
    """Links files with the first configured link type that works, falling back per file.

    A type that fails once (another filesystem, ``fs.protected_hardlinks`` on a cache file
    owned by another user, no reflink support) is dropped for the rest of the run, so the
    cost of probing is paid once, not per file.
    """

    def __init__(self, link_types: Sequence[str]) -> None:
        self._types = check_link_types(link_types)
        self.used: set[str] = set()

    def link(self, src: str, dst: str) -> None:
        while True:
            kind = self._types[0]
            try:
                _LINKERS[kind](src, dst)
            except OSError as e:
                if e.errno not in _UNSUPPORTED or len(self._types) == 1:
                    raise
                self._types.pop(0)
                continue
            self.used.add(kind)
            return


def link_files(
    files: Sequence[tuple[str, str]],
    root: Path,
    linker: Linker,
    progress: Callable[[int], None] | None = None,
    every: int = 512,
    check: Callable[[str], None] | None = None,
) -> list[tuple[str, str]]:
    """Link each ``(relative path, cache object path)`` to ``root / relative path``.

    Returns the entries whose cache object does not exist (to fetch, then link): the link
    (or ``check(object path)``, which raises FileNotFoundError for a missing object) is the
    existence check, so a warm attach costs one or two system calls per file.
    ``progress(files_linked)`` is called every ``every`` files and at the end.
    """
    base = str(root)
    os.makedirs(base, exist_ok=True)
    for d in sorted({os.path.dirname(rel) for rel, _ in files} - {""}):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    link = linker.link
    join = os.path.join
    missing = []
    done = 0
    for rel, src in files:
        try:
            if check is not None:
                check(src)
            link(src, join(base, rel))
        except FileNotFoundError:
            missing.append((rel, src))
            continue
        done += 1
        if progress is not None and done % every == 0:
            progress(done)
    if progress is not None:
        progress(done)
    return missing


def refuse_links(*paths: Path) -> None:
    """Invalid naming the first of ``paths`` that is a symbolic link (dangling or not).

    These are names lepton writes, renames or deletes in a workspace; a link planted there
    (a ``git clone`` can carry one) would redirect that to wherever it points.
    """
    for path in paths:
        if path.is_symlink():
            raise Invalid(
                f"{path} is a symbolic link (to {os.readlink(path)}); lepton never writes, "
                "renames or deletes through a link in the workspace. Remove the link and "
                "try again."
            )


class Placement:
    """The hidden siblings of one destination: staging folder, journal, and old copy."""

    def __init__(self, dest: Path, dvc_file: Path) -> None:
        self.dest = dest
        self.dvc_file = dvc_file
        self.staging = dest.parent / f".{dest.name}.lepton-staging"
        self.pending = dvc_file.parent / f".{dvc_file.name}.lepton-pending"
        self.trash = dest.parent / f".{dest.name}.lepton-old"

    def refuse_links(self) -> None:
        """Invalid if the .dvc file, the journal, staging or old copy is a link."""
        refuse_links(self.dvc_file, self.pending, self.staging, self.trash)

    def recover(self) -> None:
        """Undo what an interrupted attach or update left; the last committed state stays."""
        self.refuse_links()
        if self.pending.exists():
            # Not committed: the .dvc file still describes the previous state (or none).
            if self.trash.exists():
                _remove(self.dest)
                os.rename(self.trash, self.dest)
            elif not self.dvc_file.exists():
                _remove(self.dest)
            self.pending.unlink()
        _remove(self.trash)
        _remove(self.staging)

    def publish(self, write_dvc_file: Callable[[Path], None]) -> None:
        """Move the staged folder into place and write the .dvc file, commit point last."""
        write_dvc_file(self.pending)
        if os.path.lexists(self.dest):
            os.rename(self.dest, self.trash)
        os.rename(self.staging, self.dest)
        os.replace(self.pending, self.dvc_file)
        _remove(self.trash)

    def publish_folder(self) -> None:
        """Move the staged folder into place for an import whose .dvc file already exists."""
        os.rename(self.staging, self.dest)

    def discard(self) -> None:
        """Forget a staged attach that failed before its commit point."""
        self.recover()


def write_new_file(path: Path, text: str) -> None:
    """Create ``path`` with ``text``; fails if anything, a link included, is already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree, including read-only files (cache links)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
