"""Comparisons and promotion gates over REST in a real Jupyter server: record, list, show,
move a gated alias with a comparison or an override, and every bad request's JSON error."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.api.test_registry_api import call, error, publish

GATES = {"prod": {"dataset": "datasets/eval", "metric": "correct"}}
BETTER = [1.0] * 45 + [0.0] * 5
WORSE = [1.0] * 30 + [0.0] * 20


@pytest.fixture
def jp_server_config(jp_server_config: dict) -> dict:
    jp_server_config["LeptonApp"]["promotion_gates"] = GATES
    return jp_server_config


def comparison_body(versions: dict[int, dict], results: dict[int, list[float]]) -> dict:
    return {
        "metric": "correct",
        "resamples": 1000,
        "evaluation": {"path": "/team/evaluate.ipynb", "digest": "sha256:" + "e" * 64},
        "datasets": [{"url": "/data", "path": "datasets/eval", "rev": "main", "commit": "c" * 40}],
        "candidates": [
            {
                "ref": f"vision/net:{n}",
                "name": "vision/net",
                "version": n,
                "digest": versions[n]["digest"],
                "run": f"20261203-00000{n}-000000",
                "examples": examples,
            }
            for n, examples in results.items()
        ],
    }


@pytest.mark.slow
async def test_gated_alias_over_rest(jp_fetch):
    one = await publish(jp_fetch, "vision/net", b"one", alias="prod")
    two = await publish(jp_fetch, "vision/net", b"two")
    versions = {1: one, 2: two}
    # Moving gated prod without evidence: 409 naming the gate
    status, message = await error(
        jp_fetch, "PUT", "models", "vision", "net", "aliases", "prod", body={"version": 2}
    )
    assert status == 409 and "gate 'prod'" in message
    # Record a comparison: 201 with its URL, statistics computed by the server
    code, recorded, response = await call(
        jp_fetch, "POST", "comparisons", body=comparison_body(versions, {2: BETTER, 1: WORSE})
    )
    assert code == 201 and recorded["winner"] == "vision/net:2"
    assert response.headers["Location"].endswith(
        f"/lepton/api/registry/comparisons/{recorded['id']}"
    )
    assert recorded["pairs"][0]["low"] > 0
    # Read it back, one and listed by model and by version
    _, shown, _ = await call(jp_fetch, "GET", "comparisons", str(recorded["id"]))
    assert shown == recorded
    _, listed, _ = await call(jp_fetch, "GET", "comparisons", params={"name": "vision/net"})
    assert [c["id"] for c in listed] == [recorded["id"]]
    # The gate's verdict, as the Models panel shows it
    _, gates, _ = await call(jp_fetch, "GET", "gates", params={"name": "vision/net"})
    (report,) = gates
    assert (report["alias"], report["holder"]) == ("prod", 1)
    (verdict,) = report["verdicts"]
    assert (verdict["new"], verdict["passed"]) == ("vision/net:2", True)
    # Now prod moves, citing the comparison
    code, moved, _ = await call(
        jp_fetch, "PUT", "models", "vision", "net", "aliases", "prod", body={"version": 2}
    )
    assert code == 200 and moved["version"] == 2
    _, history, _ = await call(
        jp_fetch, "GET", "models", "vision", "net", "aliases", "prod", "history"
    )
    assert history[-1]["evidence"]["comparison"] == recorded["id"]
    # Rollback, then an override with a reason
    await call(jp_fetch, "POST", "models", "vision", "net", "aliases", "prod", "rollback")
    code, _, _ = await call(
        jp_fetch, "PUT", "models", "vision", "net", "aliases", "prod",
        body={"version": 2, "override": "eval set being rebuilt"},
    )  # fmt: skip
    _, history, _ = await call(
        jp_fetch, "GET", "models", "vision", "net", "aliases", "prod", "history"
    )
    assert [e["action"] for e in history] == ["set", "set", "rollback", "set"]
    assert history[-1]["evidence"] == {"gate": "prod", "override": "eval set being rebuilt"}


async def test_bad_comparison_requests_are_json_errors(jp_fetch):
    one = await publish(jp_fetch, "vision/net", b"one")
    two = await publish(jp_fetch, "vision/net", b"two")
    body = comparison_body({1: one, 2: two}, {2: BETTER, 1: WORSE})
    assert await error(jp_fetch, "GET", "comparisons", "999") == (
        404,
        "There is no comparison 999.",
    )
    status, message = await error(jp_fetch, "GET", "comparisons", "abc")
    assert status == 400 and "Invalid comparison id 'abc'" in message
    status, message = await error(jp_fetch, "POST", "comparisons", body={**body, "candidates": []})
    assert status == 400 and "candidates" in message
    status, message = await error(jp_fetch, "GET", "comparisons")
    assert status == 400 and "exactly one of ref" in message
    forged = {
        **body,
        "candidates": [
            dict(body["candidates"][0], digest="blake3:" + "0" * 64),
            body["candidates"][1],
        ],
    }
    status, message = await error(jp_fetch, "POST", "comparisons", body=forged)
    assert status == 400 and "evaluated with content" in message
    # Assembling from runs this server never recorded: 404 naming the run
    runs = {"runs": ["20260101-000000-000000", "20260101-000000-000001"], "metric": "correct"}
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("lepton", "api", "compare", "runs", method="POST", body=json.dumps(runs))
    assert refused.value.code == 404
    assert "No run '20260101-000000-000000'" in json.loads(refused.value.response.body)["message"]
