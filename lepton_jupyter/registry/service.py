"""The registry's logic and its permissions, with no web framework in it.

Every method takes the caller's :class:`Principal` explicitly and checks the role it needs
on the namespace, so the rules hold the same whether the service is called by a kernel
(direct store), the Jupyter server's REST handlers or the standalone service.

Roles on a namespace, each including the ones before: reader (list, load, lineage) <
writer (publish, move unprotected aliases) < maintainer (move protected aliases, yank) <
admin (grant, delete). Who may create a namespace, and with which grants, is the service's
:mod:`~lepton_jupyter.registry.policy`: by default whoever first writes to a namespace that
does not exist yet becomes its admin (in a single-user setup, the admin of everything they
publish); on a JupyterHub, namespaces follow the hub's groups.

The service holds the name grammar, these rules and the order of each operation; every
statement is its :class:`~lepton_jupyter.registry.store.RegistryStore`'s, and a check runs
in the same transaction as the write it allows. :class:`RegistryService` is one object
made of one part per concern, each in its own module over the checks and lookups of
:mod:`.access` and the grammar of :mod:`.grammar`: :mod:`.publishing` (uploads and
publishes), :mod:`.aliases` and :mod:`.comparisons` (promotion), :mod:`.lifecycle` (yank,
un-yank, delete), :mod:`.grants` and :mod:`.reads`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..settings import Settings, default_value
from .access import lacks_role, role_rank
from .aliases import AliasOperations
from .blobs import BlobStore, StatCache
from .gates import parse_gates
from .grammar import manifest_digest, parse_name, parse_ref, parse_version
from .grants import GrantOperations
from .identity import Principal
from .lifecycle import VersionLifecycle
from .maintenance import fsck
from .policy import NamespacePolicy, require_registry_admin
from .publishing import PublishOperations
from .reads import ReadOperations
from .schema import FsckReport, FsckRequest
from .store import RegistryStore, SqlRegistryStore

__all__ = [
    "Principal",
    "RegistryService",
    "lacks_role",
    "manifest_digest",
    "open_service",
    "parse_name",
    "parse_ref",
    "parse_version",
    "role_rank",
]


class RegistryService(
    PublishOperations, AliasOperations, VersionLifecycle, GrantOperations, ReadOperations
):
    """Models, versions, aliases, lineage, grants and the comparisons promotion gates check,
    over one store and one blob store."""

    def __init__(
        self,
        store: RegistryStore,
        blobs: BlobStore,
        protected_aliases: Iterable[str] = ("prod",),
        policy: NamespacePolicy | None = None,
        promotion_gates: Mapping[str, Any] | None = None,
        upload_grace_seconds: float = default_value("registry_upload_grace_seconds"),
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.protected_aliases = frozenset(protected_aliases)
        self.policy = policy or NamespacePolicy()
        self.promotion_gates = parse_gates(promotion_gates)
        # alias() answers, valid while the store's generation stays the same
        self._alias_cache = {}
        self._alias_generation = None
        # user -> {address: when} of blobs they uploaded (proved they hold the bytes),
        # theirs to publish for upload_grace_seconds (fsck's default grace for an orphan)
        self._uploads = {}
        self.upload_grace_seconds = upload_grace_seconds

    def fsck(
        self,
        *,
        verify: bool = True,
        gc: bool = False,
        dry_run: bool = False,
        grace_seconds: float | None = None,
    ) -> FsckReport:
        """The blob store checked against the metadata (:func:`.maintenance.fsck`)."""
        if grace_seconds is None:
            grace_seconds = self.upload_grace_seconds
        return fsck(
            self.store,
            self.blobs,
            verify=verify,
            gc=gc,
            dry_run=dry_run,
            grace_seconds=grace_seconds,
        )

    def admin_fsck(self, principal: Principal, request: FsckRequest) -> FsckReport:
        """:meth:`fsck` for a caller of the REST API: the registry's admins only (it lists
        and removes blobs of every namespace), with the configured upload grace."""
        require_registry_admin(self.policy, principal, "Checking and collecting the blob store")
        return self.fsck(verify=request.verify, gc=request.gc, dry_run=request.dry_run)


def open_service(settings: Settings, policy: NamespacePolicy | None = None) -> RegistryService:
    """The service over the database and blob storage ``settings`` name."""
    stat_cache = StatCache(settings.state_dir / "registry-cache" / "stat.db")
    return RegistryService(
        SqlRegistryStore(settings.registry_db),
        BlobStore(settings.registry_storage, stat_cache),
        settings.protected_aliases,
        policy,
        promotion_gates=settings.promotion_gates,
        upload_grace_seconds=settings.registry_upload_grace_seconds,
    )
