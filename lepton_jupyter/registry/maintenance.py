"""Keeping the blob store and the metadata in step: ``lepton registry fsck [--gc]``.

A publish stores its files before its metadata, so a blob no version names may be a
publish in flight (young) or one that died (old); a dead writer leaves a temporary file.
A deleted version's blobs that no other version names are orphans too.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._process import pid_exists
from .blobs import BlobStore
from .schema import FsckReport
from .store import RegistryStore, RegistryTransaction

#: Blobs checked and removed per transaction by :func:`reclaim`.
RECLAIM_BATCH = 500


def fsck(
    store: RegistryStore,
    blobs: BlobStore,
    *,
    verify: bool = True,
    gc: bool = False,
    dry_run: bool = False,
    grace_seconds: float,
) -> FsckReport:
    """Compare the blob store with the metadata: orphans, leftovers, missing, corrupt.

    ``gc`` removes orphans and dead writers' leftovers older than ``grace_seconds``
    (``dry_run``: only lists them, as every check does under ``reclaimable``).
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
    reclaimable = [a for a in orphans if _age(blobs, a) > grace_seconds] + stale
    removed: list[str] = []
    if gc and not dry_run:
        removed = reclaim(store, blobs, orphans, grace_seconds)
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
        verified=verify,
        reclaimable=[] if gc and not dry_run else reclaimable,
        dry_run=gc and dry_run,
        removed=removed,
    )


def _age(blobs: BlobStore, address: str) -> float:
    """The blob's age, 0 (young) when it is gone."""
    try:
        return blobs.age(address)
    except FileNotFoundError:
        return 0.0


def reclaim(
    store: RegistryStore, blobs: BlobStore, addresses: Iterable[str], grace_seconds: float
) -> list[str]:
    """Remove those of ``addresses`` that no version names and that were stored (or
    uploaded again) more than ``grace_seconds`` ago; the ones removed.

    Each batch is checked and removed in one write transaction holding the blob lock
    exclusively, and a publish checks its blobs exist under the same lock (shared) in the
    transaction that names them: a publish either names a blob first (it is kept) or finds
    it gone and is refused whole. An upload refreshes a stored blob's age, so a publish in
    flight keeps the blobs it just uploaded for the grace.
    """
    wanted = list(dict.fromkeys(addresses))
    removed: list[str] = []
    for start in range(0, len(wanted), RECLAIM_BATCH):
        batch = wanted[start : start + RECLAIM_BATCH]

        def sweep(tx: RegistryTransaction, batch: list[str] = batch) -> list[str]:
            tx.lock_blobs(exclusive=True)
            named = tx.referenced(batch)
            gone = []
            for address in batch:
                if address in named:
                    continue
                try:
                    age = blobs.age(address)
                except FileNotFoundError:
                    continue
                if age > grace_seconds:
                    blobs.delete(address)
                    gone.append(address)
            return gone

        removed += store.writing(sweep)
    return removed
