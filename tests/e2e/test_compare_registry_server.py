"""Promotion gates on a real ``lepton registry serve`` (gates from LEPTON_PROMOTION_GATES, as a
hub service gets them): comparisons recorded over HTTP, a gated alias refused, then moved on
the evidence; a user without access neither reads nor records comparisons.

The per-example results are given directly; tests/e2e/test_compare.py makes them from real
evaluation runs.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

import lepton_jupyter as lepton
from lepton_jupyter.compare.service import recorder
from lepton_jupyter.errors import Conflict, NotFound
from lepton_jupyter.registry.client import get_client
from lepton_jupyter.registry.schema import (
    CandidateResult,
    ComparisonRequest,
    DatasetPin,
    EvaluationInfo,
)
from tests.e2e.test_registry_server import _as

GATES = {"vision/net@prod": {"dataset": "datasets/eval", "metric": "correct"}}


@pytest.fixture
def gates_env() -> None:
    """Set before the server starts: the registry_server fixture passes on this environment."""
    os.environ["LEPTON_PROMOTION_GATES"] = json.dumps(GATES)


def request(versions: dict[int, str], results: dict[int, list[float]]) -> ComparisonRequest:
    return ComparisonRequest(
        metric="correct",
        resamples=1000,
        evaluation=EvaluationInfo(path="/team/evaluate.ipynb", digest="sha256:" + "e" * 64),
        datasets=[DatasetPin(url="/data", path="datasets/eval", rev="main", commit="c" * 40)],
        candidates=[
            CandidateResult(
                ref=f"vision/net:{n}",
                name="vision/net",
                version=n,
                digest=versions[n],
                run=f"20261203-00000{n}-000000",
                examples=examples,
            )
            for n, examples in results.items()
        ],
    )


def test_gated_alias_on_the_standalone_service(gates_env, registry_server, monkeypatch, tmp_path):
    server = registry_server
    _as(monkeypatch, server, "alice", tmp_path)
    monkeypatch.delenv("LEPTON_PROMOTION_GATES")  # the service's setting, not this client's
    model = torch.nn.Linear(3, 2)
    v1 = lepton.publish("vision/net", model, alias="prod")
    torch.nn.init.zeros_(model.weight)
    v2 = lepton.publish("vision/net", model)
    # The service refuses the ungated-looking move: the gate is configured there
    with pytest.raises(Conflict, match="gate 'vision/net@prod'"):
        lepton.set_alias("vision/net", "prod", 2)
    # Alice records a comparison over HTTP; the service computes its statistics
    client = get_client()
    digests = {1: v1.digest, 2: v2.digest}
    recorded = recorder(client).record(
        client.principal,
        request(digests, {2: [1.0] * 45 + [0.0] * 5, 1: [1.0] * 30 + [0.0] * 20}),
    )
    assert recorded.winner == "vision/net:2" and recorded.created_by == "alice"
    assert [c.id for c in client.comparisons(ref="vision/net:2")] == [recorded.id]
    # Then prod moves, and the history names the comparison
    lepton.set_alias("vision/net", "prod", 2, comparison=recorded.id)
    assert lepton.history("vision/net", "prod")[-1].evidence["comparison"] == recorded.id
    # Bob (no role in vision) can neither read it nor record one: vision is a 404 to him
    _as(monkeypatch, server, "bob", tmp_path)
    bob = get_client()
    with pytest.raises(NotFound):
        bob.comparison(recorded.id)
    with pytest.raises(NotFound):
        recorder(bob).record(bob.principal, request(digests, {2: [1.0, 0.0], 1: [0.0, 0.0]}))
