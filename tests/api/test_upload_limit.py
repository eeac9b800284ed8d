"""The registry's limits are settings both servers honour: a deployer who caps blob uploads
(``registry_max_upload_bytes``) gets a 413 naming the limit, from the Jupyter server
extension and from ``lepton registry serve``, before the body is read."""

from __future__ import annotations

import asyncio
import json

import blake3
import pytest

from tests.api.test_hostile_bodies import raw_request

LIMIT = 1000


def _blob(size: int) -> tuple[str, bytes]:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    return f"blake3:{blake3.blake3(data).hexdigest()}", data


@pytest.fixture
def jp_server_config(lepton_state):
    return {
        "ServerApp": {"jpserver_extensions": {"lepton_jupyter": True}},
        "LeptonApp": {"state_dir": str(lepton_state), "registry_max_upload_bytes": LIMIT},
    }


@pytest.fixture
def registry_server_env() -> dict[str, str]:
    return {"LEPTON_REGISTRY_MAX_UPLOAD_BYTES": str(LIMIT)}


def _put(port: int, path: str, token: str, data: bytes):
    headers = {"Authorization": f"token {token}", "Content-Length": str(len(data))}
    return raw_request(port, "PUT", path, headers, data)


def _assert_refused(status: int, body: dict, size: int) -> None:
    assert status == 413, body
    message = body["message"]
    assert f"({size} bytes)" in message and f"limit of {LIMIT} bytes" in message
    assert "registry_max_upload_bytes" in message and "LEPTON_REGISTRY_MAX_UPLOAD_BYTES" in message


async def test_jupyter_server_refuses_an_upload_over_the_configured_limit(
    jp_serverapp, jp_fetch, jp_http_port, jp_base_url
):
    # Given c.LeptonApp.registry_max_upload_bytes = 1000
    token = jp_serverapp.identity_provider.token
    path = jp_base_url + "lepton/api/registry/blobs/"
    small_address, small = _blob(LIMIT)
    big_address, big = _blob(LIMIT + 1)
    # When a blob at the limit is uploaded, Then it is stored
    status, body = await asyncio.to_thread(_put, jp_http_port, path + small_address, token, small)
    assert status == 201 and body == {"address": small_address, "size": LIMIT}
    # When one a byte over it is, Then 413 names the size, the limit and the setting
    status, body = await asyncio.to_thread(_put, jp_http_port, path + big_address, token, big)
    _assert_refused(status, body, LIMIT + 1)
    # And nothing of it was stored: the blob is still missing
    response = await jp_fetch(
        "lepton",
        "api",
        "registry",
        "blobs",
        "missing",
        method="POST",
        body=json.dumps({"addresses": [small_address, big_address]}),
    )
    assert json.loads(response.body) == {"missing": [big_address]}


def test_standalone_registry_refuses_an_upload_over_the_configured_limit(registry_server):
    # Given `lepton registry serve` with LEPTON_REGISTRY_MAX_UPLOAD_BYTES=1000
    port = int(registry_server.url.rsplit(":", 1)[1])
    token = registry_server.tokens["alice"]
    small_address, small = _blob(LIMIT)
    big_address, big = _blob(LIMIT + 1)
    status, body = _put(port, f"/lepton/api/registry/blobs/{small_address}", token, small)
    assert status == 201 and body["address"] == small_address
    status, body = _put(port, f"/lepton/api/registry/blobs/{big_address}", token, big)
    _assert_refused(status, body, LIMIT + 1)
