"""With ``registry_url`` set, the server's registry REST (what the sidebar calls) is the
shared service's: reads and writes go there as the server's owner, answers and errors come
back unchanged, and the forwarding route refuses anonymous and unauthorized callers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tornado.httpclient import HTTPClientError

import lepton_jupyter as lepton
from tests.api.test_auth_walk import DenyLepton
from tests.fixtures.processes import free_port

# Two servers per test: the Jupyter server and the shared registry it forwards to.
pytestmark = pytest.mark.slow

VERBS = (("GET", None), ("POST", b"{}"), ("PUT", b"{}"))


def _server_config(state: Path, registry_url: str, **server: object) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"lepton_jupyter": True}, **server},
        "LeptonApp": {"state_dir": str(state), "registry_url": registry_url},
    }


@pytest.fixture
def jp_server_config(lepton_state, registry_server, monkeypatch):
    # The server's owner is alice: her token is the server's registry token.
    monkeypatch.setenv("LEPTON_REGISTRY_TOKEN", registry_server.tokens["alice"])
    return _server_config(lepton_state, registry_server.url)


async def _fetch(jp_fetch, *path: str, **kwargs) -> tuple[int, dict | list]:
    try:
        response = await jp_fetch(*path, **kwargs)
    except HTTPClientError as e:
        return e.code, json.loads(e.response.body)
    return response.code, json.loads(response.body)


async def test_the_sidebar_sees_and_moves_the_shared_registry(
    jp_fetch, registry_server, monkeypatch, tmp_path
):
    # Given alice published two versions to the shared service from elsewhere
    monkeypatch.setenv("LEPTON_REGISTRY_URL", registry_server.url)
    monkeypatch.setenv("LEPTON_STATE_DIR", str(tmp_path / "elsewhere"))
    lepton.publish("vision/net", torch.nn.Linear(2, 2), alias="prod")
    lepton.publish("vision/net", torch.nn.Linear(2, 2))
    # When her server's sidebar lists models
    status, models = await _fetch(jp_fetch, "lepton", "api", "registry", "models")
    # Then it shows the shared registry's
    assert status == 200
    assert [(m["name"], m["latest"], m["aliases"]) for m in models] == [
        ("vision/net", 2, {"prod": 1})
    ]
    # When the sidebar moves prod
    status, moved = await _fetch(
        jp_fetch,
        "lepton",
        "api",
        "registry",
        "models",
        "vision",
        "net",
        "aliases",
        "prod",
        method="PUT",
        body=json.dumps({"version": 2}),
    )
    # Then the shared service moved it, as alice
    assert status == 200 and moved["version"] == 2
    history = lepton.history("vision/net", "prod")
    assert [(e.version, e.actor) for e in history] == [(1, "alice"), (2, "alice")]
    # And the service's errors come back as they are
    status, error = await _fetch(
        jp_fetch, "lepton", "api", "registry", "resolve", params={"ref": "vision/nett@prod"}
    )
    assert status == 404
    assert error["message"] == "Model 'vision/nett' does not exist. Did you mean 'net'?"


@pytest.mark.parametrize(("verb", "body"), VERBS)
async def test_anonymous_callers_are_refused(jp_fetch, verb, body):
    status, _ = await _fetch(
        jp_fetch, "lepton", "api", "registry", "models", method=verb, body=body,
        headers={"Authorization": ""},
    )  # fmt: skip
    assert status == 403


class TestDenied:
    @pytest.fixture
    def jp_server_config(self, lepton_state, registry_server):
        return _server_config(lepton_state, registry_server.url, authorizer_class=DenyLepton)

    @pytest.mark.parametrize(("verb", "body"), VERBS)
    async def test_unauthorized_callers_are_refused(self, jp_fetch, verb, body):
        status, _ = await _fetch(
            jp_fetch, "lepton", "api", "registry", "models", method=verb, body=body
        )
        assert status == 403


class TestUnreachable:
    @pytest.fixture
    def jp_server_config(self, lepton_state):
        return _server_config(lepton_state, f"http://127.0.0.1:{free_port()}")

    async def test_a_registry_that_is_down_is_a_clear_502(self, jp_fetch):
        status, error = await _fetch(jp_fetch, "lepton", "api", "registry", "models")
        assert status == 502
        assert error["message"].startswith("Cannot reach the registry at http://127.0.0.1:")
