"""REST for datasets on a real Jupyter server; the workspace is the server's root folder."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from lepton_jupyter import pins
from tests.fixtures.datasets import IMAGES_PATH

POINTS = "datasets/points"


async def _call(jp_fetch, *path, method="GET", body=None, params=None):
    kwargs = {"method": method}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    if params:
        kwargs["params"] = params
    return await jp_fetch("lepton", "api", "datasets", *path, **kwargs)


async def _error(jp_fetch, *path, **kwargs) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await _call(jp_fetch, *path, **kwargs)
    body = json.loads(info.value.response.body)
    return info.value.code, body["message"]


@pytest.mark.slow
async def test_browse_attach_list_update_detach(jp_fetch, jp_root_dir, data_registry):
    # Given a running server; When the sidebar browses the registry
    response = await _call(jp_fetch, "browse", params={"url": data_registry.url, "rev": "v3"})
    listing = json.loads(response.body)
    # Then it gets the datasets and versions
    assert {d["path"] for d in listing["datasets"]} == {POINTS, IMAGES_PATH}
    assert [v["name"] for v in listing["versions"] if v["kind"] == "tag"] == ["v3", "v2", "v1"]

    # When it attaches points at v1 into the server's root folder
    response = await _call(
        jp_fetch, method="POST", body={"url": data_registry.url, "path": POINTS, "rev": "v1"}
    )
    # Then the answer is 201 with a Location naming the attached dataset
    assert response.code == 201
    created = json.loads(response.body)
    assert response.headers["Location"].endswith("/lepton/api/datasets/points")
    assert created["commit"] == data_registry.tags["v1"]
    assert (jp_root_dir / "points.dvc").exists() and (jp_root_dir / "points").is_dir()
    item = json.loads((await _call(jp_fetch, "points")).body)
    assert item["hash"] == created["hash"]

    # And the list shows it, flagged with the newer upstream tag
    (listed,) = json.loads((await _call(jp_fetch)).body)
    assert listed["to"] == "points" and listed["newer_tag"] == "v3"

    # When it updates to v2, then detaches
    response = await _call(jp_fetch, "update", method="POST", body={"to": "points", "rev": "v2"})
    assert json.loads(response.body)["commit"] == data_registry.tags["v2"]
    response = await _call(jp_fetch, "points", method="DELETE")
    assert json.loads(response.body)["to"] == "points"
    assert not (jp_root_dir / "points").exists() and not (jp_root_dir / "points.dvc").exists()
    assert json.loads((await _call(jp_fetch)).body) == []
    # And no attach is running any more
    assert json.loads((await _call(jp_fetch, "progress")).body) == []
    # And the server's own run ledger holds nothing: a sidebar attach belongs to no kernel's run
    # (only the Python API, in the kernel that calls it, records what it resolved)
    assert pins.ledger().entries() == []


async def test_bad_input_gets_json_4xx_naming_the_problem(
    jp_fetch, jp_root_dir, data_registry, tmp_path
):
    url = data_registry.url
    # Unknown registry
    code, message = await _error(jp_fetch, "browse", params={"url": str(tmp_path / "nope")})
    assert code == 404 and "not found or unreachable" in message
    # Path not in the registry, with a suggestion
    code, message = await _error(
        jp_fetch, method="POST", body={"url": url, "path": "datasets/pionts"}
    )
    assert code == 404 and "Did you mean 'datasets/points'" in message
    # Unknown rev, listing the tags
    code, message = await _error(
        jp_fetch, method="POST", body={"url": url, "path": POINTS, "rev": "v9"}
    )
    assert code == 404 and "Tags: v1, v2, v3" in message
    # Destinations outside the workspace
    for to in ("/etc/points", "../points"):
        code, message = await _error(
            jp_fetch, method="POST", body={"url": url, "path": POINTS, "to": to}
        )
        assert code == 400 and "Destination" in message
    # Destination holding something else (an empty folder would be attached into)
    (jp_root_dir / "points").mkdir()
    (jp_root_dir / "points" / "mine.txt").write_text("my notes")
    code, message = await _error(jp_fetch, method="POST", body={"url": url, "path": POINTS})
    assert code == 409 and "already exists" in message
    # A body missing a field, and detaching what is not attached
    code, message = await _error(jp_fetch, method="POST", body={"url": url})
    assert code == 400 and "path" in message
    code, message = await _error(jp_fetch, "nothing", method="DELETE")
    assert code == 404 and "No dataset is attached" in message
