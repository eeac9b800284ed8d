"""``lepton registry serve`` as a JupyterHub service: the hub says who a request is.

A managed service (an entry of ``c.JupyterHub.services`` with a ``command``) is started by
the hub with ``JUPYTERHUB_SERVICE_NAME``, ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_SERVICE_URL``
and ``JUPYTERHUB_SERVICE_PREFIX`` in its environment; ``lepton registry serve`` sees them and
serves the registry under the prefix, on the URL's host and port.

Identity is :class:`jupyterhub.services.auth.HubOAuth`'s: an API token in the
``Authorization`` header (kernels and single-user servers send their
``JUPYTERHUB_API_TOKEN``) or the cookie a browser gets from the OAuth login at the service's
root. A token must carry ``access:services!service=<name>``; the hub user's groups are the
registry's groups, and :class:`~lepton_jupyter.registry.policy.TeamPolicy` decides who may
create namespaces.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any
from urllib.parse import urlparse

from jupyter_server.auth.identity import IdentityProvider, User
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web
from traitlets import Instance, default

from ..errors import Invalid
from ..registry.policy import TeamPolicy
from ..settings import Settings
from . import API_PREFIX
from .registry import POLICY_KEY
from .registry_server import RegistryUser, make_app, run

#: Environment a managed JupyterHub service is started with (the hub sets all of them).
HUB_SERVICE_ENV = (
    "JUPYTERHUB_SERVICE_NAME",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_SERVICE_PREFIX",
)


def in_hub_service() -> bool:
    """Whether this process was started by a hub as a service (not as a user's server)."""
    return bool(os.environ.get("JUPYTERHUB_SERVICE_NAME"))


class HubIdentityProvider(IdentityProvider):
    """The hub user a request's token (or OAuth cookie) belongs to, with their groups.

    A user the hub knows but whose token lacks this service's access scope is nobody here:
    the handlers then answer 403, as for an anonymous request.
    """

    hub_auth = Instance(HubOAuth)

    @default("hub_auth")
    def _default_hub_auth(self) -> HubOAuth:
        return HubOAuth(parent=self)  # configured from the JUPYTERHUB_* environment

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        model = await self.hub_auth.get_user(handler, sync=False)
        if not model or model.get("kind", "user") != "user":
            return None
        if not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            self.log.warning(
                "%s has no %s: refused", model["name"], " or ".join(self.hub_auth.access_scopes)
            )
            return None
        return RegistryUser(username=model["name"], groups=tuple(sorted(model.get("groups", []))))

    @property
    def auth_enabled(self) -> bool:
        return True

    def validate_security(self, app: Any, ssl_options: dict[str, Any] | None = None) -> None:
        """The hub does the login; there is no token or password of our own to check."""


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """Finishes a browser's OAuth login with the hub: sets the cookie the API accepts."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth


class WhoAmIHandler(HubOAuthenticated, web.RequestHandler):
    """The service's root, for browsers: logs in through the hub (OAuth), then says who.

    Later requests of the browser to the REST API carry the cookie this sets.
    """

    def initialize(self, hub_auth: HubOAuth, api_url: str) -> None:
        self.hub_auth = hub_auth
        self.api_url = api_url

    @web.authenticated
    def get(self) -> None:
        user = self.get_current_user()
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps({"user": user["name"], "groups": user["groups"], "api": self.api_url})
        )


def hub_app(
    settings: Settings, policy: TeamPolicy, access_log: bool = False
) -> tuple[web.Application, str, int]:
    """The registry app of a hub service, and the host and port the hub expects it on."""
    missing = [name for name in HUB_SERVICE_ENV if not os.environ.get(name)]
    if missing:
        raise Invalid(
            "A JupyterHub service needs these variables, which the hub sets for a managed "
            f"service (c.JupyterHub.services with a command): {', '.join(missing)} missing."
        )
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    identity = HubIdentityProvider()
    callback = urlparse(identity.hub_auth.oauth_redirect_uri).path
    api_url = url_path_join(prefix, API_PREFIX, "registry")
    app = make_app(
        settings,
        identity,
        access_log=access_log,
        base_url=prefix,
        extra_routes=[
            (callback, OAuthCallbackHandler, {"hub_auth": identity.hub_auth}),
            (prefix, WhoAmIHandler, {"hub_auth": identity.hub_auth, "api_url": api_url}),
        ],
        # Cookies (the OAuth login's) are signed with a key of this process; requests
        # authenticated by cookie must also pass the XSRF check, token ones need not.
        app_settings={
            POLICY_KEY: policy,
            "cookie_secret": secrets.token_bytes(32),
            "disable_check_xsrf": False,
        },
    )
    return app, url.hostname or "127.0.0.1", url.port or 80


def serve_hub(settings: Settings, policy: TeamPolicy, access_log: bool = False) -> None:
    """Run as the hub's service until the hub stops it."""
    app, host, port = hub_app(settings, policy, access_log=access_log)
    run(app, host, port)
