"""Request bodies are read only after the caller is authenticated, and never past the
route's limit: a raw client announces a huge body and sends none of it; the answer must
come at once (before, the server waited to read, and buffered, the whole body)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

HUGE = 64 << 20  # 64 MiB announced, never sent (tornado refuses > 100 MB itself)


def raw_request(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""):
    """One HTTP/1.1 request on a plain socket -> (status, JSON body); a server still
    waiting for the announced body makes this time out. (The in-process Jupyter server
    shares the test's event loop: call this in a thread, with ``jp_fetch`` among the
    test's fixtures, which makes it listen.)"""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if length is None:  # tornado's bare answer to a body it will not read
            return status, None
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, json.loads(rest[:length])


def _token(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


ROUTES = [
    ("POST", "lepton/api/registry/blobs/missing"),
    ("POST", "lepton/api/datasets"),
    ("POST", "lepton/api/registry/models/me/net/versions"),
    ("PUT", "lepton/api/registry/models/me/net/aliases/prod"),
]


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_jupyter_server_refuses_an_anonymous_body_before_reading_it(
    jp_serverapp, jp_fetch, jp_http_port, jp_base_url, method, route
):
    status, body = await asyncio.to_thread(
        raw_request, jp_http_port, method, jp_base_url + route, {"Content-Length": str(HUGE)}
    )
    assert status == 403 and body["message"]


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_jupyter_server_refuses_a_body_over_the_route_limit_before_reading_it(
    jp_serverapp, jp_fetch, jp_http_port, jp_base_url, method, route
):
    headers = {"Content-Length": str(HUGE), "Authorization": f"token {_token(jp_serverapp)}"}
    status, body = await asyncio.to_thread(
        raw_request, jp_http_port, method, jp_base_url + route, headers
    )
    assert status == 413 and "limit" in body["message"]


@pytest.fixture
def jp_server_config(lepton_state):
    return {
        "ServerApp": {"jpserver_extensions": {"lepton_jupyter": True}},
        "LeptonApp": {"state_dir": str(lepton_state), "max_json_body_bytes": 1000},
    }


async def test_the_json_limit_is_a_setting(jp_serverapp, jp_fetch, jp_http_port, jp_base_url):
    # Given c.LeptonApp.max_json_body_bytes = 1000
    headers = {"Authorization": f"token {_token(jp_serverapp)}", "Content-Type": "application/json"}
    path = jp_base_url + "lepton/api/registry/blobs/missing"
    small = json.dumps({"addresses": []}).encode()
    big = json.dumps({"addresses": ["blake3:" + "0" * 64] * 20}).encode()
    # Then a small body is read and answered, a 1.5 KB one is refused with 413
    status, body = await asyncio.to_thread(
        raw_request,
        jp_http_port,
        "POST",
        path,
        {**headers, "Content-Length": str(len(small))},
        small,
    )
    assert status == 200 and body == {"missing": []}
    status, body = await asyncio.to_thread(
        raw_request, jp_http_port, "POST", path, {**headers, "Content-Length": str(len(big))}, big
    )
    assert status == 413 and "1000 bytes" in body["message"]


@pytest.mark.slow
def test_standalone_registry_authenticates_before_reading_and_limits_bodies(registry_server):
    port = int(registry_server.url.rsplit(":", 1)[1])
    path = "/lepton/api/registry/blobs/missing"
    status, body = raw_request(port, "POST", path, {"Content-Length": str(HUGE)})
    assert status == 403 and body["message"]
    headers = {
        "Content-Length": str(HUGE),
        "Authorization": f"token {registry_server.tokens['alice']}",
    }
    status, body = raw_request(port, "POST", path, headers)
    assert status == 413 and "limit" in body["message"]
    # An unknown route reads no large body either (the server-wide limit is the JSON one)
    status, _ = raw_request(port, "POST", "/nowhere", {"Content-Length": str(HUGE)})
    assert status in (400, 404, 413)
