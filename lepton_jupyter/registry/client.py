"""One registry client for one principal, over the service in this process or over REST.

* :class:`DirectClient` holds the :class:`~lepton_jupyter.registry.service.RegistryService`
  itself, on the configured store (no server configured: a laptop, a papermill batch run,
  a kernel of a single-user Jupyter server);
* :class:`HttpClient` holds a :class:`~lepton_jupyter.registry.remote.RemoteRegistry`, the
  same methods over REST to ``/lepton/api/registry`` of a Jupyter server running lepton or
  ``lepton registry serve``; ``LEPTON_REGISTRY_URL`` (or ``c.LeptonApp.registry_url``)
  selects it, ``LEPTON_REGISTRY_TOKEN`` authenticates.

Every call is written once, in :class:`RegistryClient`; the two differ only in how file
bytes travel. Both place loaded versions the same way: a folder per version in the local
cache, whose files are hard links to verified blobs, so a second load costs a directory
lookup.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Invalid, NotFound
from ..settings import Settings, load_settings
from .blobs import StatCache, hash_file, link_or_copy, parse_address
from .identity import Principal, current_principal
from .remote import RemoteRegistry, Rest
from .schema import (
    AliasEvent,
    AliasInfo,
    Comparison,
    FileEntry,
    FsckReport,
    FsckRequest,
    GrantInfo,
    Lineage,
    LoadRequest,
    ModelSummary,
    ModelVersion,
    NamespaceInfo,
    PublishRequest,
    Role,
    VersionDeletion,
)

if TYPE_CHECKING:
    from .service import RegistryService

STATE_DICT_FILE = "model.pt"


class Staged:
    """What a publish is about to store: its kind, entry file and files on local disk."""

    def __init__(
        self,
        kind: str,
        entry: str,
        files: list[tuple[str, Path]],
        state_dict: Mapping[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.entry = entry
        self.files = files
        self.state_dict = state_dict


def stage(obj: Any) -> Staged:
    """Classify what ``publish`` was given: an ``nn.Module``, a state_dict, a file or a folder."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        return Staged("state_dict", STATE_DICT_FILE, [], state_dict=obj.state_dict())
    if isinstance(obj, Mapping):
        return Staged("state_dict", STATE_DICT_FILE, [], state_dict=obj)
    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        if path.is_file():
            return Staged("file", path.name, [(path.name, path)])
        if path.is_dir():
            files = sorted(
                (p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file()
            )
            if not files:
                raise Invalid(f"Nothing to publish: folder {str(path)!r} has no files.")
            return Staged("directory", "", files)
        raise NotFound(f"Nothing to publish at {str(path)!r}: no such file or folder.")
    raise Invalid(
        "publish() takes a torch nn.Module, a state_dict, a file or a folder; "
        f"got {type(obj).__name__}."
    )


class RegistryClient(ABC):
    """The registry as the public API sees it: the service's calls as one principal."""

    service: RegistryService | RemoteRegistry

    def __init__(self, settings: Settings, principal: Principal) -> None:
        self.settings = settings
        self.principal = principal
        self.cache_root = settings.state_dir / "registry-cache"

    # how file bytes travel: each transport supplies these

    @abstractmethod
    def _store_files(self, staged: Staged) -> list[FileEntry]:
        """Put the staged files where the service can see them; their entries."""

    @abstractmethod
    def _blob_path(self, version: ModelVersion, file: FileEntry) -> Path:
        """A verified local file with ``file``'s content (a blob, or a cached download)."""

    # the service's calls, as this principal

    def check_publish(self, name: str, alias: str | None) -> None:
        self.service.check_publish(self.principal, name, alias)

    def resolve(self, ref: str) -> ModelVersion:
        return self.service.resolve(self.principal, ref)

    def alias(self, name: str, alias: str) -> AliasInfo:
        return self.service.alias(self.principal, name, alias)

    def aliases(self, name: str) -> list[AliasInfo]:
        return self.service.aliases(self.principal, name)

    def versions(
        self,
        name: str,
        limit: int | None = None,
        before: int | None = None,
        include_yanked: bool = False,
    ) -> list[ModelVersion]:
        return self.service.versions(
            self.principal, name, limit=limit, before=before, include_yanked=include_yanked
        )

    def models(
        self, namespace: str | None = None, *, include_yanked: bool = False
    ) -> list[ModelSummary]:
        return self.service.models(self.principal, namespace, include_yanked=include_yanked)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        comparison: int | None = None,
        override: str | None = None,
    ) -> AliasInfo:
        return self.service.set_alias(
            self.principal, name, alias, version, comparison=comparison, override=override
        )

    def rollback(self, name: str, alias: str) -> AliasInfo:
        return self.service.rollback(self.principal, name, alias)

    def history(self, name: str, alias: str) -> list[AliasEvent]:
        return self.service.history(self.principal, name, alias)

    def lineage(self, ref: str) -> Lineage:
        return self.service.lineage(self.principal, ref)

    def grant(
        self, namespace: str, role: Role, user: str | None = None, group: str | None = None
    ) -> GrantInfo:
        return self.service.grant(self.principal, namespace, role, user=user, group=group)

    def revoke(
        self, namespace: str, user: str | None = None, group: str | None = None
    ) -> GrantInfo:
        return self.service.revoke(self.principal, namespace, user=user, group=group)

    def yank(self, name: str, version: int, reason: str) -> ModelVersion:
        return self.service.yank(self.principal, name, version, reason)

    def unyank(self, name: str, version: int) -> ModelVersion:
        return self.service.unyank(self.principal, name, version)

    def delete_version(self, name: str, version: int, *, dry_run: bool = False) -> VersionDeletion:
        return self.service.delete_version(self.principal, name, version, dry_run=dry_run)

    def fsck(self, *, gc: bool = False, dry_run: bool = True, verify: bool = False) -> FsckReport:
        """The blob store checked and (``gc``, unless ``dry_run``) collected: registry admins."""
        request = FsckRequest(gc=gc, dry_run=dry_run, verify=verify)
        return self.service.admin_fsck(self.principal, request)

    def namespace(self, name: str) -> NamespaceInfo:
        return self.service.namespace(self.principal, name)

    def role_of(self, namespace: str) -> str | None:
        """Your role on ``namespace``, None without one (or without the namespace)."""
        return self.service.role_of(self.principal, namespace)

    def record_load(self, version: ModelVersion, request: LoadRequest) -> None:
        self.service.record_load(self.principal, version.name, version.version, request)

    def comparison(self, comparison_id: int) -> Comparison:
        return self.service.comparison(self.principal, comparison_id)

    def comparisons(
        self, *, ref: str | None = None, name: str | None = None, limit: int = 50
    ) -> list[Comparison]:
        return self.service.comparisons(self.principal, ref=ref, name=name, limit=limit)

    # shared behaviour

    def publish(
        self,
        name: str,
        obj: Any,
        *,
        description: str = "",
        metrics: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        lineage: dict[str, Any] | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """Files first (hashed while stored), then the version's metadata in one transaction."""
        self.check_publish(name, alias)
        staged = stage(obj)
        files = self._store_files(staged)
        request = PublishRequest(
            files=files,
            kind=staged.kind,
            entry=staged.entry,
            description=description or "",
            metrics=metrics or {},
            params=params or {},
            lineage=lineage or {},
            alias=alias,
        )
        return self.service.publish(self.principal, name, request)

    def would_publish(self, obj: Any) -> tuple[Staged, list[FileEntry]]:
        """What ``publish(obj)`` would store, hashed here; nothing is stored (a dry run)."""
        staged = stage(obj)
        files, temp = self._staged_to_local_files(staged)
        try:
            return staged, [
                FileEntry(path=path, digest=hash_file(source), size=source.stat().st_size)
                for path, source in files
            ]
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)

    def materialize(self, version: ModelVersion) -> Path:
        """The version's folder in the local cache (built once, from links); its entry path."""
        _, hexdigest = parse_address(version.digest)
        folder = self.cache_root / "versions" / hexdigest
        if not folder.is_dir():
            tmp = folder.with_name(f".{hexdigest}.{uuid.uuid4().hex}")
            try:
                for file in version.files:
                    dest = tmp / file.path
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    link_or_copy(
                        self._blob_path(version, file), dest, self.settings.cache_link_types
                    )
                tmp.mkdir(parents=True, exist_ok=True)
                try:
                    tmp.rename(folder)
                except OSError:
                    if not folder.is_dir():  # not a concurrent loader winning the rename
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return folder / version.entry if version.entry else folder

    def _cached_blob(self, file: FileEntry) -> Path:
        """Where a fetched copy of ``file``'s blob is kept in the local cache."""
        algorithm, hexdigest = parse_address(file.digest)
        return self.cache_root / "blobs" / algorithm / hexdigest

    def _staged_to_local_files(self, staged: Staged) -> tuple[list[tuple[str, Path]], Path | None]:
        """The staged files as local paths (a state_dict is saved to a temp file first)."""
        if staged.state_dict is None:
            return staged.files, None
        import torch

        tmp_dir = self.cache_root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".pt")
        with os.fdopen(fd, "wb") as f:
            torch.save(dict(staged.state_dict), f)
        return [(STATE_DICT_FILE, Path(name))], Path(name)


