"""``POST /lepton/api/registry/fsck``: the blob store checked, and collected, over REST, by
registry admins only; on both servers that serve the registry (a Jupyter server's and
``lepton registry serve``'s app), each a real tornado server."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import time
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer

from lepton_jupyter.errors import Forbidden
from lepton_jupyter.handlers.registry import POLICY_KEY, SERVICE_KEY
from lepton_jupyter.handlers.registry_server import TokenIdentityProvider, make_app
from lepton_jupyter.registry.blobs import BlobStore
from lepton_jupyter.registry.client import HttpClient
from lepton_jupyter.registry.identity import Principal
from lepton_jupyter.registry.policy import TeamPolicy
from lepton_jupyter.settings import load_settings
from tests.api.test_registry_api import call, error, publish
from tests.fixtures.registry import free_port

ME = getpass.getuser()
TWO_HOURS = 7200


def _orphan(blobs: BlobStore, source: Path, content: bytes, age: float = 0) -> str:
    """A blob no version names (an upload whose publish never came), ``age`` seconds old."""
    source.write_bytes(content)
    address, _ = blobs.put_file(source)
    if age:
        stamp = time.time() - age
        os.utime(blobs.key(address), (stamp, stamp))
    return address


async def test_fsck_is_for_registry_admins_only(jp_fetch, lepton_state: Path):
    # Given the single-user server's registry (no registry admins configured) with an
    # old orphan
    await publish(jp_fetch, f"{ME}/net", b"kept")
    blobs = BlobStore(str(lepton_state / "blobs"))
    old = _orphan(blobs, lepton_state / "old.bin", b"old", age=TWO_HOURS)
    # When its owner asks for a gc, then for a plain check
    for body in ({"gc": True, "dry_run": False}, {}):
        code, text = await error(jp_fetch, "POST", "fsck", body=body)
        # Then both are refused naming the role, and nothing is removed
        assert code == 403 and "needs the registry admin role" in text, text
        assert f"{ME} is not a registry admin" in text and "lepton registry fsck" in text
    assert blobs.exists(old)


async def test_an_admin_checks_then_collects_over_rest(jp_fetch, jp_serverapp, lepton_state):
    # Given the server's registry under a policy naming its owner a registry admin
    settings = jp_serverapp.web_app.settings
    assert SERVICE_KEY not in settings  # the service is opened, with it, on first use
    settings[POLICY_KEY] = TeamPolicy.of(admins=[ME])
    # And a published version, an orphan past the grace (an hour) and a young one
    await publish(jp_fetch, f"{ME}/net", b"kept")
    blobs = BlobStore(str(lepton_state / "blobs"))
    old = _orphan(blobs, lepton_state / "old.bin", b"old", age=TWO_HOURS)
    young = _orphan(blobs, lepton_state / "young.bin", b"young")
    # When the admin asks for a gc without saying dry_run
    code, plan, _ = await call(jp_fetch, "POST", "fsck", body={"gc": True})
    # Then it is a dry run: it lists what would go and removes nothing
    assert code == 200 and plan["dry_run"] is True and plan["removed"] == []
    assert plan["orphans"] == sorted([old, young]) and plan["reclaimable"] == [old]
    assert plan["blobs"] == 3 and plan["referenced"] == 1 and plan["verified"] is False
    assert blobs.exists(old) and blobs.exists(young)
    # When the gc is asked for for real
    code, done, _ = await call(jp_fetch, "POST", "fsck", body={"gc": True, "dry_run": False})
    # Then only the old orphan goes; the young one waits for a later gc
    assert code == 200 and done["dry_run"] is False and done["removed"] == [old]
    assert done["orphans"] == [young] and done["reclaimable"] == []
    assert not blobs.exists(old) and blobs.exists(young)
    # And the published version still downloads; a check that re-hashes finds it whole
    file = ("models", ME, "net", "versions", "1", "files", "model.pt")
    assert (await jp_fetch("lepton", "api", "registry", *file)).body == b"kept"
    code, check, _ = await call(jp_fetch, "POST", "fsck", body={"verify": True})
    assert check["verified"] is True and check["mismatches"] == [] and check["missing"] == []


async def test_a_bad_fsck_body_is_a_400_naming_the_field(jp_fetch):
    code, text = await error(jp_fetch, "POST", "fsck", body={"gc": "sometimes"})
    assert code == 400 and "gc" in text
    code, text = await error(jp_fetch, "POST", "fsck", body="[1, 2]")
    assert code == 400


@pytest.fixture
def registry_app(tmp_path: Path, jp_asyncio_loop):
    """``lepton registry serve``'s app (tokens for root, a registry admin, and alice), served
    on a free port of the tests' event loop."""
    settings = load_settings(state_dir=tmp_path / "state")
    tokens = {"root-token": Principal("root"), "alice-token": Principal("alice")}
    app = make_app(
        settings,
        TokenIdentityProvider(tokens),
        app_settings={POLICY_KEY: TeamPolicy.of(admins=["root"])},
    )
    port = free_port()

    async def start() -> HTTPServer:
        server = HTTPServer(app)
        server.listen(port, "127.0.0.1")
        return server

    server = jp_asyncio_loop.run_until_complete(start())
    yield f"http://127.0.0.1:{port}", settings
    server.stop()
    jp_asyncio_loop.run_until_complete(server.close_all_connections())
    app.settings[SERVICE_KEY].store.dispose()


async def _post_fsck(base: str, token: str, body: dict) -> tuple[int, dict]:
    try:
        response = await AsyncHTTPClient().fetch(
            f"{base}/lepton/api/registry/fsck",
            method="POST",
            body=json.dumps(body),
            headers={"Authorization": f"token {token}"},
        )
    except HTTPClientError as e:
        assert e.response is not None
        return e.code, json.loads(e.response.body)
    return response.code, json.loads(response.body)


async def test_the_standalone_registry_serves_fsck_to_its_admins(registry_app, tmp_path):
    base, settings = registry_app
    blobs = BlobStore(settings.registry_storage)
    old = _orphan(blobs, tmp_path / "old.bin", b"old", age=TWO_HOURS)
    # A user who is no registry admin is refused, naming the role; anonymous too
    code, body = await _post_fsck(base, "alice-token", {"gc": True, "dry_run": False})
    assert code == 403 and "registry admin role" in body["message"]
    code, body = await _post_fsck(base, "no-such-token", {})
    assert code == 403 and "message" in body
    assert blobs.exists(old)
    # The admin's dry run lists the orphan; the real gc removes it
    code, plan = await _post_fsck(base, "root-token", {"gc": True})
    assert code == 200 and plan["reclaimable"] == [old] and plan["removed"] == []
    code, done = await _post_fsck(base, "root-token", {"gc": True, "dry_run": False})
    assert code == 200 and done["removed"] == [old] and not blobs.exists(old)


async def test_the_http_client_runs_fsck_as_its_token(registry_app, tmp_path):
    # The registry client mirrors the route: the admin's token gets the report, another
    # user's the Forbidden naming the role
    base, _ = registry_app

    def client(token: str, user: str) -> HttpClient:
        settings = load_settings(state_dir=tmp_path / user, registry_url=base, registry_token=token)
        return HttpClient(settings, Principal(user))

    root, alice = client("root-token", "root"), client("alice-token", "alice")
    try:
        report = await asyncio.to_thread(root.fsck, gc=True)
        assert report.dry_run and report.orphans == [] and report.removed == []
        with pytest.raises(Forbidden, match="registry admin role"):
            await asyncio.to_thread(alice.fsck)
    finally:
        for each in (root, alice):
            each.service.rest.http.close()
