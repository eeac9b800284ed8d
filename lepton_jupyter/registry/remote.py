"""The registry service over REST: the service's methods, each one request away.

:class:`RemoteRegistry` takes the same arguments as
:class:`~lepton_jupyter.registry.service.RegistryService` and answers with the same models,
so a client holds either and calls them alike (as MLflow's ``RestStore`` stands in for its SQL
store). The caller's principal only completes bare model names here; the server knows the
caller by the token sent (``LEPTON_REGISTRY_TOKEN`` or a hub's ``JUPYTERHUB_API_TOKEN``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import Conflict, Forbidden, Invalid, LeptonError, NotFound
from ..settings import Settings
from .blobs import CHUNK, new_hasher, parse_address
from .grammar import parse_name
from .identity import Principal, service_auth
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

_ERRORS: dict[int, type[LeptonError]] = {400: Invalid, 403: Forbidden, 404: NotFound, 409: Conflict}


class Rest:
    """Requests to ``<registry_url>/lepton/api/registry``; an error reply raises the lepton
    error of its status with the server's message."""

    def __init__(self, settings: Settings) -> None:
        import requests

        self.base = settings.registry_url.rstrip("/") + "/lepton/api/registry"
        self.http = requests.Session()
        self.http.headers.update(service_auth(settings))

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
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


