"""``lepton registry serve``: the registry's REST API as a small standalone tornado app.

It mounts the very handlers the Jupyter server extension uses; only the identity provider
differs. :class:`TokenIdentityProvider` maps bearer tokens to principals; a JupyterHub
service swaps in the hub's identity provider instead.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_server.auth.authorizer import AllowAllAuthorizer
from jupyter_server.auth.identity import IdentityProvider, User
from sqlalchemy.engine import make_url
from tornado import web
from tornado.httpserver import HTTPServer

from ..errors import Invalid
from ..registry.identity import Principal
from ..registry.policy import NamespacePolicy
from ..settings import Settings
from . import API_PREFIX
from . import compare as compare_handlers
from . import registry as registry_handlers


@dataclass
class RegistryUser(User):
    groups: tuple[str, ...] = field(default_factory=tuple)


class TokenIdentityProvider(IdentityProvider):
    """Who a request is: the principal its ``Authorization: token ...`` header maps to.

    Roles are not decided here; the service checks them on every call.
    """

    def __init__(self, tokens: dict[str, Principal], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens = tokens

    def get_token(self, handler: web.RequestHandler) -> str | None:
        """The ``Authorization`` header's token only: one in a URL (``?token=``) would end
        up in access logs, proxies' logs and shell histories, so it is not accepted."""
        match = self.auth_header_pat.match(handler.request.headers.get("Authorization", ""))
        return match.group(2) if match else None

    def get_user(self, handler: web.RequestHandler) -> User | None:
        principal = self.tokens.get(self.get_token(handler) or "")
        if principal is None:
            return None
        return RegistryUser(username=principal.user, groups=tuple(sorted(principal.groups)))

    @property
    def auth_enabled(self) -> bool:
        return True


def read_tokens(path: Path) -> dict[str, Principal]:
    """Tokens from a JSON file ``{"<token>": {"user": "alice", "groups": ["vision"]}}``."""
    try:
        raw = json.loads(path.read_text())
        return {
            token: Principal(user=entry["user"], groups=frozenset(entry.get("groups", [])))
            for token, entry in raw.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise Invalid(
            f"Cannot read tokens from {path}: expected "
            '{"<token>": {"user": ..., "groups": [...]}} ({e}).'
        ) from e


def make_app(
    settings: Settings,
    identity_provider: IdentityProvider,
    access_log: bool = False,
    *,
    base_url: str = "/",
    extra_routes: list[tuple[Any, ...]] | None = None,
    app_settings: dict[str, Any] | None = None,
) -> web.Application:
    """The registry routes under ``<base_url>lepton/api`` with the given identity provider.

    A hub service passes its prefix as ``base_url``, its OAuth routes, and settings with its
    namespace policy and cookie key.
    """
    routes: list[tuple[Any, ...]] = [
        (base_url.rstrip("/") + API_PREFIX + path, handler)
        for path, handler in [
            *registry_handlers.routes,
            *compare_handlers.registry_routes,
            *registry_handlers.document_routes,
        ]
    ]
    routes.extend(extra_routes or [])
    app_settings = {
        "lepton_settings": settings,
        "identity_provider": identity_provider,
        "authorizer": AllowAllAuthorizer(),
        "base_url": base_url,
        "allow_remote_access": True,
        "disable_check_xsrf": True,
        **(app_settings or {}),
    }
    app_settings["log_function"] = _log_request if access_log else lambda handler: None
    if access_log:
        from tornado.log import enable_pretty_logging

        enable_pretty_logging()  # INFO to stderr, where the access log goes
    app = web.Application(routes, **app_settings)
    registry_handlers.registry_service(app.settings)  # open (and migrate) before serving
    return app


def _log_request(handler: web.RequestHandler) -> None:
    """The access log line, without the query string (it may carry secrets)."""
    request = handler.request
    web.access_log.info(
        "%d %s %s (%s) %.2fms",
        handler.get_status(),
        request.method,
        request.path,
        request.remote_ip,
        1000.0 * request.request_time(),
    )


def serve(
    settings: Settings,
    tokens: dict[str, Principal],
    host: str,
    port: int,
    access_log: bool = False,
    policy: NamespacePolicy | None = None,
) -> None:
    """Run until interrupted; ``policy`` names the registry admins, if any."""
    app_settings = {registry_handlers.POLICY_KEY: policy} if policy is not None else None
    identity = TokenIdentityProvider(tokens)
    run(make_app(settings, identity, access_log=access_log, app_settings=app_settings), host, port)


def run(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until interrupted."""

    async def main() -> None:
        # Routes raise it after authenticating the caller; this is for all the others.
        max_body = app.settings["lepton_settings"].max_json_body_bytes
        server = HTTPServer(app, max_body_size=max_body)
        server.listen(port, host)
        where = f"http://{host}:{port}{app.settings['base_url']}"
        db = make_url(app.settings["lepton_settings"].registry_db)
        print(f"lepton registry serving {db!r} on {where}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def new_token() -> str:
    return secrets.token_urlsafe(24)
