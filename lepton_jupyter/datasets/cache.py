"""The shared DVC cache on a multi-user machine: its folders' modes, and trust in objects.

Every member of the cache's group may add objects, so an object may come from anyone. Two
rules keep one member from changing what another reads:

- Folders are setgid, sticky and group-writable (``3775``): objects keep the cache's group,
  and only an object's owner, the folder's owner or root may remove or rename it, so nobody
  renames a file of their own over someone else's object. The 256 object folders are made up
  front by whoever prepares the cache (root, on a hub), so that no member owns them.
- An object another user owns is hashed (md5, the name DVC gives it) before this user first
  links it, and the check is remembered per user by (inode, size, mtime): the next attach is
  a link per file again. A planted or replaced object is a new inode, so it is hashed again,
  and a mismatch is refused naming the object and its owner.

What the owner of an object can still do (``chmod`` it and write) no check at link time can
prevent; ``verify()`` finds it afterwards.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import Conflict, Forbidden, Invalid, NotFound
from .linker import Linker, check_link_types
from .schema import CacheReport, CorruptObject, PermissionProblem

if TYPE_CHECKING:
    from ..settings import Settings

FOLDER_MODE = 0o3775  # setgid + sticky + rwxrwxr-x
OBJECT_MODE = 0o444  # what DVC leaves every object at (its CACHE_MODE)
PREFIXES = tuple(f"{i:02x}" for i in range(256))
MIRRORS = "git"  # the registries' git mirrors (``mirror.py``)


def objects_root(cache: Path) -> Path:
    """Where DVC 3 keeps md5 objects: ``files/md5/<2 hex>/<30 hex>[.dir]``."""
    return cache / "files" / "md5"


def _folders(cache: Path) -> list[Path]:
    root = objects_root(cache)
    return [cache, cache / "files", root, *(root / p for p in PREFIXES)]


def prepare(cache: Path) -> None:
    """Make the cache's folders with mode 3775 whatever the umask, and give the sticky bit
    back to the folders this user owns that lost it (``dvc`` sets 2775 on every write)."""
    if not cache.exists():
        try:
            cache.mkdir(parents=True)
        except PermissionError as e:
            raise Forbidden(
                f"The shared data cache {cache} does not exist and you may not create it "
                f"({e.strerror}): ask an administrator to make it, or point LEPTON_DATA_CACHE "
                "(c.LeptonApp.data_cache) elsewhere."
            ) from None
    uid = os.geteuid()
    for folder in _folders(cache):
        try:
            os.mkdir(folder)
        except FileExistsError:
            st = os.stat(folder)
            if st.st_uid != uid or stat.S_IMODE(st.st_mode) & FOLDER_MODE == FOLDER_MODE:
                continue
        except PermissionError:
            continue  # a cache this user only reads; DVC says so if it must write here
        os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | FOLDER_MODE)


def owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def expected_md5(path: str) -> str:
    """The md5 an object's path names: folder + file name, less ``.dir``."""
    head, name = os.path.split(path)
    return os.path.basename(head) + name.removesuffix(".dir")


def manifest_entries(path: str) -> list[tuple[str, str]]:
    """``(relative path, md5)`` of every file a DVC 3 ``.dir`` manifest lists.

    The JSON already holds both; DVC's ``Tree.load`` would also build a ``Meta`` object per
    entry (about 25 us each, a second at 50k files) that attach does not need.
    """
    with open(path, "rb") as f:
        raw = json.load(f)
    try:
        return [(entry["relpath"], entry["md5"]) for entry in raw]
    except (TypeError, KeyError):
        raise NotFound(
            f"The dataset manifest {path} is corrupted; run `lepton datasets verify`."
        ) from None


def md5_of(fd: int) -> str:
    with open(fd, "rb", closefd=False) as f:
        return hashlib.file_digest(f, "md5").hexdigest()


class CacheObjectRefused(Conflict):
    """An object of the shared cache does not hold what its name says, or may change."""


