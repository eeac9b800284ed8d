"""``/lepton/api/registry``: models, versions, file transfer, aliases, lineage and grants.

Thin over :class:`~lepton_jupyter.registry.service.RegistryService`: every verb parses,
calls the service with the caller's principal and replies. The same handlers serve the
Jupyter server extension and the standalone ``lepton registry serve``; only the identity
provider differs. Writes run off the event loop, since a SQLite writer may wait for a lock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import Invalid
from ..registry import openapi
from ..registry.blobs import CHUNK, BlobWriter
from ..registry.identity import Principal, principal_of, service_auth
from ..registry.schema import (
    DeleteQuery,
    FsckRequest,
    GrantRequest,
    LoadRequest,
    MissingBlobs,
    MissingBlobsRequest,
    NamespaceQuery,
    PublishCheck,
    PublishCheckQuery,
    PublishRequest,
    RefQuery,
    SetAliasRequest,
    VersionsQuery,
    YankRequest,
)
from ..registry.service import RegistryService, open_service, parse_version
from .base import LeptonHandler

SERVICE_KEY = "lepton_registry"
#: Application setting holding the service's namespace policy (a hub's TeamPolicy).
POLICY_KEY = "lepton_registry_policy"


def registry_service(settings: dict[str, Any]) -> RegistryService:
    """The service of this web application, opened on first use from its lepton settings."""
    service = settings.get(SERVICE_KEY)
    if service is None:
        service = open_service(settings["lepton_settings"], settings.get(POLICY_KEY))
        settings[SERVICE_KEY] = service
    return service


class RegistryHandler(LeptonHandler):
    auth_resource = "lepton"

    @property
    def registry(self) -> RegistryService:
        return registry_service(self.settings)

    @property
    def principal(self) -> Principal:
        return principal_of(self.current_user, self.identity_provider)


def _model_url(handler: RegistryHandler, namespace: str, model: str) -> str:
    return f"{handler.base_url.rstrip('/')}/lepton/api/registry/models/{namespace}/{model}"


class ModelsHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        query = self.query(NamespaceQuery)
        self.reply(
            self.registry.models(
                self.principal, query.namespace, include_yanked=query.include_yanked
            )
        )


class ResolveHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(self.registry.resolve(self.principal, self.query(RefQuery).ref))


class LineageHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(self.registry.lineage(self.principal, self.query(RefQuery).ref))


class VersionsHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str, model: str) -> None:
        page = self.query(VersionsQuery)
        self.reply(
            self.registry.versions(
                self.principal,
                f"{namespace}/{model}",
                limit=page.limit,
                before=page.before,
                include_yanked=page.include_yanked,
            )
        )

    @web.authenticated
    @authorized
    async def post(self, namespace: str, model: str) -> None:
        request = self.parse(PublishRequest)
        version = await asyncio.to_thread(
            self.registry.publish, self.principal, f"{namespace}/{model}", request
        )
        location = f"{_model_url(self, namespace, model)}/versions/{version.version}"
        self.reply(version, status=201, location=location)


class VersionHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str, model: str, number: str) -> None:
        ref = f"{namespace}/{model}:{parse_version(number)}"
        self.reply(self.registry.resolve(self.principal, ref))

    @web.authenticated
    @authorized
    async def delete(self, namespace: str, model: str, number: str) -> None:
        query = self.query(DeleteQuery)
        self.reply(
            await asyncio.to_thread(
                self.registry.delete_version,
                self.principal,
                f"{namespace}/{model}",
                parse_version(number),
                dry_run=query.dry_run,
            )
        )


class YankHandler(RegistryHandler):
    @web.authenticated
    @authorized
    async def post(self, namespace: str, model: str, number: str) -> None:
        request = self.parse(YankRequest)
        self.reply(
            await asyncio.to_thread(
                self.registry.yank,
                self.principal,
                f"{namespace}/{model}",
                parse_version(number),
                request.reason,
            )
        )

    @web.authenticated
    @authorized
    async def delete(self, namespace: str, model: str, number: str) -> None:
        self.reply(
            await asyncio.to_thread(
                self.registry.unyank, self.principal, f"{namespace}/{model}", parse_version(number)
            )
        )


class PublishCheckHandler(RegistryHandler):
    """The HTTP client's early refusal: what a publish would answer, before any upload."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        query = self.query(PublishCheckQuery)
        self.registry.check_publish(self.principal, query.name, query.alias)
        self.reply(PublishCheck(name=query.name, alias=query.alias))


