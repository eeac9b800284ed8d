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
commit the remote does not have) raises :class:`NotWarm` and the attach takes DVC's path,
which reports the problem as before.

Credentials stay DVC's: a URL that carries them (``https://user:token@...``) is never
mirrored (git would write it into the mirror's ``FETCH_HEAD``, readable by the group), and
a remote that asks for them (libgit2 here has no credential helper or ssh agent) sends the
attach to DVC's path, which has the user's; either is said once per process and URL, and
only with the credentials masked (``shown_url``). A remote that stops answering fails the
attach after ``data_registry_timeout`` seconds without a byte, naming the URL
(:class:`RegistryTimeout`): DVC's path would hang on it as long as the connection lasts.

Each use of a mirror holds a shared ``flock`` on ``<mirror>.used`` (whose modification
time is the last use) for as long as the attach reads it; :func:`prune` removes mirrors
unused for longer than ``data_mirror_max_age_days``, only while it holds that lock and the
mirror's own lock exclusively, so never one in use, being built or being fetched.

The module is a little over 500 lines because the mirror, its locks and its pruning share
one set of file conventions (the lock, ``.used`` and the rename-aside): kept together so a
change to one cannot leave the others reading a different layout.
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
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import MIRRORS
from .schema import PrunedMirror
from .warm import NotWarm, RegistryTimeout

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
#: What libgit2 says when a socket read or connect ran past its timeout (the SSL layer
#: reports the socket's EAGAIN).
_TIMED_OUT = re.compile(r"timed out|temporarily unavailable", re.IGNORECASE)
#: Schemes whose user name is a credential too (a token sent as the user, over http).
_TOKEN_USER_SCHEMES = ("http", "https", "ftp", "ftps")
#: URLs this process found needing credentials: straight to DVC's path, said once.
_needs_credentials: set[str] = set()


class CredentialsNeeded(NotWarm):
    """The remote (or its URL) involves credentials: DVC's path, which has the user's."""


def mirror_path(cache_dir: Path, url: str) -> Path:
    return cache_dir / MIRRORS / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.git"


def carries_credentials(url: str) -> bool:
    """Whether ``url`` holds a password, or a user name that is a token (http, ftp); an ssh
    user name (``git@host:path``, ``ssh://git@host/...``) is none."""
    if "://" not in url:
        return False
    parts = urllib.parse.urlsplit(url)
    try:
        password, user = parts.password, parts.username
    except ValueError:
        return True  # unreadable userinfo: mask it
    return password is not None or (user is not None and parts.scheme in _TOKEN_USER_SCHEMES)


def shown_url(url: str) -> str:
    """``url`` as a log or an error may show it: its credentials masked."""
    if not carries_credentials(url):
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _to_dvc_path(url: str, why: str) -> CredentialsNeeded:
    """The fall-back for a URL that involves credentials, said once per process and URL."""
    if url not in _needs_credentials:
        _needs_credentials.add(url)
        log.warning(
            "%s %s: attaches from it take DVC's path (your git credentials), not the shared mirror",
            shown_url(url),
            why,
        )
    return CredentialsNeeded(f"{shown_url(url)} {why}")


class MirroredRegistry:
    """A remote registry seen through its mirror: ``resolve`` a rev, read ``repo``.

    ``timeout``: seconds the remote may go without answering (``data_registry_timeout``).
    The mirror counts as in use (not pruned) while this object lives.
    """

    def __init__(self, cache_dir: Path, url: str, timeout: float) -> None:
        if carries_credentials(url):
            raise _to_dvc_path(url, "carries credentials")
        if url in _needs_credentials:
            raise CredentialsNeeded(f"{url} asked for credentials before")
        self.url = url
        self.timeout = timeout
        self.path = mirror_path(cache_dir, url)
        self._heads: dict[str, str] | None = None
        self._locked = False
        self._rebuilt = False
        _make_shared_folder(self.path.parent)
        weakref.finalize(self, os.close, _hold_use(self.path))
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
                with self._network("listing its refs"):
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
                with self._network("fetching into its mirror"):
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
            with self._network("mirroring it"):
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
    def _network(self, doing: str) -> Iterator[None]:
        """Around each libgit2 call that talks to the remote: a remote that stops answering
        for ``timeout`` seconds is an error naming it; one that asks for credentials sends
        the attach to DVC's path."""
        import pygit2

        wait = max(1, round(self.timeout * 1000))  # libgit2's process-wide setting, in ms
        pygit2.settings.server_connect_timeout = wait
        pygit2.settings.server_timeout = wait
        started = time.monotonic()
        try:
            yield
        except pygit2.AuthError:
            raise _to_dvc_path(self.url, "asks for credentials") from None
        except pygit2.GitError as e:
            if _TIMED_OUT.search(str(e)) or time.monotonic() - started >= self.timeout:
                raise RegistryTimeout(
                    f"The data registry {self.url} did not answer within {self.timeout:g} s "
                    f"({doing}: {e}). Check the URL and the network; the wait is the "
                    f"data_registry_timeout setting."
                ) from None
            raise

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """This mirror's lock: an exclusive ``flock`` on ``<mirror>.lock`` (re-entrant)."""
        if self._locked:
            yield
            return
        _make_shared_folder(self.path.parent)
        fd = _open_shared_file(self.path.with_suffix(".lock"))
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


def _used_file(mirror: Path) -> Path:
    return mirror.with_suffix(".used")


def _open_shared_file(path: Path) -> int:
    """``path`` opened for a lock any member of the cache's group can take (mode 0664
    whatever the umask, never through a link); NotWarm if it cannot be."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o664)
    except OSError as e:
        raise NotWarm(f"{path} cannot be opened: {e}") from None
    if os.fstat(fd).st_uid == os.geteuid():
        os.fchmod(fd, 0o664)
    return fd


def _hold_use(mirror: Path) -> int:
    """Mark ``mirror`` used now and in use (a shared lock, released when the returned
    descriptor is closed), so :func:`prune` leaves it."""
    fd = _open_shared_file(_used_file(mirror))
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.utime(fd)  # group-writable: any member may set it to now
    except OSError:
        pass  # someone else's file with other modes: the lock alone protects the use
    return fd


def prune(cache_dir: Path, max_age_days: float) -> list[PrunedMirror]:
    """Remove the mirrors of remote registries unused for longer than ``max_age_days``.

    A mirror in use (an attach holds ``.used``), being built or fetched (``.lock``) is left
    alone: both are taken exclusively without waiting, and its last use read again under
    them. Its lock files stay (a process may be opening them; they are empty).
    """
    folder = cache_dir / MIRRORS
    if not folder.is_dir() or folder.is_symlink():
        return []
    cutoff = time.time() - max_age_days * 86400
    pruned = []
    for mirror in sorted(folder.glob("*.git")):
        if mirror.is_symlink() or not mirror.is_dir() or _last_use(mirror) > cutoff:
            continue
        used = lock = -1
        try:
            used = _open_shared_file(_used_file(mirror))
            lock = _open_shared_file(mirror.with_suffix(".lock"))
            fcntl.flock(used, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            last_use = _last_use(mirror)
            if last_use > cutoff:
                continue
            size = _size(mirror)
            doomed = Path(tempfile.mkdtemp(prefix=".pruned-", dir=folder))
            try:
                os.rename(mirror, doomed / "mirror")
            finally:
                shutil.rmtree(doomed, ignore_errors=True)
            when = datetime.fromtimestamp(last_use, timezone.utc)
            pruned.append(PrunedMirror(path=str(mirror), last_used=when, bytes=size))
        except (OSError, NotWarm) as e:  # in use (the lock is taken), or not ours to remove
            log.debug("the mirror %s stays: %s", mirror, e)
        finally:
            for fd in (lock, used):
                if fd >= 0:
                    os.close(fd)
    return pruned


def _last_use(mirror: Path) -> float:
    """When the mirror was last used (its ``.used`` file; a mirror from before use was
    recorded: its lock's or its own modification time)."""
    times = [0.0]
    for path in (_used_file(mirror), mirror.with_suffix(".lock"), mirror):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
        if path == _used_file(mirror):
            break
    return max(times)


def _size(folder: Path) -> int:
    total = 0
    for top, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                continue
    return total


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
