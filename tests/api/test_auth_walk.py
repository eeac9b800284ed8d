"""Every route the extension registers refuses anonymous and unauthorized callers.

The walk reads the live route table, so a handler added later without
``@web.authenticated`` and ``@authorized`` fails here without anyone writing a new test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from lepton_jupyter.handlers import api_routes

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _concrete(pattern: str) -> list[str]:
    """A request path matching the route regex: each capture group becomes 'x'."""
    path = re.sub(r"\((?:\?P<\w+>)?[^)]*\)", "x", pattern).replace("\\", "")
    return [p for p in path.strip("/").split("/") if p and p not in ("?", "$")]


def _implemented(handler: type) -> list[str]:
    return [v for v in VERBS if v.lower() in vars_of_hierarchy(handler)]


def vars_of_hierarchy(handler: type) -> set[str]:
    """Verb methods defined by the handler or a lepton base class, not by tornado."""
    names: set[str] = set()
    for klass in handler.__mro__:
        if klass.__module__.startswith("lepton_jupyter"):
            names.update(vars(klass))
    return names


ROUTES = [
    (pattern, handler, verb) for pattern, handler in api_routes() for verb in _implemented(handler)
]


def test_route_table_is_not_empty():
    assert any(h.__name__ == "StatusHandler" for _, h, _ in ROUTES)


class DenyLepton(Authorizer):
    """Lets the user in, then refuses every lepton resource: @authorized must consult it."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[override]
        return not resource.startswith("lepton")


async def _status_of(jp_fetch, pattern: str, verb: str, **kwargs) -> int:
    body = b"{}" if verb in ("POST", "PUT", "PATCH") else None
    try:
        response = await jp_fetch(
            *_concrete(pattern), method=verb, body=body, allow_nonstandard_methods=True, **kwargs
        )
    except HTTPClientError as e:
        return e.code
    return response.code


@pytest.mark.parametrize(
    ("pattern", "handler", "verb"), ROUTES, ids=[f"{v} {p}" for p, _, v in ROUTES]
)
async def test_anonymous_request_is_refused(jp_fetch, pattern, handler, verb):
    status = await _status_of(jp_fetch, pattern, verb, headers={"Authorization": ""})
    assert status == 403, f"{verb} {pattern} answered {status} without credentials"


@pytest.fixture
def deny_lepton_config(lepton_state: Path) -> dict:
    return {
        "ServerApp": {
            "jpserver_extensions": {"lepton_jupyter": True},
            "authorizer_class": DenyLepton,
        },
        "LeptonApp": {"state_dir": str(lepton_state)},
    }


class TestAuthorization:
    @pytest.fixture
    def jp_server_config(self, deny_lepton_config):
        return deny_lepton_config

    @pytest.mark.parametrize(
        ("pattern", "handler", "verb"), ROUTES, ids=[f"{v} {p}" for p, _, v in ROUTES]
    )
    async def test_unauthorized_user_is_refused(self, jp_fetch, pattern, handler, verb):
        status = await _status_of(jp_fetch, pattern, verb)
        assert status == 403, f"{verb} {pattern} answered {status} when the authorizer denied"