class LoadsHandler(RegistryHandler):
    @web.authenticated
    @authorized
    async def post(self, namespace: str, model: str, number: str) -> None:
        request = self.parse(LoadRequest)
        await asyncio.to_thread(
            self.registry.record_load,
            self.principal,
            f"{namespace}/{model}",
            parse_version(number),
            request,
        )
        self.reply({}, status=201)


class FileHandler(RegistryHandler):
    @web.authenticated
    @authorized
    async def get(self, namespace: str, model: str, number: str, path: str) -> None:
        entry = self.registry.file(
            self.principal, f"{namespace}/{model}", parse_version(number), path
        )
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(entry.size))
        self.set_header("X-Lepton-Digest", entry.digest)
        with self.registry.blobs.open(entry.digest) as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()


class AliasesHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str, model: str) -> None:
        self.reply(self.registry.aliases(self.principal, f"{namespace}/{model}"))


class AliasHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str, model: str, alias: str) -> None:
        self.reply(self.registry.alias(self.principal, f"{namespace}/{model}", alias))

    @web.authenticated
    @authorized
    async def put(self, namespace: str, model: str, alias: str) -> None:
        request = self.parse(SetAliasRequest)
        self.reply(
            await asyncio.to_thread(
                self.registry.set_alias,
                self.principal,
                f"{namespace}/{model}",
                alias,
                request.version,
                comparison=request.comparison,
                override=request.override,
            )
        )


class RollbackHandler(RegistryHandler):
    @web.authenticated
    @authorized
    async def post(self, namespace: str, model: str, alias: str) -> None:
        self.reply(
            await asyncio.to_thread(
                self.registry.rollback, self.principal, f"{namespace}/{model}", alias
            )
        )


class HistoryHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str, model: str, alias: str) -> None:
        self.reply(self.registry.history(self.principal, f"{namespace}/{model}", alias))


class NamespaceHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str) -> None:
        self.reply(self.registry.namespace(self.principal, namespace))


class GrantsHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def get(self, namespace: str) -> None:
        self.reply(self.registry.namespace(self.principal, namespace).grants)

    @web.authenticated
    @authorized
    async def post(self, namespace: str) -> None:
        request = self.parse(GrantRequest)
        grant = await asyncio.to_thread(
            self.registry.grant,
            self.principal,
            namespace,
            request.role,
            request.user,
            request.group,
        )
        location = f"{self.base_url.rstrip('/')}/lepton/api/registry/namespaces/{namespace}"
        self.reply(grant, status=201, location=location)


class GrantHandler(RegistryHandler):
    @web.authenticated
    @authorized
    async def delete(self, namespace: str, kind: str, subject: str) -> None:
        if kind not in ("user", "group"):
            raise Invalid(f"Grants are held by a 'user' or 'group', not {kind!r}.")
        self.reply(
            await asyncio.to_thread(
                self.registry.revoke, self.principal, namespace, **{kind: subject}
            )
        )


class MissingBlobsHandler(RegistryHandler):
    @web.authenticated
    @authorized
    def post(self) -> None:
        request = self.parse(MissingBlobsRequest)
        self.reply(
            MissingBlobs(missing=self.registry.missing_blobs(self.principal, request.addresses))
        )


class FsckHandler(RegistryHandler):
    """``POST /registry/fsck``: the blob store checked and (``gc``) collected, for the
    registry's admins; a dry run unless asked otherwise."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        request = self.parse(FsckRequest)
        self.reply(await asyncio.to_thread(self.registry.admin_fsck, self.principal, request))


class BlobUploadHandler(RegistryHandler):
    """``PUT /registry/blobs/<address>``: the body streams into the store, hashed on the way."""

    writer: BlobWriter | None = None

    body_limit_setting = "registry_max_upload_bytes"

    async def prepare(self) -> None:
        # The base authenticates and authorizes before a byte is read.
        await super().prepare()
        if self._finished:
            return
        if self.current_user is None:
            raise web.HTTPError(403)
        self.writer = self.registry.begin_upload(self.principal, self.path_args[0])

    def data_received(self, chunk: bytes) -> None:
        assert self.writer is not None
        self.writer.write(chunk)

    @web.authenticated
    @authorized
    async def put(self, address: str) -> None:
        assert self.writer is not None
        stored = await asyncio.to_thread(
            self.registry.finish_upload, self.principal, self.writer, address
        )
        self.reply({"address": stored, "size": self.writer.size}, status=201)

    def on_finish(self) -> None:
        if self.writer is not None and self.writer.address is None:
            self.writer.abort()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self.writer is not None and self.writer.address is None:
            self.writer.abort()


class DocumentHandler(LeptonHandler):
    """``GET /lepton/api/openapi.json``: the server's committed OpenAPI document (here the
    registry's, as ``lepton registry serve`` serves it)."""

    document = Path(openapi.__file__).with_name("openapi.json")

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(self.document.read_bytes())


