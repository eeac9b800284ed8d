"""Who is asking the registry, and how this process proves who it is to a registry service.

A kernel, the Jupyter server and ``lepton registry serve`` all reduce a caller to a
:class:`Principal`; the service checks roles against it on every call.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user and the groups (teams, organisations) they belong to."""

    user: str
    groups: frozenset[str] = field(default_factory=frozenset)


def current_principal() -> Principal:
    """Who this process acts as: the hub user of a JupyterHub single-user server (whose
    servers and kernels have ``JUPYTERHUB_USER``), else the OS user. A hub service checks
    the token, not this name; it names the namespace of a bare model name."""
    return Principal(user=os.environ.get("JUPYTERHUB_USER") or getpass.getuser())


def principal_of(user: Any, identity_provider: Any = None) -> Principal:
    """A web request's caller as the service sees it; a JupyterHub user model supplies the
    groups.

    A plain single-user Jupyter server (password or token login) names each token holder
    with a random anonymous user; they are all the server's owner, so they act as the OS
    user, the same identity the kernels of that server use on the direct store.
    """
    from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider

    if type(identity_provider) in (IdentityProvider, PasswordIdentityProvider):
        return current_principal()
    name = getattr(user, "username", None) or getattr(user, "name", None) or str(user)
    hub_user = getattr(user, "hub_user", None) or {}
    groups = getattr(user, "groups", None) or hub_user.get("groups") or ()
    return Principal(user=name, groups=frozenset(groups))


def service_auth(settings: Settings) -> dict[str, str]:
    """The header a registry service authenticates us by: ``LEPTON_REGISTRY_TOKEN``, else
    the ``JUPYTERHUB_API_TOKEN`` a hub gives every single-user server and its kernels."""
    token = settings.registry_token or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    return {"Authorization": f"token {token}"} if token else {}