class ObjectChecker:
    """Called on each cache object before it is linked; hashes those of other users once.

    ``check(path)`` raises FileNotFoundError for a missing object (the caller fetches it) and
    :class:`CacheObjectRefused` for one that must not be linked. Objects this user owns are
    trusted (no other member can write or replace them); the checks that passed are kept in
    ``record`` (SQLite, private to the user) by :meth:`save`.
    """

    def __init__(self, cache: Path, record: Path) -> None:
        self.cache = str(cache)
        self.record = record
        self.uid = os.geteuid()
        self.hashed = 0
        self._known: dict[str, tuple[int, int, int]] | None = None
        self._passed: list[tuple[str, int, int, int]] = []

    def check(self, path: str) -> None:
        st = os.lstat(path)
        if st.st_uid != self.uid or not stat.S_ISREG(st.st_mode):
            self._check_foreign(path, st)

    def _check_foreign(self, path: str, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            self._refuse(path, st, "is not a regular file (a link or a folder put there)")
        if st.st_mode & 0o022:
            self._refuse(
                path,
                st,
                f"is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}), so what "
                "is checked now could change later",
            )
        oid = os.path.relpath(path, self.cache)
        if self._known is None:
            self._known = self._load()
        if self._known.get(oid) == (st.st_ino, st.st_size, st.st_mtime_ns):
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            self._refuse(path, st, f"cannot be read safely ({e.strerror})")
        try:
            opened = os.fstat(fd)
            actual = md5_of(fd)
        finally:
            os.close(fd)
        self.hashed += 1
        if opened.st_ino != st.st_ino:
            self._check_foreign(path, opened)  # replaced meanwhile: check what is there now
            return
        if actual != expected_md5(path):
            self._refuse(path, opened, f"holds content with md5 {actual}")
        self.remember(path, opened)

    def remember(self, path: str, st: os.stat_result) -> None:
        """Note that the object at ``path``, as ``st`` describes it, holds what it should."""
        if st.st_uid == self.uid:
            return
        oid = os.path.relpath(path, self.cache)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._known is not None:
            self._known[oid] = key
        self._passed.append((oid, *key))

    def _refuse(self, path: str, st: os.stat_result, why: str) -> NoReturn:
        raise CacheObjectRefused(
            f"Shared cache object {path} (owner {owner_name(st.st_uid)}) {why}; its name "
            f"promises md5 {expected_md5(path)}. Nothing was attached. Its owner or an "
            "administrator should remove it; `lepton datasets verify` lists every such object."
        )

    # -- the per-user record of checks that passed ------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        if not self.record.exists():
            os.close(os.open(self.record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        st = os.lstat(self.record)
        if st.st_uid != self.uid or not stat.S_ISREG(st.st_mode):
            raise Invalid(
                f"{self.record} (which objects of the shared cache you checked) is not a file "
                f"of yours; it belongs to {owner_name(st.st_uid)}. Remove it."
            )
        db = sqlite3.connect(self.record, timeout=60)
        db.execute(
            "CREATE TABLE IF NOT EXISTS checked (cache TEXT, oid TEXT, ino INTEGER, "
            "size INTEGER, mtime_ns INTEGER, PRIMARY KEY (cache, oid))"
        )
        return db

    def _load(self) -> dict[str, tuple[int, int, int]]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT oid, ino, size, mtime_ns FROM checked WHERE cache = ?", (self.cache,)
            )
            return {oid: (ino, size, mtime) for oid, ino, size, mtime in rows}

    def save(self) -> None:
        """Remember the checks that passed (also after a refusal: they still hold)."""
        if not self._passed:
            return
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO checked VALUES (?, ?, ?, ?, ?)",
                [(self.cache, *row) for row in self._passed],
            )
        self._passed.clear()


def _objects(cache: Path) -> list[Path]:
    root = objects_root(cache)
    if not root.exists():
        return []
    return sorted(p for p in root.glob("??/*") if p.is_symlink() or not p.is_dir())


def _walk_folders(cache: Path) -> Iterator[Path]:
    """The cache's folders, less the registries' git mirrors (``mirror.py``: modes of their own)."""
    for top, dirs, _ in os.walk(cache):
        yield Path(top)
        dirs[:] = [
            d
            for d in dirs
            if not os.path.islink(os.path.join(top, d)) and (d, top) != (MIRRORS, str(cache))
        ]


def verify(
    cache: Path,
    checker: ObjectChecker,
    fix_permissions: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CacheReport:
    """Rehash every object and check every folder's mode, fixing what this user may.

    Folders must be 3775 in the cache's group; in a cache whose top folder root owns (an
    operator made it), every folder must be root's too, or its owner could rename any object
    in it. Objects must be 0444 in the cache's group. Objects of other users that hash right
    are remembered as checked, so the next attach links them without hashing.
    """
    if fix_permissions:
        prepare(cache)
    if not cache.exists():
        return CacheReport(cache_dir=str(cache), checked=0, corrupted=[])
    top = os.stat(cache)
    gid, root_owned = top.st_gid, top.st_uid == 0
    me = os.geteuid()
    problems: list[PermissionProblem] = []
    fixed = 0

    def mend(path: Path, st: os.stat_result, mode: int, what: str, chown_root: bool) -> None:
        nonlocal fixed
        if fix_permissions and me in (0, st.st_uid) and (me == 0 or not chown_root):
            os.chown(path, 0 if chown_root else -1, gid, follow_symlinks=False)
            os.chmod(path, mode, follow_symlinks=False)
            fixed += 1
            return
        owner = owner_name(st.st_uid)
        problems.append(PermissionProblem(path=str(path), owner=owner, problem=what))

    for folder in _walk_folders(cache):
        st = folder.lstat()
        mode = stat.S_IMODE(st.st_mode)
        wrong = []
        if mode & FOLDER_MODE != FOLDER_MODE or st.st_gid != gid:
            wrong.append(
                f"mode {mode:04o} group {_group_name(st.st_gid)}, not 3775 {_group_name(gid)}"
            )
        if root_owned and st.st_uid != 0:
            wrong.append(f"owned by {owner_name(st.st_uid)}, who can rename any object in it")
        if wrong:
            what = "folder " + "; ".join(wrong)
            mend(folder, st, mode | FOLDER_MODE, what, chown_root=root_owned and st.st_uid != 0)
    objects = _objects(cache)
    corrupted = []
    for i, obj in enumerate(objects, 1):
        path = str(obj)
        st = obj.lstat()
        mode = stat.S_IMODE(st.st_mode)
        actual = ""
        if stat.S_ISREG(st.st_mode):
            if mode != OBJECT_MODE or st.st_gid != gid:
                what = f"object mode {mode:04o} group {_group_name(st.st_gid)}, not 0444 " + (
                    f"{_group_name(gid)}: other members could write to it"
                    if mode & 0o022
                    else _group_name(gid)
                )
                mend(obj, st, OBJECT_MODE, what, chown_root=False)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                st = os.fstat(fd)
                actual = md5_of(fd)
            finally:
                os.close(fd)
        if actual == expected_md5(path):
            checker.remember(path, st)
        else:
            corrupted.append(
                CorruptObject(
                    path=path,
                    expected=expected_md5(path),
                    actual=actual or "not a regular file",
                    owner=owner_name(st.st_uid),
                )
            )
        if progress is not None:
            progress(i, len(objects))
    checker.save()
    return CacheReport(
        cache_dir=str(cache),
        checked=len(objects),
        corrupted=corrupted,
        permissions=problems,
        fixed=fixed,
    )


class SharedCache:
    """The shared cache as one user's settings name it: where it is, how DVC is pointed at
    it, how its objects are linked out and which of them this user has checked."""

    def __init__(self, settings: Settings) -> None:
        check_link_types(settings.cache_link_types)
        self.settings = settings

    @property
    def cache_dir(self) -> Path:
        return Path(self.settings.data_cache).resolve()

    def dvc_config(self) -> dict[str, Any]:
        """The ``cache`` section given to DVC, for a data registry and a workspace alike."""
        return {
            "dir": str(self.cache_dir),
            "shared": "group",
            "type": ",".join(self.settings.cache_link_types),
        }

    def prepare(self) -> None:
        # setgid + sticky folders: objects keep the cache's group; only their owner may
        # remove or rename them.
        prepare(self.cache_dir)

    def linker(self) -> Linker:
        return Linker(self.settings.cache_link_types)

    def object_checker(self) -> ObjectChecker:
        """Hashes other users' cache objects before their first use by this user."""
        record = self.settings.state_dir / "checked-cache-objects.sqlite"
        return ObjectChecker(self.cache_dir, record)

    def check_manifest(self, path: str, checker: ObjectChecker | None = None) -> None:
        """A folder's manifest is checked before it is read: a planted one could point its
        files at other objects."""
        own = checker or self.object_checker()
        with suppress(FileNotFoundError):  # not fetched: reading it names the problem
            own.check(path)
        if checker is None:
            own.save()
