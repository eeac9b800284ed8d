"""``/lepton/api/registry`` in a real Jupyter server: the whole publish/pin/rollback story
over REST, and every bad request's JSON error."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import blake3
import pytest
from tornado.httpclient import HTTPClientError

from lepton_jupyter.registry.blobs import BlobStore, StatCache
from lepton_jupyter.registry.service import Principal, RegistryService
from lepton_jupyter.registry.store import SqlRegistryStore
from tests.fixtures.registry import one_file_request


def address(data: bytes) -> str:
    return "blake3:" + blake3.blake3(data).hexdigest()


async def call(jp_fetch, method: str, *path: str, body=None, **kwargs):
    if isinstance(body, dict):
        body = json.dumps(body)
    response = await jp_fetch(
        "lepton",
        "api",
        "registry",
        *path,
        method=method,
        body=body,
        allow_nonstandard_methods=True,
        **kwargs,
    )
    return response.code, (json.loads(response.body) if response.body else None), response


async def error(jp_fetch, method: str, *path: str, body=None, **kwargs) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await call(jp_fetch, method, *path, body=body, **kwargs)
    return info.value.code, json.loads(info.value.response.body)["message"]


async def publish(jp_fetch, name: str, data: bytes, alias: str | None = None) -> dict:
    code, stored, _ = await call(jp_fetch, "PUT", "blobs", address(data), body=data)
    assert code == 201 and stored == {"address": address(data), "size": len(data)}
    body = {
        "files": [{"path": "model.pt", "digest": address(data), "size": len(data)}],
        "kind": "file",
        "entry": "model.pt",
        "metrics": {"acc": 0.5},
        "alias": alias,
    }
    code, version, response = await call(
        jp_fetch, "POST", "models", *name.split("/"), "versions", body=body
    )
    assert code == 201
    assert response.headers["Location"].endswith(
        f"/lepton/api/registry/models/{name}/versions/{version['version']}"
    )
    return version


async def test_publish_pin_download_and_roll_back_over_rest(jp_fetch):
    # Given two versions uploaded over REST (blobs first, then metadata)
    code, missing, _ = await call(
        jp_fetch, "POST", "blobs", "missing", body={"addresses": [address(b"one")]}
    )
    assert missing == {"missing": [address(b"one")]}
    v1 = await publish(jp_fetch, "vision/resnet", b"one", alias="prod")
    v2 = await publish(jp_fetch, "vision/resnet", b"two")
    assert (v1["version"], v1["aliases"], v2["version"]) == (1, ["prod"], 2)
    # When prod is moved to 2 and then rolled back
    code, moved, _ = await call(
        jp_fetch, "PUT", "models", "vision", "resnet", "aliases", "prod", body={"version": 2}
    )
    assert moved["version"] == 2
    code, back, _ = await call(
        jp_fetch, "POST", "models", "vision", "resnet", "aliases", "prod", "rollback", body=b""
    )
    # Then prod resolves to 1 again and its history shows both moves
    assert back == {"name": "vision/resnet", "alias": "prod", "version": 1, "digest": v1["digest"]}
    _, resolved, _ = await call(jp_fetch, "GET", "resolve", params={"ref": "vision/resnet@prod"})
    assert resolved["version"] == 1
    _, history, _ = await call(
        jp_fetch, "GET", "models", "vision", "resnet", "aliases", "prod", "history"
    )
    assert [(e["action"], e["version"]) for e in history] == [
        ("set", 1),
        ("set", 2),
        ("rollback", 1),
    ]
    # And the file downloads with its digest, models and versions list, lineage answers
    response = await jp_fetch(
        "lepton",
        "api",
        "registry",
        "models",
        "vision",
        "resnet",
        "versions",
        "1",
        "files",
        "model.pt",
    )
    assert response.body == b"one"
    assert response.headers["X-Lepton-Digest"] == address(b"one")
    _, models, _ = await call(jp_fetch, "GET", "models")
    assert [(m["name"], m["latest"], m["aliases"]) for m in models] == [
        ("vision/resnet", 2, {"prod": 1})
    ]
    _, versions, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "versions")
    assert [v["version"] for v in versions] == [1, 2]
    _, page, _ = await call(
        jp_fetch, "GET", "models", "vision", "resnet", "versions", params={"limit": "1"}
    )
    assert [v["version"] for v in page] == [2]
    _, one, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "versions", "2")
    assert one["digest"] == v2["digest"]
    code, _, _ = await call(
        jp_fetch,
        "POST",
        "models",
        "vision",
        "resnet",
        "versions",
        "1",
        "loads",
        body={"notebook": "serve.ipynb"},
    )
    assert code == 201
    _, lineage, _ = await call(jp_fetch, "GET", "lineage", params={"ref": "vision/resnet:1"})
    assert lineage["metrics"] == {"acc": 0.5}
    assert [x["notebook"] for x in lineage["loaded_by"]] == ["serve.ipynb"]
    _, aliases, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "aliases")
    assert [(a["alias"], a["version"]) for a in aliases] == [("prod", 1)]


async def test_grants_over_rest(jp_fetch):
    await publish(jp_fetch, "vision/resnet", b"one")
    code, grant, response = await call(
        jp_fetch,
        "POST",
        "namespaces",
        "vision",
        "grants",
        body={"role": "reader", "group": "research"},
    )
    assert code == 201 and grant["group"] == "research" and grant["role"] == "reader"
    assert response.headers["Location"].endswith("/lepton/api/registry/namespaces/vision")
    _, grants, _ = await call(jp_fetch, "GET", "namespaces", "vision", "grants")
    assert {(g["user"], g["group"], g["role"]) for g in grants} >= {(None, "research", "reader")}
    _, namespace, _ = await call(jp_fetch, "GET", "namespaces", "vision")
    assert namespace["role"] == "admin"


async def test_bad_requests_get_clear_json_errors(jp_fetch):
    await publish(jp_fetch, "vision/resnet", b"one", alias="prod")
    cases = [
        (("GET", "models", "Vision", "resnet", "versions"), 400, "Invalid namespace name"),
        (("GET", "models", "vision", "resnt", "versions"), 404, "Did you mean 'resnet'"),
        (("GET", "models", "vision", "resnet", "aliases", "prdo"), 404, "Did you mean 'prod'"),
        (("GET", "models", "vision", "resnet", "versions", "7"), 404, "has no version 7"),
        (("GET", "models", "vision", "resnet", "versions", "x"), 400, "Invalid version 'x'"),
        (
            ("GET", "models", "vision", "resnet", "versions", "1", "files", "nope"),
            404,
            "has no file 'nope'",
        ),
        (("GET", "models", "vision", "resnet", "versions?limit=x"), 400, "limit"),
        (("GET", "models", "vision", "resnet", "versions?limit=5000"), 400, "limit"),
        (("GET", "resolve"), 400, "ref: Field required"),
        (("GET", "resolve?ref=vision/resnet:zero"), 400, "must be a positive integer"),
        (("GET", "models", "vision", "resnet", "aliases", "1x"), 400, "Invalid alias '1x'"),
        (("POST", "blobs", "missing"), 400, "addresses: Field required"),
        (("POST", "namespaces", "vision", "grants"), 400, "role: Field required"),
    ]
    for (method, *path), status, message in cases:
        if "?" in path[-1]:
            path[-1], query = path[-1].split("?")
            code, text = await error(
                jp_fetch,
                method,
                *path,
                params=dict([query.split("=")]),
                body=b"{}" if method != "GET" else None,
            )
        else:
            code, text = await error(
                jp_fetch, method, *path, body=b"{}" if method != "GET" else None
            )
        assert (code, message in text) == (status, True), (path, code, text)
    code, text = await error(
        jp_fetch, "PUT", "models", "vision", "resnet", "aliases", "prod", body={"version": 9}
    )
    assert (code, text) == (404, "vision/resnet has no version 9; it has only version 1.")
    code, text = await error(
        jp_fetch, "PUT", "models", "vision", "resnet", "aliases", "prod", body={"version": "x"}
    )
    assert code == 400 and "version" in text
    code, text = await error(
        jp_fetch, "PUT", "models", "vision", "resnet", "aliases", "prod", body=b"not json"
    )
    assert code == 400 and "not valid JSON" in text
    code, text = await error(
        jp_fetch, "POST", "namespaces", "vision", "grants", body={"role": "owner", "user": "x"}
    )
    assert code == 400 and "role" in text
    # An upload whose bytes do not match its address is refused and not stored
    code, text = await error(jp_fetch, "PUT", "blobs", address(b"claimed"), body=b"actual")
    assert code == 409 and "does not match its address" in text
    code, text = await error(jp_fetch, "PUT", "blobs", "md5:abc", body=b"x")
    assert code == 400 and "not a blob address" in text
    # A version naming files never uploaded is refused
    body = {
        "files": [{"path": "a", "digest": address(b"never"), "size": 5}],
        "kind": "file",
        "entry": "a",
    }
    code, text = await error(jp_fetch, "POST", "models", "vision", "resnet", "versions", body=body)
    assert code == 400 and "not uploaded first" in text


async def test_no_role_is_404_and_a_small_role_is_403_naming_the_role(jp_fetch, lepton_state: Path):
    # Given a namespace 'vision' that alice (not the server's user) administers
    store = SqlRegistryStore(f"sqlite:///{lepton_state / 'registry.db'}")
    blobs = BlobStore(str(lepton_state / "blobs"), StatCache(lepton_state / "alice-stat.db"))
    alice = RegistryService(store, blobs)
    (lepton_state / "a.bin").write_bytes(b"alice's")
    alice.publish(
        Principal("alice"),
        "vision/resnet",
        one_file_request(alice, Principal("alice"), lepton_state / "a.bin"),
    )
    # Then to the server's user vision does not exist (tests/api/test_registry_withdraw_api.py)
    code, text = await error(jp_fetch, "GET", "models", "vision", "resnet", "versions")
    assert code == 404 and text == "Namespace 'vision' does not exist or you have no role there."
    # Until alice makes them a reader: then reading works, publishing names the writer role
    # (a single-user server's token holder acts as its OS user, like its kernels)
    alice.grant(Principal("alice"), "vision", "reader", user=getpass.getuser())
    code, versions, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "versions")
    assert code == 200 and len(versions) == 1
    await call(jp_fetch, "PUT", "blobs", address(b"mine"), body=b"mine")
    body = {
        "files": [{"path": "m", "digest": address(b"mine"), "size": 4}],
        "kind": "file",
        "entry": "m",
    }
    code, text = await error(jp_fetch, "POST", "models", "vision", "resnet", "versions", body=body)
    assert (code, text) == (403, "publishing to 'vision' needs the writer role; you are reader.")
    code, text = await error(
        jp_fetch, "PUT", "models", "vision", "resnet", "aliases", "prod", body={"version": 1}
    )
    assert code == 403 and "the protected alias 'prod' in 'vision' needs the maintainer" in text
    store.dispose()
