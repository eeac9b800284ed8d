"""The server extension answers on /lepton/api/status, and only to authenticated users."""

from __future__ import annotations

import getpass
import json

import pytest
from tornado.httpclient import HTTPClientError

import lepton_jupyter


async def test_status_reports_version_user_and_services(jp_fetch):
    # Given a running Jupyter server with lepton enabled
    # When an authenticated client asks for the status
    response = await jp_fetch("lepton", "api", "status")
    # Then it gets the package version, its user name and all four services
    assert response.code == 200
    body = json.loads(response.body)
    assert body["version"] == lepton_jupyter.__version__
    assert body["user"]
    assert set(body["services"]) == {"datasets", "jobs", "registry", "runs"}
    assert all("detail" in s and "configured" in s for s in body["services"].values())


async def test_status_refuses_anonymous_requests(jp_fetch):
    # An empty Authorization header replaces pytest-jupyter's token
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("lepton", "api", "status", headers={"Authorization": ""})
    assert info.value.code == 403


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_unknown_route_is_json_404(jp_fetch, method):
    """Mutation check: without the extension's fallback route, jupyter_server answers with
    its HTML 404 page and this test goes red on the JSON parse (the old test checked only
    the status code, so it passed on that HTML)."""
    # Given a client that calls a path under the API that does not exist
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "lepton", "api", "no-such-thing", method=method, body=None if method != "POST" else ""
        )
    # Then it gets a 404 in the API's JSON error shape, naming the path
    response = info.value.response
    assert info.value.code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    assert body["message"] == f"No lepton API route {method} /lepton/api/no-such-thing."


async def test_an_unknown_route_refuses_anonymous_callers_first(jp_fetch):
    # The fallback must not tell an anonymous caller which paths exist
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("lepton", "api", "no-such-thing", headers={"Authorization": ""})
    assert info.value.code == 403


async def test_status_names_the_protected_aliases(jp_fetch):
    # Given a server with the default settings (prod is protected)
    # When the sidebar asks for the status
    response = await jp_fetch("lepton", "api", "status")
    # Then it learns which aliases need the maintainer role, to explain disabled buttons
    assert json.loads(response.body)["protected_aliases"] == ["prod"]


async def test_status_names_who_lepton_acts_as_not_a_random_token_user(jp_fetch):
    # Given a single-user server opened with its token (an anonymous identity per client)
    # When the sidebar asks twice
    first = json.loads((await jp_fetch("lepton", "api", "status")).body)["user"]
    again = json.loads((await jp_fetch("lepton", "api", "status")).body)["user"]
    # Then both name the OS user, the identity the registry records for its actions
    assert first == again == getpass.getuser()


@pytest.fixture
def no_protected_aliases(jp_server_config):
    jp_server_config["LeptonApp"]["protected_aliases"] = []
    return jp_server_config


async def test_protected_aliases_set_empty_protects_nothing(
    no_protected_aliases, jp_fetch, jp_web_app
):
    """Mutation check: with settings treating [] as unset, `prod` came back protected."""
    # Given a server configured with c.LeptonApp.protected_aliases = []
    # When the sidebar asks for the status
    response = await jp_fetch("lepton", "api", "status")
    # Then no alias is protected: not in what the sidebar shows, not in the server's registry
    assert json.loads(response.body)["protected_aliases"] == []
    from lepton_jupyter.handlers.registry import registry_service

    assert not registry_service(jp_web_app.settings).protected_aliases
    # And its kernels, which inherit the server's variables, see the same empty list
    from lepton_jupyter.settings import load_settings

    assert load_settings().protected_aliases == []


@pytest.fixture
def with_data_registries(jp_server_config):
    jp_server_config["LeptonApp"]["data_registries"] = ["/srv/data-registry", "/b"]
    return jp_server_config


async def test_status_names_the_configured_data_registries(with_data_registries, jp_fetch):
    # Given a server configured with data registries
    # When the sidebar asks for the status
    response = await jp_fetch("lepton", "api", "status")
    # Then it learns them, so the Datasets panel starts on the first
    assert json.loads(response.body)["data_registries"] == ["/srv/data-registry", "/b"]