class ForwardHandler(LeptonHandler):
    """Every ``/registry/...`` call, answered by the shared service at ``registry_url``.

    With a shared registry configured, the sidebar must see what the kernels see: the
    request goes on to the service as this server's owner (with the server's registry
    token, on a hub its ``JUPYTERHUB_API_TOKEN``), and the service's answer comes back.
    """

    auth_resource = "lepton"

    async def _forward(self, path: str) -> None:
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        base = self.lepton_settings.registry_url.rstrip("/") + "/lepton/api/registry/"
        # ``path`` arrives decoded: '%2e%2e' is '..' now. Such a segment would climb out of
        # the registry's prefix at the service (or a proxy normalising in front of it),
        # carrying this server's token; each segment is sent re-encoded.
        segments = path.split("/")
        if any(s in (".", "..") for s in segments):
            raise Invalid(f"Registry path {path!r} has a '.' or '..' segment.")
        confined = "/".join(quote(s, safe="") for s in segments)
        url = base + confined + (f"?{self.request.query}" if self.request.query else "")
        headers = {**service_auth(self.lepton_settings)}
        if "Content-Type" in self.request.headers:
            headers["Content-Type"] = self.request.headers["Content-Type"]
        body = self.body if self.request.method in ("POST", "PUT") else None
        request = HTTPRequest(
            url,
            method=self.request.method or "GET",
            headers=headers,
            body=body,
            allow_nonstandard_methods=True,
            request_timeout=600,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:  # refused, unresolvable, timed out
            raise web.HTTPError(502, f"Cannot reach the registry at {base}: {e}") from e
        self.set_status(response.code)
        self.set_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        self.finish(response.body)

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def put(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        await self._forward(path)


#: ``lepton registry serve``'s own route beside the registry's.
document_routes = [(r"/openapi.json", DocumentHandler)]

#: The route table of a server whose registry is the shared service at ``registry_url``.
forward_routes = [(r"/registry/(.*)", ForwardHandler)]

_NAME = r"([^/]+)"
_MODEL = rf"/registry/models/{_NAME}/{_NAME}"

routes = [
    (r"/registry/models", ModelsHandler),
    (r"/registry/resolve", ResolveHandler),
    (r"/registry/lineage", LineageHandler),
    (r"/registry/publish-check", PublishCheckHandler),
    (rf"{_MODEL}/versions", VersionsHandler),
    (rf"{_MODEL}/versions/{_NAME}", VersionHandler),
    (rf"{_MODEL}/versions/{_NAME}/loads", LoadsHandler),
    (rf"{_MODEL}/versions/{_NAME}/yank", YankHandler),
    (rf"{_MODEL}/versions/{_NAME}/files/(.+)", FileHandler),
    (rf"{_MODEL}/aliases", AliasesHandler),
    (rf"{_MODEL}/aliases/{_NAME}", AliasHandler),
    (rf"{_MODEL}/aliases/{_NAME}/rollback", RollbackHandler),
    (rf"{_MODEL}/aliases/{_NAME}/history", HistoryHandler),
    (rf"/registry/namespaces/{_NAME}", NamespaceHandler),
    (rf"/registry/namespaces/{_NAME}/grants", GrantsHandler),
    (rf"/registry/namespaces/{_NAME}/grants/{_NAME}/{_NAME}", GrantHandler),
    (r"/registry/blobs/missing", MissingBlobsHandler),
    (r"/registry/fsck", FsckHandler),
    (rf"/registry/blobs/{_NAME}", BlobUploadHandler),
]
