"""Content-addressed file storage over fsspec, and the local stat cache that avoids re-hashing.

A blob's address names its hash algorithm: ``blake3:<hex>`` (the default: it hashes a GiB
in about the time a copy takes, so hash + store fits in one read pass) or ``sha256:<hex>``.
Blobs are written to a temporary name and renamed to their address once the hash is
known, so a blob at an address is always complete; a killed writer leaves at most a
temporary file, which ``fsck`` reports. Every read that leaves the store is verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import blake3
import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import Conflict, Invalid
from ..sqlite import sqlite_connection

DEFAULT_ALGORITHM = "blake3"
CHUNK = 8 << 20
_ADDRESS = re.compile(r"^(blake3|sha256):([0-9a-f]{64})$")
_TMP = "tmp"


def new_hasher(algorithm: str) -> Any:
    if algorithm == "blake3":
        return blake3.blake3()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise Invalid(f"Unknown hash algorithm {algorithm!r}; use blake3 or sha256.")


def parse_address(address: str) -> tuple[str, str]:
    """``(algorithm, hex)`` of an address, or Invalid naming the expected form."""
    match = _ADDRESS.match(address)
    if not match:
        raise Invalid(
            f"{address!r} is not a blob address; expected 'blake3:<64 hex>' or 'sha256:<64 hex>'."
        )
    return match.group(1), match.group(2)


def hash_file(path: Path, algorithm: str = DEFAULT_ALGORITHM) -> str:
    hasher = new_hasher(algorithm)
    if algorithm == "blake3":
        hasher.update_mmap(str(path))
    else:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


class StatCache:
    """``(device, inode) -> (size, mtime_ns, address)`` for files already hashed on this machine.

    A file whose size and mtime are unchanged since it was hashed is not read again (the
    same trade git's index makes). Kept in SQLite so concurrent publishers can share it.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS stat (dev INTEGER, ino INTEGER, size INTEGER, "
                "mtime_ns INTEGER, address TEXT, PRIMARY KEY (dev, ino))"
            )

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_connection(self.path)
            self._local.db = db
        return db

    def get(self, st: os.stat_result) -> str | None:
        row = (
            self._connect()
            .execute(
                "SELECT size, mtime_ns, address FROM stat WHERE dev = ? AND ino = ?",
                (st.st_dev, st.st_ino),
            )
            .fetchone()
        )
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        return None

    def put(self, st: os.stat_result, address: str) -> None:
        self._connect().execute(
            "INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?)",
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, address),
        )


