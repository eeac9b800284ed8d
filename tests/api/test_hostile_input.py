"""Bad bytes over REST: every one is a JSON 400 naming the problem, never a 500, and
nothing is committed that could not be served back."""

from __future__ import annotations

import getpass
import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.api.test_registry_api import address

ME = getpass.getuser()
DATA = b"weights"


async def _status(jp_fetch, method: str, *path: str, body: bytes | str | None = None, params=None):
    try:
        response = await jp_fetch(
            "lepton",
            "api",
            *path,
            method=method,
            body=body,
            params=params,
            allow_nonstandard_methods=True,
        )
    except HTTPClientError as e:
        payload = json.loads(e.response.body)
        assert payload["message"], payload
        return e.code, payload["message"]
    return response.code, json.loads(response.body or b"null")


def _publish_body(**overrides) -> str:
    body = {
        "files": [{"path": "model.pt", "digest": address(DATA), "size": len(DATA)}],
        "kind": "file",
        "entry": "model.pt",
        **overrides,
    }
    return json.dumps(body)


JSON_ROUTES = [
    ("POST", "registry", "blobs", "missing"),
    ("POST", "registry", "models", ME, "net", "versions"),
    ("PUT", "registry", "models", ME, "net", "aliases", "staging"),
    ("POST", "registry", "namespaces", ME, "grants"),
    ("POST", "datasets"),
    ("POST", "datasets", "update"),
    ("POST", "runs", "x", "rerun"),
]


@pytest.mark.parametrize("route", JSON_ROUTES, ids=lambda r: "/".join(r[1:]))
@pytest.mark.parametrize(
    "body",
    [b'{"a": "\xff\xfe"}', b"[" * 5000 + b"]" * 5000, b'{"description": "\\ud800"}'],
    ids=["not-utf8", "5000-deep", "lone-surrogate"],
)
async def test_undecodable_bodies_are_400(jp_fetch, route, body):
    code, message = await _status(jp_fetch, route[0], *route[1:], body=body)
    assert code == 400, message
    assert any(w in message for w in ("UTF-8", "deeply", "surrogate")), message


@pytest.mark.parametrize("number", ["²", "\u0661", "9223372036854775808", "2147483648", "0"])
async def test_versions_that_are_not_plain_positive_integers_are_400(jp_fetch, number):
    route = ("registry", "models", ME, "net", "versions", number)
    code, message = await _status(jp_fetch, "GET", *route)
    assert code == 400 and "positive integers" in message
    params = {"ref": f"{ME}/net:{number}"}
    code, message = await _status(jp_fetch, "GET", "registry", "resolve", params=params)
    assert code == 400, message


async def test_alias_to_a_huge_version_is_400(jp_fetch):
    body = json.dumps({"version": 2**63})
    code, message = await _status(
        jp_fetch, "PUT", "registry", "models", ME, "net", "aliases", "staging", body=body
    )
    assert code == 400 and "version" in message


def _file(path: str, size: int = len(DATA)) -> dict:
    return {"path": path, "digest": address(DATA), "size": size}


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


BAD_PUBLISHES = {
    "deep-lineage": ({"lineage": _nested(40)}, "nests deeper"),
    "deep-params": (
        {"params": {"p": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}},
        "nests deeper",
    ),
    "long-description": ({"description": "d" * 20_000}, "description"),
    "nul-path": ({"files": [_file("a\x00b")], "entry": "a\x00b"}, "NUL"),
    "long-path": ({"files": [_file("p" * 5000)], "entry": "p" * 5000}, "1024 bytes"),
    "a-and-a/b": (
        {"kind": "directory", "entry": "", "files": [_file("a"), _file("a/b")]},
        "tree",
    ),
    "size-2**63": ({"files": [_file("model.pt", 2**63)]}, "size"),
}


@pytest.mark.parametrize("case", sorted(BAD_PUBLISHES))
async def test_a_publish_that_could_not_be_served_back_is_refused_and_not_committed(jp_fetch, case):
    overrides, needle = BAD_PUBLISHES[case]
    await jp_fetch("lepton", "api", "registry", "blobs", address(DATA), method="PUT", body=DATA)
    body = _publish_body(**overrides)
    code, message = await _status(
        jp_fetch, "POST", "registry", "models", ME, "net", "versions", body=body
    )
    assert code == 400 and needle in message, message
    # Nothing was committed: the model has no version, and listing still answers
    code, _ = await _status(jp_fetch, "GET", "registry", "models", ME, "net", "versions")
    assert code in (403, 404)
    code, models = await _status(jp_fetch, "GET", "registry", "models")
    assert code == 200 and models == []


@pytest.mark.parametrize(
    ("to", "needle"),
    [("a\x00b", "NUL"), ("x" * 300, "too long"), ("\ud800", "surrogate")],
    ids=["nul", "300-bytes", "lone-surrogate-python"],
)
def test_bad_destinations_are_invalid_in_python(tmp_path, to, needle):
    from lepton_jupyter.datasets import DatasetService
    from lepton_jupyter.errors import Invalid

    with pytest.raises(Invalid, match=needle):
        DatasetService(tmp_path).describe(to)


async def test_bad_destinations_are_400_over_rest(jp_fetch):
    for to in ("a\x00b", "y" * 300):
        body = json.dumps({"url": "/nowhere", "path": "datasets/points", "to": to})
        code, message = await _status(jp_fetch, "POST", "datasets", body=body)
        assert code == 400, message
    code, message = await _status(jp_fetch, "GET", "datasets", "z" * 300)
    assert code == 400, message


@pytest.mark.parametrize("ident", ["²", "\u0661", "x"])
async def test_comparison_ids_that_are_not_ascii_digits_are_400(jp_fetch, ident):
    code, message = await _status(jp_fetch, "GET", "registry", "comparisons", ident)
    assert code == 400 and "ids are numbers" in message
