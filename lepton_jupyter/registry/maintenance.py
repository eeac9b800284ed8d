"""Keeping the blob store and the metadata in step: ``lepton registry fsck [--gc]``.

A publish stores its files before its metadata, so a blob no version names may be a
publish in flight (young) or one that died (old); a dead writer leaves a temporary file.
"""

from __future__ import annotations

from .._process import pid_exists
from .blobs import BlobStore, age_of
from .schema import FsckReport
from .store import RegistryStore


def fsck(
    store: RegistryStore,
    blobs: BlobStore,
    *,
    verify: bool = True,
    gc: bool = False,
    grace_seconds: float,
) -> FsckReport:
    """Compare the blob store with the metadata: orphans, leftovers, missing, corrupt.

    ``gc`` removes orphans and dead writers' leftovers older than ``grace_seconds``.
    """
    referenced = store.referenced_blobs()
    stored = set(blobs.addresses())
    orphans = sorted(stored - referenced)
    stale = [
        key
        for key, age, pid in blobs.temporaries()
        if age > grace_seconds or (blobs.is_local and pid is not None and not pid_exists(pid))
    ]
    mismatches = [a for a in sorted(stored) if verify and blobs.verify(a) != a]
    removed: list[str] = []
    if gc:
        for address in orphans:
            if age_of(blobs.fs.info(blobs.key(address))) > grace_seconds:
                blobs.delete(address)
                removed.append(address)
        for key in stale:
            blobs.delete(key)
            removed.append(key)
        orphans = [a for a in orphans if a not in removed]
        stale = []
    return FsckReport(
        blobs=len(stored),
        referenced=len(referenced),
        orphans=orphans,
        stale_uploads=stale,
        missing=sorted(referenced - stored),
        mismatches=mismatches,
        removed=removed,
    )
