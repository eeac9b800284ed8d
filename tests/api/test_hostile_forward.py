"""The forwarder to a shared registry confines what it forwards under the registry's
prefix: a '%2e%2e' segment (decoded to '..' before the handler sees it) is refused, not
sent on with this server's token."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.test_hostile_bodies import raw_request
from tests.api.test_registry_forward import jp_server_config  # noqa: F401  (the forwarder)


@pytest.mark.parametrize(
    "path", ["models/%2e%2e/%2e%2e/%2e%2e/hub/api/users", "models/x/%2E/versions", ".."]
)
async def test_dot_segments_are_not_forwarded(
    jp_serverapp, jp_fetch, jp_http_port, jp_base_url, path
):
    token = jp_serverapp.identity_provider.token
    status, body = await asyncio.to_thread(
        raw_request,
        jp_http_port,
        "GET",
        f"{jp_base_url}lepton/api/registry/{path}",
        {"Authorization": f"token {token}"},
    )
    assert status == 400 and "'..'" in body["message"]