class DirectClient(RegistryClient):
    """The service in this process, on the configured database and blob storage."""

    def __init__(self, settings: Settings, principal: Principal) -> None:
        from .service import open_service  # SQLAlchemy and the stores: only for this transport

        super().__init__(settings, principal)
        self.service = open_service(settings)
        self.blobs = self.service.blobs

    def _store_files(self, staged: Staged) -> list[FileEntry]:
        if staged.state_dict is not None:
            import torch

            # Serialised straight into the blob store: one pass, no temp copy.
            with self.blobs.writer() as writer:
                torch.save(dict(staged.state_dict), writer)
                address = writer.commit()
            self.service.record_upload(self.principal, address)
            return [FileEntry(path=STATE_DICT_FILE, digest=address, size=writer.size)]
        entries = []
        for path, source in staged.files:
            address, size = self.service.store_file(self.principal, source)
            entries.append(FileEntry(path=path, digest=address, size=size))
        return entries

    def _blob_path(self, version: ModelVersion, file: FileEntry) -> Path:
        if self.blobs.is_local:
            return self.blobs.verified_local_path(file.digest)
        cached = self._cached_blob(file)
        if not cached.exists():
            self.blobs.fetch(file.digest, cached)
        return cached


class HttpClient(RegistryClient):
    """REST to a Jupyter server running lepton, or to ``lepton registry serve``."""

    service: RemoteRegistry

    def __init__(self, settings: Settings, principal: Principal) -> None:
        super().__init__(settings, principal)
        self.service = RemoteRegistry(Rest(settings))
        self.stat_cache = StatCache(self.cache_root / "stat.db")

    def _store_files(self, staged: Staged) -> list[FileEntry]:
        """Hash here (skipping files whose stat is known), upload only what is missing."""
        files, temp = self._staged_to_local_files(staged)
        try:
            entries = []
            for path, source in files:
                st = source.stat()
                address = self.stat_cache.get(st) or hash_file(source)
                self.stat_cache.put(st, address)
                entries.append((FileEntry(path=path, digest=address, size=st.st_size), source))
            missing = set(
                self.service.missing_blobs(self.principal, [e.digest for e, _ in entries])
            )
            for entry, source in entries:
                if entry.digest in missing:
                    self.service.upload(self.principal, entry.digest, source)
                    missing.discard(entry.digest)
            return [e for e, _ in entries]
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)

    def _blob_path(self, version: ModelVersion, file: FileEntry) -> Path:
        cached = self._cached_blob(file)
        if not cached.exists():
            self.service.download(self.principal, version, file, cached)
        return cached


_clients: dict[tuple[Any, ...], RegistryClient] = {}
_clients_lock = threading.Lock()


def get_client(settings: Settings | None = None) -> RegistryClient:
    """The client the current settings select, shared by the process."""
    settings = settings or load_settings()
    principal = current_principal()
    key = (
        settings.registry_url,
        settings.registry_token,
        settings.registry_db,
        settings.registry_storage,
        str(settings.state_dir),
        principal,
        tuple(settings.protected_aliases),
        json.dumps(settings.promotion_gates, sort_keys=True),
        tuple(settings.cache_link_types),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            cls = HttpClient if settings.registry_url else DirectClient
            client = _clients[key] = cls(settings, principal)
        return client
