"""One registry client, three ways to reach the service.

* :class:`DirectClient` opens the store itself (no server configured: a laptop, a papermill
  batch run, a kernel of a single-user Jupyter server);
* :class:`HttpClient` speaks REST to ``/lepton/api/registry`` of either a Jupyter server
  running lepton or the standalone ``lepton registry serve``; ``LEPTON_REGISTRY_URL``
  (or ``c.LeptonApp.registry_url``) selects it, ``LEPTON_REGISTRY_TOKEN`` authenticates.

Both store files the same way (hash while storing, skip files whose stat is known) and
place loaded versions the same way: a folder per version in the local cache, whose files
are hard links to verified blobs, so a second load costs a directory lookup.
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
from typing import Any
from urllib.parse import quote

from ..compare.schema import Comparison, ComparisonRequest
from ..compare.service import CompareService
from ..errors import Conflict, Forbidden, Invalid, LeptonError, NotFound
from ..settings import Settings, load_settings
from .blobs import CHUNK, StatCache, hash_file, link_or_copy, new_hasher, parse_address
from .identity import Principal, current_principal, service_auth
from .schema import (
    AliasEvent,
    AliasInfo,
    FileEntry,
    GrantInfo,
    Lineage,
    LoadRequest,
    ModelSummary,
    ModelVersion,
    NamespaceInfo,
    PublishRequest,
    Role,
)
from .service import open_service, parse_name

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
    """The registry as the public API sees it, for one principal."""

    def __init__(self, settings: Settings, principal: Principal) -> None:
        self.settings = settings
        self.principal = principal
        self.cache_root = settings.state_dir / "registry-cache"
        self.stat_cache = StatCache(self.cache_root / "stat.db")

    # storage of files: each transport supplies these

    @abstractmethod
    def _store_files(self, staged: Staged) -> list[FileEntry]:
        """Put the staged files where the service can see them; their entries."""

    @abstractmethod
    def _blob_path(self, version: ModelVersion, file: FileEntry) -> Path:
        """A verified local file with ``file``'s content (a blob, or a cached download)."""

    # service calls: each transport supplies these

    @abstractmethod
    def check_publish(self, name: str, alias: str | None) -> None: ...

    @abstractmethod
    def _publish(self, name: str, request: PublishRequest) -> ModelVersion: ...

    @abstractmethod
    def resolve(self, ref: str) -> ModelVersion: ...

    @abstractmethod
    def alias(self, name: str, alias: str) -> AliasInfo: ...

    @abstractmethod
    def aliases(self, name: str) -> list[AliasInfo]: ...

    @abstractmethod
    def versions(
        self, name: str, limit: int | None = None, before: int | None = None
    ) -> list[ModelVersion]: ...

    @abstractmethod
    def models(self, namespace: str | None = None) -> list[ModelSummary]: ...

    @abstractmethod
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        comparison: int | None = None,
        override: str | None = None,
    ) -> AliasInfo: ...

    @abstractmethod
    def rollback(self, name: str, alias: str) -> AliasInfo: ...

    @abstractmethod
    def history(self, name: str, alias: str) -> list[AliasEvent]: ...

    @abstractmethod
    def lineage(self, ref: str) -> Lineage: ...

    @abstractmethod
    def grant(
        self, namespace: str, role: Role, user: str | None = None, group: str | None = None
    ) -> GrantInfo: ...

    @abstractmethod
    def namespace(self, name: str) -> NamespaceInfo: ...

    @abstractmethod
    def record_load(self, version: ModelVersion, request: LoadRequest) -> None: ...

    @abstractmethod
    def record_comparison(self, request: ComparisonRequest) -> Comparison: ...

    @abstractmethod
    def comparison(self, comparison_id: int) -> Comparison: ...

    @abstractmethod
    def comparisons(
        self, *, ref: str | None = None, name: str | None = None, limit: int = 50
    ) -> list[Comparison]: ...

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
        return self._publish(name, request)

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
        super().__init__(settings, principal)
        self.service = open_service(settings)
        self.blobs = self.service.blobs
        self.compare = CompareService(self.service)

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
        algorithm, hexdigest = parse_address(file.digest)
        cached = self.cache_root / "blobs" / algorithm / hexdigest
        if not cached.exists():
            self.blobs.fetch(file.digest, cached)
        return cached

    def check_publish(self, name: str, alias: str | None) -> None:
        self.service.check_publish(self.principal, name, alias)

    def _publish(self, name: str, request: PublishRequest) -> ModelVersion:
        return self.service.publish(self.principal, name, request)

    def resolve(self, ref: str) -> ModelVersion:
        return self.service.resolve(self.principal, ref)

    def alias(self, name: str, alias: str) -> AliasInfo:
        return self.service.alias(self.principal, name, alias)

    def aliases(self, name: str) -> list[AliasInfo]:
        return self.service.aliases(self.principal, name)

    def versions(
        self, name: str, limit: int | None = None, before: int | None = None
    ) -> list[ModelVersion]:
        return self.service.versions(self.principal, name, limit=limit, before=before)

    def models(self, namespace: str | None = None) -> list[ModelSummary]:
        return self.service.models(self.principal, namespace)

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

    def namespace(self, name: str) -> NamespaceInfo:
        return self.service.namespace(self.principal, name)

    def record_load(self, version: ModelVersion, request: LoadRequest) -> None:
        self.service.record_load(self.principal, version.name, version.version, request)

    def record_comparison(self, request: ComparisonRequest) -> Comparison:
        return self.compare.record(self.principal, request)

    def comparison(self, comparison_id: int) -> Comparison:
        return self.compare.get(self.principal, comparison_id)

    def comparisons(
        self, *, ref: str | None = None, name: str | None = None, limit: int = 50
    ) -> list[Comparison]:
        return self.compare.list(self.principal, ref=ref, name=name, limit=limit)