class RemoteRegistry:
    """:class:`~lepton_jupyter.registry.service.RegistryService`'s methods over REST."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest

    def _model_path(self, principal: Principal, name: str) -> str:
        namespace, model = parse_name(name, principal)
        return f"/models/{namespace}/{model}"

    def check_publish(self, principal: Principal, name: str, alias: str | None = None) -> None:
        """What the publish would answer, asked before any file is uploaded."""
        namespace, model = parse_name(name, principal)
        params = {"name": f"{namespace}/{model}", **({"alias": alias} if alias else {})}
        self.rest.call("GET", "/publish-check", params=params)

    def publish(self, principal: Principal, name: str, request: PublishRequest) -> ModelVersion:
        path = f"{self._model_path(principal, name)}/versions"
        data = self.rest.call("POST", path, json=request.model_dump(mode="json"))
        return ModelVersion.model_validate(data)

    def resolve(self, principal: Principal, ref: str) -> ModelVersion:
        return ModelVersion.model_validate(self.rest.call("GET", "/resolve", params={"ref": ref}))

    def alias(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        data = self.rest.call("GET", f"{self._model_path(principal, name)}/aliases/{alias}")
        return AliasInfo.model_validate(data)

    def aliases(self, principal: Principal, name: str) -> list[AliasInfo]:
        data = self.rest.call("GET", f"{self._model_path(principal, name)}/aliases")
        return [AliasInfo.model_validate(x) for x in data]

    def versions(
        self,
        principal: Principal,
        name: str,
        *,
        limit: int | None = None,
        before: int | None = None,
        include_yanked: bool = False,
    ) -> list[ModelVersion]:
        page = {k: v for k, v in (("limit", limit), ("before", before)) if v is not None}
        if include_yanked:
            page["include_yanked"] = "true"
        path = f"{self._model_path(principal, name)}/versions"
        return [ModelVersion.model_validate(x) for x in self.rest.call("GET", path, params=page)]

    def models(
        self, principal: Principal, namespace: str | None = None, *, include_yanked: bool = False
    ) -> list[ModelSummary]:
        params = {"namespace": namespace} if namespace else {}
        if include_yanked:
            params["include_yanked"] = "true"
        data = self.rest.call("GET", "/models", params=params)
        return [ModelSummary.model_validate(x) for x in data]

    def set_alias(
        self,
        principal: Principal,
        name: str,
        alias: str,
        version: int,
        *,
        comparison: int | None = None,
        override: str | None = None,
    ) -> AliasInfo:
        body = {"version": version, "comparison": comparison, "override": override}
        path = f"{self._model_path(principal, name)}/aliases/{alias}"
        return AliasInfo.model_validate(self.rest.call("PUT", path, json=body))

    def rollback(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        path = f"{self._model_path(principal, name)}/aliases/{alias}/rollback"
        return AliasInfo.model_validate(self.rest.call("POST", path))

    def history(self, principal: Principal, name: str, alias: str) -> list[AliasEvent]:
        path = f"{self._model_path(principal, name)}/aliases/{alias}/history"
        return [AliasEvent.model_validate(x) for x in self.rest.call("GET", path)]

    def lineage(self, principal: Principal, ref: str) -> Lineage:
        return Lineage.model_validate(self.rest.call("GET", "/lineage", params={"ref": ref}))

    def grant(
        self,
        principal: Principal,
        namespace: str,
        role: Role,
        user: str | None = None,
        group: str | None = None,
    ) -> GrantInfo:
        body = {"role": role, "user": user, "group": group}
        data = self.rest.call("POST", f"/namespaces/{namespace}/grants", json=body)
        return GrantInfo.model_validate(data)

    def revoke(
        self,
        principal: Principal,
        namespace: str,
        user: str | None = None,
        group: str | None = None,
    ) -> GrantInfo:
        if (user is None) == (group is None):
            raise Invalid("Revoke the role of exactly one of user=... or group=....")
        kind, subject = ("user", user) if user is not None else ("group", group)
        path = f"/namespaces/{namespace}/grants/{kind}/{quote(str(subject), safe='')}"
        return GrantInfo.model_validate(self.rest.call("DELETE", path))

    def yank(self, principal: Principal, name: str, version: int, reason: str) -> ModelVersion:
        path = f"{self._model_path(principal, name)}/versions/{int(version)}/yank"
        return ModelVersion.model_validate(self.rest.call("POST", path, json={"reason": reason}))

    def unyank(self, principal: Principal, name: str, version: int) -> ModelVersion:
        path = f"{self._model_path(principal, name)}/versions/{int(version)}/yank"
        return ModelVersion.model_validate(self.rest.call("DELETE", path))

    def delete_version(
        self, principal: Principal, name: str, version: int, *, dry_run: bool = False
    ) -> VersionDeletion:
        path = f"{self._model_path(principal, name)}/versions/{int(version)}"
        params = {"dry_run": "true"} if dry_run else None
        return VersionDeletion.model_validate(self.rest.call("DELETE", path, params=params))

    def admin_fsck(self, principal: Principal, request: FsckRequest) -> FsckReport:
        body = request.model_dump(mode="json")
        return FsckReport.model_validate(self.rest.call("POST", "/fsck", json=body))

    def namespace(self, principal: Principal, name: str) -> NamespaceInfo:
        return NamespaceInfo.model_validate(self.rest.call("GET", f"/namespaces/{name}"))

    def comparison(self, principal: Principal, comparison_id: int) -> Comparison:
        return Comparison.model_validate(
            self.rest.call("GET", f"/comparisons/{int(comparison_id)}")
        )

    def comparisons(
        self,
        principal: Principal,
        *,
        ref: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[Comparison]:
        params = {k: v for k, v in (("ref", ref), ("name", name)) if v is not None}
        data = self.rest.call("GET", "/comparisons", params={**params, "limit": limit})
        return [Comparison.model_validate(x) for x in data]

    def role_of(self, principal: Principal, namespace: str) -> str | None:
        """Over REST the namespace's uniform 404 is the answer for no role."""
        try:
            return self.namespace(principal, namespace).role
        except NotFound:
            return None

    def record_load(
        self, principal: Principal, name: str, version: int, request: LoadRequest
    ) -> None:
        path = f"{self._model_path(principal, name)}/versions/{version}/loads"
        self.rest.call("POST", path, json=request.model_dump())

    def missing_blobs(self, principal: Principal, addresses: list[str]) -> list[str]:
        data = self.rest.call("POST", "/blobs/missing", json={"addresses": addresses})
        return list(data["missing"])

    def upload(self, principal: Principal, address: str, source: Path) -> None:
        """Send a local file as the blob ``address`` (the server checks its bytes)."""
        with source.open("rb") as f:
            self.rest.call("PUT", f"/blobs/{address}", data=f)

    def download(
        self, principal: Principal, version: ModelVersion, file: FileEntry, to: Path
    ) -> None:
        """Stream a version's file to ``to`` (read-only), checking it hashes to its digest;
        a partial download never appears at ``to``."""
        algorithm, hexdigest = parse_address(file.digest)
        to.parent.mkdir(parents=True, exist_ok=True)
        tmp = to.with_name(f".{hexdigest}.{uuid.uuid4().hex}.part")
        hasher = new_hasher(algorithm)
        url = (
            f"{self.rest.base}{self._model_path(principal, version.name)}/versions/"
            f"{version.version}/files/{quote(file.path)}"
        )
        try:
            with self.rest.http.get(url, stream=True, timeout=600) as response:
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
            os.replace(tmp, to)
        finally:
            tmp.unlink(missing_ok=True)
