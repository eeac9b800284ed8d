"""A shared bare mirror of a remote data registry's git repository, kept with libgit2.

DVC clones a remote registry into a temporary folder in every process that attaches from
it. The warm attach needs only the registry's ``.dvc`` files at one commit, so it keeps one
bare mirror per registry URL under the shared cache (``<cache>/git/<sha256 of url>.git``),
shared by every user and kernel on the machine, and goes to the network only when it must:

- a branch, a tag or no rev (the default branch) is looked up on the remote every time
  (``git ls-remote``, one round trip), so a floating rev is never answered from a stale
  mirror; the mirror is fetched only when it lacks the commit the remote names;
- a full commit id the mirror holds (a lock or a rerun's pin) needs no network at all;
- an abbreviated commit id is looked up in the mirror (fetched when missing) and taken only
  when it is reachable from a branch or tag on the remote now.

The mirror's own refs are never trusted to name a commit: members of the cache's group can
write to the mirror, but git objects are checked against their ids on every read (libgit2's
strict hash verification), the remote is always the URL the caller gave (an anonymous
remote, never one from the mirror's config), and a mirror whose config holds anything but
what ``init`` wrote is rebuilt. So tampering with a mirror can make an attach slower (it is
rebuilt, or the attach takes DVC's path), never make it attach other data.

Creating and fetching happen under an exclusive ``flock`` per mirror, so concurrent kernels
and users fetch once; a mirror is built in a temporary folder and renamed into place, so a
crash leaves no half-built mirror. Folders are setgid and group-writable (``2775``), not
sticky like the object folders: git replaces its ref files by renaming over them, which a
sticky folder forbids across users. Anything this module cannot answer (no network, a
remote that wants credentials, a commit the remote does not have) raises :class:`NotWarm`
and the attach takes DVC's path, which reports the problem as before.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import MIRRORS
from .warm import NotWarm

if TYPE_CHECKING:
    import pygit2

log = logging.getLogger(__name__)

FOLDER_MODE = 0o2775  # setgid + rwxrwxr-x: see the module docstring for why not sticky
REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
# What a bare ``init`` writes in a mirror's config; anything else (a remote, insteadOf, a
# proxy) could redirect a fetch, so such a mirror is rebuilt.
_CONFIG_KEYS = {
    "core.bare",
    "core.repositoryformatversion",
    "core.filemode",
    "core.symlinks",
    "core.ignorecase",
    "core.logallrefupdates",
    "core.precomposeunicode",
}
_HEX = re.compile(r"[0-9a-f]{4,40}")
_ZERO = "0" * 40


def mirror_path(cache_dir: Path, url: str) -> Path:
    return cache_dir / MIRRORS / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.git"


class MirroredRegistry:
    """A remote registry seen through its mirror: ``resolve`` a rev, read ``repo``."""

    def __init__(self, cache_dir: Path, url: str) -> None:
        self.url = url
        self.path = mirror_path(cache_dir, url)
        self._heads: dict[str, str] | None = None
        self._locked = False
        self._rebuilt = False
        self.repo = self._open()

    # -- resolving a rev ----------------------------------------------------------------

    def resolve(self, rev: str | None) -> str:
        """The commit ``rev`` names now: see the module docstring for when this fetches."""
        full = rev is not None and len(rev) == 40 and _HEX.fullmatch(rev)
        if full and (commit := self._commit(rev)) is not None:
            return commit
        heads = self.remote_heads()
        name = _upstream_ref(heads, rev)
        if name is not None:
            oid = heads[name]
            commit = self._commit(oid)
            if commit is None:
                self._fetch(oid)
                commit = self._commit(oid)
            if commit is None:
                raise NotWarm(f"the remote's {name} ({oid[:12]}) is not in its mirror")
            return commit
        if rev is not None and _HEX.fullmatch(rev):
            commit = self._abbreviated(rev)
            if commit is None:
                self._fetch(None)
                commit = self._abbreviated(rev)
            if commit is not None and self._reachable(commit, heads):
                return commit
        raise NotWarm(f"{rev!r} is not a branch, tag or commit this path can resolve")

    def remote_heads(self) -> dict[str, str]:
        """The remote's refs now (``git ls-remote``), peeled tags as ``<tag>^{}``."""
        if self._heads is None:
            import pygit2

            try:
                listed = self.repo.remotes.create_anonymous(self.url).list_heads()
            except (pygit2.GitError, ValueError) as e:
                raise NotWarm(f"the remote cannot be listed without DVC: {e}") from None
            self._heads = {h.name: str(h.oid) for h in listed if h.oid != _ZERO}
        return self._heads

    def _commit(self, oid: str) -> str | None:
        """``oid`` peeled to a commit, when the mirror holds it (a mirror that cannot read
        it back whole is rebuilt once)."""
        import pygit2

        try:
            return str(self.repo[oid].peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.InvalidSpecError):
            return None
        except pygit2.GitError as e:
            self._rebuild(f"it cannot read {oid[:12]}: {e}")
            return self._commit(oid)

    def _abbreviated(self, rev: str) -> str | None:
        import pygit2

        try:
            return str(self.repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.InvalidSpecError, pygit2.GitError):
            return None

    def _reachable(self, commit: str, heads: dict[str, str]) -> bool:
        """Whether a branch or tag on the remote holds ``commit`` (as a clone would)."""
        import pygit2

        tips = {self._commit(oid) for name, oid in heads.items() if name.startswith("refs/")}
        for tip in tips - {None}:
            try:
                if tip == commit or self.repo.descendant_of(tip, commit):
                    return True
            except pygit2.GitError:
                continue
        return False

    # -- keeping the mirror -------------------------------------------------------------

    def _open(self) -> pygit2.Repository:
        """The mirror, built when missing and rebuilt when it cannot be read or trusted."""
        repo = self._try_open()
        if repo is not None:
            return repo
        with self._lock():
            repo = self._try_open()  # another process built it meanwhile
            if repo is not None:
                return repo
            self._build()
        repo = self._try_open()
        if repo is None:
            raise NotWarm(f"the mirror of {self.url} cannot be opened after building it")
        return repo

    def _try_open(self) -> pygit2.Repository | None:
        import pygit2

        if not self.path.is_dir() or self.path.is_symlink():
            return None
        why = _untrusted_config(self.path / "config")
        if why is None:
            try:
                repo = pygit2.Repository(str(self.path), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
                if repo.is_bare:
                    return repo
                why = "it is not bare"
            except pygit2.GitError as e:
                why = str(e)
        log.debug("the mirror %s of %s is rebuilt: %s", self.path, self.url, why)
        self._discard()
        return None

    def _fetch(self, wanted: str | None) -> None:
        """Fetch the remote's branches and tags into the mirror (once, however many
        processes ask at the same time: the one that waited finds ``wanted`` there)."""
        import pygit2

        with self._lock():
            if wanted is not None and self._commit(wanted) is not None:
                return
            try:
                self.repo.remotes.create_anonymous(self.url).fetch(REFSPECS)
            except (pygit2.GitError, ValueError) as e:
                # The remote just answered ls-remote: the mirror is what fails.
                self._rebuild(f"a fetch into it failed: {e}")
            finally:
                _share(self.path)
            if wanted is not None and self._commit(wanted) is None:
                # Refs to objects it lost make a fetch skip them: the mirror is what fails.
                self._rebuild(f"it lacks {wanted[:12]} after a fetch")

    def _rebuild(self, why: str) -> None:
        """Replace a mirror that failed while in use by a new one (once per attach)."""
        if self._rebuilt:
            raise NotWarm(f"the mirror of {self.url} failed again after a rebuild: {why}")
        log.debug("the mirror %s of %s is rebuilt: %s", self.path, self.url, why)
        self._rebuilt = True
        with self._lock():
            self._discard()
            self._build()
        repo = self._try_open()
        if repo is None:
            raise NotWarm(f"the mirror of {self.url} cannot be opened after rebuilding it")
        self.repo = repo

    def _build(self) -> None:
        """A new mirror, fetched in a temporary folder and renamed into place."""
        import pygit2

        parent = self.path.parent
        _make_shared_folder(parent)
        try:
            building = Path(tempfile.mkdtemp(prefix=".building-", dir=parent))
        except OSError as e:
            raise NotWarm(f"no mirror can be built in {parent}: {e}") from None
        try:
            repo = pygit2.init_repository(str(building), bare=True)
            repo.remotes.create_anonymous(self.url).fetch(REFSPECS)
            _share(building)
            os.rename(building, self.path)
        except (pygit2.GitError, ValueError, OSError) as e:
            raise NotWarm(f"the registry cannot be mirrored without DVC: {e}") from None
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _discard(self) -> None:
        """Move a broken mirror out of the way (renamed first: a reader keeps what it has)."""
        with self._lock():
            if not os.path.lexists(self.path):
                return
            doomed = None
            try:
                doomed = Path(tempfile.mkdtemp(prefix=".broken-", dir=self.path.parent))
                os.rename(self.path, doomed / "mirror")
            except OSError as e:
                raise NotWarm(f"a broken mirror {self.path} cannot be moved aside: {e}") from None
            finally:
                if doomed is not None:
                    shutil.rmtree(doomed, ignore_errors=True)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """This mirror's lock: an exclusive ``flock`` on ``<mirror>.lock`` (re-entrant)."""
        if self._locked:
            yield
            return
        _make_shared_folder(self.path.parent)
        lock = self.path.with_suffix(".lock")
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o664)
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o664)  # whatever the umask: every member takes this lock
        except OSError as e:
            raise NotWarm(f"the mirror's lock {lock} cannot be opened: {e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _upstream_ref(heads: dict[str, str], rev: str | None) -> str | None:
    """The remote ref ``rev`` names, in the order a clone resolves a name: a full ref name,
    a tag, a branch; no rev is the remote's HEAD. Peeled to the tag's commit when listed."""
    if rev is None or rev == "HEAD":
        candidates = ["HEAD"]
    elif rev.startswith("refs/"):
        candidates = [rev]
    else:
        candidates = [f"refs/tags/{rev}", f"refs/heads/{rev}"]
    for name in candidates:
        if name in heads:
            return f"{name}^{{}}" if f"{name}^{{}}" in heads else name
    return None


def _untrusted_config(path: Path) -> str | None:
    """Why the mirror's own config may not be used (None when it holds only ``init``'s)."""
    import pygit2

    if path.is_symlink() or not path.is_file():
        return "its config is missing or a link"
    try:
        extra = {entry.name for entry in pygit2.Config(str(path))} - _CONFIG_KEYS
    except pygit2.GitError as e:
        return f"its config cannot be read: {e}"
    return f"its config sets {', '.join(sorted(extra))}" if extra else None


def _make_shared_folder(folder: Path) -> None:
    try:
        os.mkdir(folder)
    except FileExistsError:
        return
    except OSError as e:
        raise NotWarm(f"the folder of mirrors {folder} cannot be made: {e}") from None
    os.chmod(folder, FOLDER_MODE)


def _share(root: Path) -> None:
    """What this user wrote in a mirror, opened to the cache's group: folders ``2775``,
    files group-readable (git replaces files by rename, never writes them in place)."""
    uid = os.geteuid()
    for top, dirs, files in os.walk(root):
        for name, wanted in [(d, FOLDER_MODE) for d in dirs] + [(f, 0o040) for f in files]:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if st.st_uid == uid and not stat.S_ISLNK(st.st_mode):
                mode = stat.S_IMODE(st.st_mode)
                if mode & wanted != wanted:
                    os.chmod(path, mode | wanted)
    st = os.lstat(root)
    if st.st_uid == uid and stat.S_IMODE(st.st_mode) & FOLDER_MODE != FOLDER_MODE:
        os.chmod(root, stat.S_IMODE(st.st_mode) | FOLDER_MODE)