class BlobWriter:
    """A file-like sink that hashes what it stores; :meth:`commit` names it by its hash."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.hasher = new_hasher(store.algorithm)
        self.size = 0
        self.tmp_key = store.tmp_key()
        if store.is_local:
            Path(self.tmp_key).parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO = open(self.tmp_key, "wb", buffering=0)  # noqa: SIM115
        else:
            self._file = store.fs.open(self.tmp_key, "wb")
        self.address: str | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hasher.update(data)
        written = 0
        view = memoryview(data)
        while written < len(view):
            written += self._file.write(view[written:]) or 0
        self.size += written
        return written

    def flush(self) -> None:
        self._file.flush()

    def commit(self, expected: str | None = None) -> str:
        """Move the data to its address (dropping it when that blob already exists)."""
        self._file.close()
        address = f"{self.store.algorithm}:{self.hasher.hexdigest()}"
        if expected is not None and expected != address:
            self.abort()
            raise Conflict(
                f"Upload does not match its address: expected {expected}, "
                f"received {address} ({self.size} bytes)."
            )
        self.store._install(self.tmp_key, address)
        self.address = address
        return address

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError, OSError):
            self.store.fs.rm(self.tmp_key)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None or self.address is None:
            self.abort()


class BlobStore:
    """Blobs at ``<root>/<algorithm>/<hex[:2]>/<hex[2:]>`` on any fsspec filesystem."""

    #: Object stores: a blob this young is not rewritten by :meth:`refresh` (it was just
    #: uploaded; the rewrite is a server-side copy of all its bytes).
    young_seconds = 60.0

    def __init__(
        self, url: str, stat_cache: StatCache | None = None, algorithm: str = DEFAULT_ALGORITHM
    ) -> None:
        new_hasher(algorithm)
        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.stat_cache = stat_cache
        self.algorithm = algorithm

    def key(self, address: str) -> str:
        algorithm, hexdigest = parse_address(address)
        return f"{self.root}/{algorithm}/{hexdigest[:2]}/{hexdigest[2:]}"

    def tmp_key(self) -> str:
        # The writer's pid lets fsck tell a live upload from one whose writer died.
        return f"{self.root}/{_TMP}/{os.getpid()}-{uuid.uuid4().hex}"

    def exists(self, address: str) -> bool:
        return self.fs.exists(self.key(address))

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def refresh(self, address: str) -> None:
        """Restart a stored blob's age: a blob just uploaded again, or about to be named by
        a publish, is young to the collector for its grace, whatever its age.

        A local file gets a new mtime. An object store keeps an object's time until the
        object is written again, so the object is copied onto itself in the store (S3:
        ``setxattr``'s CopyObject, which stamps a new LastModified; the bytes do not travel)
        unless it is younger than :attr:`young_seconds` (just uploaded). Best effort: a blob
        another user owns, an object over S3's 5 GB single-copy limit, or a store with no
        such call (``memory://``) keeps its age; a publish then still checks, in the
        transaction that names its blobs, that they exist, and is refused whole otherwise.
        A download reading the object while it is rewritten may fail (S3 reads are pinned
        to the ETag, which a copy of a multipart upload changes) and is retried by the
        user; its bytes are verified either way.
        """
        key = self.key(address)
        if self.is_local:
            with contextlib.suppress(OSError):
                os.utime(key)
            return
        setxattr = getattr(self.fs, "setxattr", None)
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            if setxattr is None or self.age(address) < self.young_seconds:
                return
            setxattr(key, lepton_refreshed=datetime.now(timezone.utc).isoformat())
            self.fs.invalidate_cache(key)

    def age(self, address: str) -> float:
        """Seconds since the blob was stored or refreshed, read from the store (not from a
        listing this process cached: another process may have refreshed it since)."""
        key = self.key(address)
        self.fs.invalidate_cache(key)
        return age_of(self.fs.info(key))

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file in one read pass; skip it entirely when its stat is known and stored."""
        st = path.stat()
        if self.stat_cache is not None:
            known = self.stat_cache.get(st)
            if known is not None and self.exists(known):
                return known, st.st_size
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        with path.open("rb", buffering=0) as source, self.writer() as writer:
            while n := source.readinto(buffer):
                writer.write(view[:n])
            address = writer.commit()
        if self.stat_cache is not None and path.stat().st_mtime_ns == st.st_mtime_ns:
            self.stat_cache.put(st, address)
        return address, st.st_size

    def _install(self, tmp_key: str, address: str) -> None:
        final = self.key(address)
        if self.fs.exists(final):
            self.fs.rm(tmp_key)
            return
        if self.is_local:
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            # Read-only: loads hard-link blobs, so a user editing a loaded file in place
            # must not be able to change the stored bytes.
            os.chmod(tmp_key, 0o444)
            # Stat before the rename (same inode): a collector may remove ``final`` the moment
            # it lands, and the publish naming it is then refused, not broken here.
            st = os.stat(tmp_key)
            os.replace(tmp_key, final)
            if self.stat_cache is not None:
                self.stat_cache.put(st, address)
        else:
            self.fs.mv(tmp_key, final)

    def open(self, address: str) -> BinaryIO:
        return self.fs.open(self.key(address), "rb")

    def size(self, address: str) -> int:
        return int(self.fs.size(self.key(address)))

    def verified_local_path(self, address: str) -> Path:
        """The blob's own path (local stores), re-hashed unless its stat is already known."""
        path = Path(self.key(address))
        st = path.stat()
        if self.stat_cache is not None and self.stat_cache.get(st) == address:
            return path
        actual = hash_file(path, parse_address(address)[0])
        if actual != address:
            raise Conflict(
                f"Stored blob {address} is corrupt (its content hashes to {actual}); "
                "run `lepton registry fsck`."
            )
        if self.stat_cache is not None:
            self.stat_cache.put(st, address)
        return path

    def fetch(self, address: str, dest: Path) -> None:
        """Download a blob to ``dest`` (temp name, then rename), verifying its hash."""
        algorithm, _ = parse_address(address)
        hasher = new_hasher(algorithm)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with self.open(address) as source, tmp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            actual = f"{algorithm}:{hasher.hexdigest()}"
            if actual != address:
                raise Conflict(
                    f"Downloaded blob {address} hashes to {actual}; the stored copy "
                    "is corrupt (run `lepton registry fsck`)."
                )
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def addresses(self) -> Iterator[str]:
        """Every stored blob's address."""
        for algorithm in ("blake3", "sha256"):
            base = f"{self.root}/{algorithm}"
            if not self.fs.exists(base):
                continue
            for key in self.fs.find(base):
                parts = key.rstrip("/").split("/")
                yield f"{algorithm}:{parts[-2]}{parts[-1]}"

    def temporaries(self) -> list[tuple[str, float, int | None]]:
        """Unfinished uploads: ``(key, age in seconds, writer pid)``."""
        base = f"{self.root}/{_TMP}"
        if not self.fs.exists(base):
            return []
        result = []
        for key, info in self.fs.find(base, detail=True).items():
            age = age_of(info)
            pid_text = key.rsplit("/", 1)[-1].split("-", 1)[0]
            result.append((key, age, int(pid_text) if pid_text.isdigit() else None))
        return result

    def verify(self, address: str) -> str:
        """The address the stored bytes actually hash to."""
        algorithm, _ = parse_address(address)
        if self.is_local:
            return hash_file(Path(self.key(address)), algorithm)
        hasher = new_hasher(algorithm)
        with self.open(address) as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
        return f"{algorithm}:{hasher.hexdigest()}"

    def delete(self, key_or_address: str) -> None:
        key = self.key(key_or_address) if ":" in key_or_address else key_or_address
        self.fs.rm(key)


def age_of(info: dict[str, Any]) -> float:
    """Seconds since an fsspec entry was modified (local ``mtime`` or S3 ``LastModified``)."""
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if mtime is None:
        return 0.0
    return time.time() - (mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime))


def link_or_copy(source: Path, dest: Path, link_types: list[str]) -> str:
    """Place ``source`` at ``dest`` with the first link type that works; returns the one used."""
    for kind in [*link_types, "copy"]:
        try:
            if kind == "hardlink":
                os.link(source, dest)
            elif kind == "symlink":
                os.symlink(source, dest)
            elif kind == "reflink":
                _reflink(source, dest)
            elif kind == "copy":
                shutil.copyfile(source, dest)
                os.chmod(dest, 0o444)
            else:
                continue
            return kind
        except OSError:
            dest.unlink(missing_ok=True)
    raise Invalid(f"Could not place {source} at {dest}.")


def _reflink(source: Path, dest: Path) -> None:
    import fcntl

    ficlone = 0x40049409
    with source.open("rb") as src, dest.open("wb") as dst:
        fcntl.ioctl(dst.fileno(), ficlone, src.fileno())
