"""Withdrawing a version: yank and un-yank (maintainers), hard delete (admins).

Versions are never renumbered and their numbers never reused: a yanked version keeps its
row and files (its number, so a rerun's pin, still loads it, with the reason shown); a
deleted one keeps its row as a tombstone saying who deleted it, while its files go.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Conflict, Invalid
from .access import RegistryAccess, deleted_note, yanked_note
from .grammar import parse_name, parse_version
from .identity import Principal
from .maintenance import reclaim
from .schema import ModelVersion, Role, VersionDeletion
from .store import RegistryTransaction, VersionRow


@dataclass(frozen=True)
class VersionRef:
    """``ns/model:N`` as a yank, un-yank or delete names it, checked before any transaction."""

    namespace: str
    model: str
    number: int

    @property
    def model_name(self) -> str:
        return f"{self.namespace}/{self.model}"

    def __str__(self) -> str:
        return f"{self.model_name}:{self.number}"


def version_ref(principal: Principal, name: str, version: int) -> VersionRef:
    namespace, model = parse_name(name, principal)
    return VersionRef(namespace, model, parse_version(version))


class VersionLifecycle(RegistryAccess):
    """Yank, un-yank and delete."""

    def yank(self, principal: Principal, name: str, version: int, reason: str) -> ModelVersion:
        """Withdraw a version (maintainers): listings, the latest and aliases skip it and no
        alias may be moved onto it; its number (and so a rerun's pin) still loads it, with
        the reason shown. The row stays: versions are never renumbered or reused."""
        ref = version_ref(principal, name, version)
        why = (reason or "").strip()
        if not why:
            raise Invalid("A yank needs a reason (shown to whoever still loads the version).")
        if len(why) > 2000:
            raise Invalid("A yank's reason is at most 2000 characters.")

        def write(tx: RegistryTransaction) -> ModelVersion:
            target = self._target(tx, principal, ref, "maintainer", "yanking versions in")
            if target.yanked is not None:
                raise Conflict(f"{ref} is already {yanked_note(target)}.")
            return self._describe(tx, ref.model_name, tx.yank(target, why, principal.user))

        return self.store.writing(write)

    def unyank(self, principal: Principal, name: str, version: int) -> ModelVersion:
        """Restore a yanked version (maintainers, as for a yank): it is listed again and may
        be the latest; no alias is moved back onto it (that stays a deliberate move)."""
        ref = version_ref(principal, name, version)

        def write(tx: RegistryTransaction) -> ModelVersion:
            target = self._target(tx, principal, ref, "maintainer", "un-yanking versions in")
            if target.deleted is not None:
                raise Conflict(f"{deleted_note(target, ref.model_name)} It cannot be un-yanked.")
            if target.yanked is None:
                raise Conflict(f"{ref} is not yanked.")
            return self._describe(tx, ref.model_name, tx.unyank(target))

        return self.store.writing(write)

    def delete_version(
        self, principal: Principal, name: str, version: int, *, dry_run: bool = False
    ) -> VersionDeletion:
        """Hard-delete a yanked version (admins of its namespace, or the registry's).

        Its row stays as a tombstone, so its number is never given to other bytes and a pin
        naming it fails saying who deleted it; its files go, and with them the blobs no
        other version names (those stored within the upload grace are left to a later
        ``fsck --gc``: a publish may be about to name them). Refused while an alias or a
        comparison points at it. ``dry_run`` only says what would go.
        """
        ref = version_ref(principal, name, version)

        def check(tx: RegistryTransaction) -> tuple[VersionRow, list[str]]:
            target = self._target(tx, principal, ref, "admin", "deleting versions in")
            if target.deleted is not None:
                raise Conflict(deleted_note(target, ref.model_name))
            if target.yanked is None:
                raise Conflict(
                    f"{ref} is not yanked; only a yanked version can be "
                    "deleted (yank it first, with the reason)."
                )
            described = self._describe(tx, ref.model_name, target)
            if described.aliases:
                held = ", ".join(f"@{a}" for a in described.aliases)
                raise Conflict(
                    f"Cannot delete {ref}: {held} still points at it; move the alias first."
                )
            compared = tx.comparisons_of(target.id)
            if compared:
                ids = ", ".join(str(c.id) for c in compared)
                raise Conflict(
                    f"Cannot delete {ref}: comparison {ids} includes it "
                    "(a comparison's evidence keeps its candidates)."
                )
            digests = sorted({f.digest for f in described.files})
            others = tx.referenced(digests, excluding=target.id)
            return target, [d for d in digests if d not in others]

        if dry_run:
            with self.store.reading() as tx:
                _, only = check(tx)
            return VersionDeletion(
                name=ref.model_name,
                version=ref.number,
                dry_run=True,
                deleted=None,
                blobs=only,
                reclaimed=[],
            )

        def write(tx: RegistryTransaction) -> tuple[VersionRow, list[str]]:
            target, only = check(tx)
            return tx.delete_version(target, principal.user), only

        tombstone, only = self.store.writing(write)
        return VersionDeletion(
            name=ref.model_name,
            version=ref.number,
            dry_run=False,
            deleted=tombstone.deleted,
            blobs=only,
            reclaimed=reclaim(self.store, self.blobs, only, self.upload_grace_seconds),
        )

    def _target(
        self,
        tx: RegistryTransaction,
        principal: Principal,
        ref: VersionRef,
        needed: Role,
        doing: str,
    ) -> VersionRow:
        """The version ``ref`` names, once the caller holds ``needed`` on its namespace."""
        _, model = self._model(tx, principal, ref.namespace, ref.model, needed, doing)
        return self._version(tx, model, ref.model_name, ref.number)
