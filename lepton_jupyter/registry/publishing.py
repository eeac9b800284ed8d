"""Publishing: a version's files are uploaded as blobs first, then the version naming them.

A digest is no permission: a publisher shows they hold a blob's bytes by uploading them
(or by being able to read a version holding it), and a blob they uploaded stays theirs to
name for ``upload_grace_seconds``, the time the collector leaves a blob no version names.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import Forbidden, Invalid
from .access import RegistryAccess, role_rank
from .blobs import BlobWriter, parse_address
from .grammar import check_alias, check_path, check_tree, manifest_digest, parse_name
from .identity import Principal
from .schema import ModelVersion, PublishRequest
from .store import NewVersion, RegistryTransaction


class PublishOperations(RegistryAccess):
    """Uploads and publishes."""

    #: user -> {address: when} of the blobs each uploaded lately
    _uploads: dict[str, dict[str, float]]

    def check_publish(self, principal: Principal, name: str, alias: str | None = None) -> None:
        """Fail before any bytes are stored when this publish would be refused."""
        namespace, _ = parse_name(name, principal)
        if alias is not None:
            check_alias(alias)
        with self.store.reading() as tx:
            ns = tx.namespace(namespace)
            if ns is None:
                self.policy.founding(principal.user, principal.groups, namespace)
                return
            self._require(tx, principal, ns, "writer", "publishing to")
            if alias is not None:
                self._require(tx, principal, ns, *self._alias_role(alias))

    def publish(self, principal: Principal, name: str, request: PublishRequest) -> ModelVersion:
        """Add the next version of ``name`` whose files are already in the blob store."""
        namespace, model_name = parse_name(name, principal)
        if request.alias is not None:
            check_alias(request.alias)
        paths = [check_path(f.path) for f in request.files]
        if len(set(paths)) != len(paths):
            raise Invalid("A version cannot list the same file path twice.")
        check_tree(paths)
        for f in request.files:
            parse_address(f.digest)
        if request.kind != "directory" and request.entry not in paths:
            raise Invalid(f"entry {request.entry!r} is not one of the version's files.")
        digests = list(dict.fromkeys(f.digest for f in request.files))
        missing = self.missing_blobs(principal, digests)
        if missing:
            raise Invalid(f"These files were not uploaded first: {', '.join(missing)}.")
        for digest in digests:
            self.blobs.refresh(digest)  # young again: the collector leaves it for the grace
        for f in request.files:
            stored = self.blobs.size(f.digest)
            if f.size != stored:
                raise Invalid(
                    f"File {f.path!r} is declared as {f.size} bytes; its blob {f.digest} "
                    f"holds {stored}."
                )
        new = NewVersion(
            digest=manifest_digest(request.files),
            kind=request.kind,
            entry=request.entry if request.kind != "directory" else "",
            description=request.description,
            metrics=request.metrics,
            params=request.params,
            lineage=request.lineage,
            created_by=principal.user,
            files=request.files,
        )
        full_name = f"{namespace}/{model_name}"

        def insert(tx: RegistryTransaction) -> ModelVersion:
            ns = self._ensure_namespace(tx, principal, namespace)
            self._require(tx, principal, ns, "writer", "publishing to")
            tx.lock_blobs(exclusive=False)
            gone = [d for d in digests if not self.blobs.exists(d)]
            if gone:  # collected since the check above (older than the grace, unnamed)
                raise Invalid(
                    f"These files were removed by the blob collector while this publish ran: "
                    f"{', '.join(gone)}. Publish again (they are uploaded again)."
                )
            if request.alias is not None:
                self._require(tx, principal, ns, *self._alias_role(request.alias))
            model = tx.model(ns.id, model_name, lock=True)
            if model is None:
                model = tx.create_model(ns.id, model_name, principal.user)
            latest = tx.latest_version(model.id)
            version = tx.add_version(model.id, 1 + (latest.number if latest else 0), new)
            if request.alias is not None:
                evidence = self._gate(tx, principal, ns, model, request.alias, version)
                tx.move_alias(model.id, request.alias, version, "set", principal.user, evidence)
            return self._describe(tx, full_name, version)

        return self.store.writing(insert)

    # blobs

    def begin_upload(self, principal: Principal, address: str) -> BlobWriter:
        """A sink for the blob ``address``; :meth:`finish_upload` checks the bytes match."""
        if not principal.user:
            raise Forbidden("Uploading files needs an authenticated user.")
        parse_address(address)
        return self.blobs.writer()

    def finish_upload(self, principal: Principal, writer: BlobWriter, address: str) -> str:
        """Store the upload under ``address`` if its bytes hash to it; the caller has then
        shown they hold those bytes, so a version of theirs may name them."""
        stored = writer.commit(address)
        self.record_upload(principal, stored)
        return stored

    def store_file(self, principal: Principal, path: Any) -> tuple[str, int]:
        """Store a local file as the caller's upload (a direct client); (address, size)."""
        address, size = self.blobs.put_file(path)
        self.record_upload(principal, address)
        return address, size

    def record_upload(self, principal: Principal, address: str) -> None:
        """Note that ``principal`` uploaded ``address`` (a direct client stores blobs itself)."""
        self.blobs.refresh(address)
        now = time.monotonic()
        mine = self._uploads.setdefault(principal.user, {})
        for old in [a for a, t in mine.items() if now - t > self.upload_grace_seconds]:
            del mine[old]
        mine[address] = now

    def missing_blobs(self, principal: Principal, addresses: list[str]) -> list[str]:
        """Which of these blobs a publisher still has to upload.

        As OCI registries do for cross-repository mounts, a digest is no permission: a
        stored blob counts only if the caller uploaded it lately or can read a version
        that holds it; any other is "missing", so whether it exists is not revealed and
        the caller proves they hold the bytes by uploading them.
        """
        for address in addresses:
            parse_address(address)
        wanted = list(dict.fromkeys(addresses))
        now = time.monotonic()
        mine = self._uploads.get(principal.user, {})
        usable = {a for a in wanted if a in mine and now - mine[a] <= self.upload_grace_seconds}
        others = [a for a in wanted if a not in usable]
        if others:
            usable |= self._readable_blobs(principal, others)
        return [a for a in wanted if a not in usable or not self.blobs.exists(a)]

    def _readable_blobs(self, principal: Principal, addresses: list[str]) -> set[str]:
        """Those of ``addresses`` that some version the caller may read holds."""
        with self.store.reading() as tx:
            pairs = tx.blob_namespaces(addresses)
            roles = self._roles(tx, principal, sorted({ns for _, ns in pairs}))
        return {digest for digest, ns in pairs if role_rank(roles.get(ns)) >= role_rank("reader")}