_ERRORS: dict[int, type[LeptonError]] = {400: Invalid, 403: Forbidden, 404: NotFound, 409: Conflict}


class HttpClient(RegistryClient):
    """REST to a Jupyter server running lepton, or to ``lepton registry serve``."""

    def __init__(self, settings: Settings, principal: Principal) -> None:
        import requests

        super().__init__(settings, principal)
        self.base = settings.registry_url.rstrip("/") + "/lepton/api/registry"
        self.http = requests.Session()
        self.http.headers.update(service_auth(settings))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        try:
            response = self.http.request(method, self.base + path, timeout=600, **kwargs)
        except requests.ConnectionError as e:
            raise LeptonError(f"Cannot reach the registry at {self.base}: {e}") from e
        if response.status_code >= 400:
            try:
                message = response.json()["message"]
            except (ValueError, KeyError):
                message = response.text[:300] or response.reason
            raise _ERRORS.get(response.status_code, LeptonError)(message)
        return response.json() if response.content else None

    def _model_path(self, name: str) -> str:
        namespace, model = parse_name(name, self.principal)
        return f"/models/{namespace}/{model}"

    def _store_files(self, staged: Staged) -> list[FileEntry]:
        files, temp = self._staged_to_local_files(staged)
        try:
            entries = []
            for path, source in files:
                st = source.stat()
                address = self.stat_cache.get(st) or hash_file(source)
                self.stat_cache.put(st, address)
                entries.append((FileEntry(path=path, digest=address, size=st.st_size), source))
            missing = set(
                self._call(
                    "POST", "/blobs/missing", json={"addresses": [e.digest for e, _ in entries]}
                )["missing"]
            )
            for entry, source in entries:
                if entry.digest in missing:
                    with source.open("rb") as f:
                        self._call("PUT", f"/blobs/{entry.digest}", data=f)
                    missing.discard(entry.digest)
            return [e for e, _ in entries]
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)

    def _blob_path(self, version: ModelVersion, file: FileEntry) -> Path:
        algorithm, hexdigest = parse_address(file.digest)
        cached = self.cache_root / "blobs" / algorithm / hexdigest
        if cached.exists():
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{hexdigest}.{uuid.uuid4().hex}.part")
        hasher = new_hasher(algorithm)
        url = (
            f"{self.base}{self._model_path(version.name)}/versions/{version.version}"
            f"/files/{quote(file.path)}"
        )
        try:
            with self.http.get(url, stream=True, timeout=600) as response:
                if response.status_code >= 400:
                    raise _ERRORS.get(response.status_code, LeptonError)(response.text[:300])
                with tmp.open("wb") as out:
                    for chunk in response.iter_content(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
            actual = f"{algorithm}:{hasher.hexdigest()}"
            if actual != file.digest:
                raise Conflict(
                    f"Downloaded {file.path} of {version.ref} hashes to {actual}, "
                    f"not {file.digest}; the registry's copy is corrupt."
                )
            os.chmod(tmp, 0o444)
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)
        return cached

    def check_publish(self, name: str, alias: str | None) -> None:
        namespace, _ = parse_name(name, self.principal)
        info = NamespaceInfo.model_validate(self._call("GET", f"/namespaces/{namespace}"))
        ranks = ("reader", "writer", "maintainer", "admin")
        if info.exists:
            rank = ranks.index(info.role) if info.role else -1
            if rank < ranks.index("writer"):
                you = f"you are {info.role}" if info.role else "you have no role there"
                raise Forbidden(f"publishing to '{namespace}' needs the writer role; {you}.")

    def _publish(self, name: str, request: PublishRequest) -> ModelVersion:
        data = self._call(
            "POST", f"{self._model_path(name)}/versions", json=request.model_dump(mode="json")
        )
        return ModelVersion.model_validate(data)

    def resolve(self, ref: str) -> ModelVersion:
        return ModelVersion.model_validate(self._call("GET", "/resolve", params={"ref": ref}))

    def alias(self, name: str, alias: str) -> AliasInfo:
        data = self._call("GET", f"{self._model_path(name)}/aliases/{alias}")
        return AliasInfo.model_validate(data)

    def aliases(self, name: str) -> list[AliasInfo]:
        data = self._call("GET", f"{self._model_path(name)}/aliases")
        return [AliasInfo.model_validate(x) for x in data]

    def versions(
        self, name: str, limit: int | None = None, before: int | None = None
    ) -> list[ModelVersion]:
        page = {k: v for k, v in (("limit", limit), ("before", before)) if v is not None}
        data = self._call("GET", f"{self._model_path(name)}/versions", params=page)
        return [ModelVersion.model_validate(x) for x in data]

    def models(self, namespace: str | None = None) -> list[ModelSummary]:
        params = {"namespace": namespace} if namespace else {}
        return [ModelSummary.model_validate(x) for x in self._call("GET", "/models", params=params)]

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        comparison: int | None = None,
        override: str | None = None,
    ) -> AliasInfo:
        body = {"version": version, "comparison": comparison, "override": override}
        data = self._call("PUT", f"{self._model_path(name)}/aliases/{alias}", json=body)
        return AliasInfo.model_validate(data)

    def rollback(self, name: str, alias: str) -> AliasInfo:
        data = self._call("POST", f"{self._model_path(name)}/aliases/{alias}/rollback")
        return AliasInfo.model_validate(data)

    def history(self, name: str, alias: str) -> list[AliasEvent]:
        data = self._call("GET", f"{self._model_path(name)}/aliases/{alias}/history")
        return [AliasEvent.model_validate(x) for x in data]

    def lineage(self, ref: str) -> Lineage:
        return Lineage.model_validate(self._call("GET", "/lineage", params={"ref": ref}))

    def grant(
        self, namespace: str, role: Role, user: str | None = None, group: str | None = None
    ) -> GrantInfo:
        data = self._call(
            "POST",
            f"/namespaces/{namespace}/grants",
            json={"role": role, "user": user, "group": group},
        )
        return GrantInfo.model_validate(data)

    def namespace(self, name: str) -> NamespaceInfo:
        return NamespaceInfo.model_validate(self._call("GET", f"/namespaces/{name}"))

    def record_load(self, version: ModelVersion, request: LoadRequest) -> None:
        self._call(
            "POST",
            f"{self._model_path(version.name)}/versions/{version.version}/loads",
            json=request.model_dump(),
        )

    def record_comparison(self, request: ComparisonRequest) -> Comparison:
        data = self._call("POST", "/comparisons", json=request.model_dump(mode="json"))
        return Comparison.model_validate(data)

    def comparison(self, comparison_id: int) -> Comparison:
        return Comparison.model_validate(self._call("GET", f"/comparisons/{int(comparison_id)}"))

    def comparisons(
        self, *, ref: str | None = None, name: str | None = None, limit: int = 50
    ) -> list[Comparison]:
        params = {k: v for k, v in (("ref", ref), ("name", name)) if v is not None}
        data = self._call("GET", "/comparisons", params={**params, "limit": limit})
        return [Comparison.model_validate(x) for x in data]


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
