"""Promotion gates in the registry service (real SQLite and PostgreSQL): a gated alias moves
on a passing recorded comparison, a maintainer's override, or not at all; rollback is free.

The comparisons here are recorded from per-example results given directly; the end-to-end
tests (tests/e2e/test_compare.py) produce them from real evaluation runs.
"""

from __future__ import annotations

import pytest

from lepton_jupyter.compare.service import CompareService
from lepton_jupyter.errors import Conflict, Forbidden, Invalid, NotFound
from lepton_jupyter.registry.schema import (
    CandidateResult,
    ComparisonRequest,
    DatasetPin,
    EvaluationInfo,
)
from lepton_jupyter.registry.service import Principal, RegistryService
from tests.fixtures.registry import ALICE, BOB
from tests.unit.test_registry_service import put

GATES = {"prod": {"dataset": "datasets/eval", "metric": "correct", "min_delta": 0.0}}
EVAL = EvaluationInfo(path="/nb/evaluate.ipynb", digest="sha256:" + "e" * 64)
DATA = [DatasetPin(url="/data/registry", path="datasets/eval", rev="main", commit="c" * 40)]


@pytest.fixture
def gated(registry: RegistryService) -> RegistryService:
    return RegistryService(registry.store, registry.blobs, ["prod"], promotion_gates=GATES)


def request(
    service: RegistryService, results: dict[int, list[float]], **extra
) -> ComparisonRequest:
    candidates = []
    for number, examples in results.items():
        version = service.resolve(ALICE, f"vision/net:{number}")
        candidates.append(
            CandidateResult(
                ref=version.ref,
                name=version.name,
                version=number,
                digest=version.digest,
                run=f"20261203-0000{number:02d}-000000",
                examples=examples,
            )
        )
    fields = {"metric": "correct", "evaluation": EVAL, "datasets": DATA, "resamples": 1000}
    return ComparisonRequest(candidates=candidates, **{**fields, **extra})


BETTER = [1.0] * 90 + [0.0] * 10
WORSE = [1.0] * 60 + [0.0] * 40


def test_gated_prod_needs_a_passing_comparison(gated, tmp_path):
    # Given vision/net:1 holding prod and a new version 2
    put(gated, ALICE, "vision/net", b"one", tmp_path, alias="prod")
    put(gated, ALICE, "vision/net", b"two", tmp_path)
    # When alice moves prod with no evidence
    with pytest.raises(Conflict) as refused:
        gated.set_alias(ALICE, "vision/net", "prod", 2)
    # Then the refusal names the gate and what is missing
    assert "gate 'prod'" in refused.value.message
    assert "no recorded comparison of vision/net:2 against vision/net:1" in refused.value.message
    # When a comparison shows version 2 worse, the move is still refused, citing it
    compare = CompareService(gated)
    worse = compare.record(ALICE, request(gated, {2: WORSE, 1: BETTER}))
    assert worse.winner == "vision/net:1"
    with pytest.raises(Conflict, match=f"comparison {worse.id} does not pass"):
        gated.set_alias(ALICE, "vision/net", "prod", 2)
    # When a comparison shows version 2 better, prod moves and the ledger cites it
    better = compare.record(ALICE, request(gated, {2: BETTER, 1: WORSE}))
    assert better.winner == "vision/net:2"
    moved = gated.set_alias(ALICE, "vision/net", "prod", 2)
    assert moved.version == 2
    last = gated.history(ALICE, "vision/net", "prod")[-1]
    assert last.evidence["comparison"] == better.id
    assert "passes" in last.evidence["verdict"]
    # And lineage goes version -> comparisons -> promotion
    lineage = gated.lineage(ALICE, "vision/net:2")
    assert [c.id for c in lineage.comparisons] == [better.id, worse.id]
    assert lineage.promotions[-1].evidence["comparison"] == better.id
    # And rollback is never gated
    assert gated.rollback(ALICE, "vision/net", "prod").version == 1


def test_comparison_on_another_dataset_or_metric_does_not_pass(gated, tmp_path):
    put(gated, ALICE, "vision/net", b"one", tmp_path, alias="prod")
    put(gated, ALICE, "vision/net", b"two", tmp_path)
    compare = CompareService(gated)
    other_data = [DatasetPin(url="/data/registry", path="datasets/train", commit="d" * 40)]
    wrong_data = compare.record(ALICE, request(gated, {2: BETTER, 1: WORSE}, datasets=other_data))
    wrong_metric = compare.record(ALICE, request(gated, {2: BETTER, 1: WORSE}, metric="loss"))
    with pytest.raises(Conflict) as refused:
        gated.set_alias(ALICE, "vision/net", "prod", 2)
    assert "not on the gate's dataset datasets/eval" in refused.value.message
    assert "compares 'loss', the gate needs 'correct'" in refused.value.message
    # Naming a comparison explicitly uses that one
    with pytest.raises(Conflict, match=f"comparison {wrong_data.id} evaluated on"):
        gated.set_alias(ALICE, "vision/net", "prod", 2, comparison=wrong_data.id)
    assert wrong_metric.id != wrong_data.id


def test_maintainer_override_is_recorded_and_others_cannot(gated, tmp_path):
    put(gated, ALICE, "vision/net", b"one", tmp_path, alias="staging")
    put(gated, ALICE, "vision/net", b"two", tmp_path)
    gated.set_alias(ALICE, "vision/net", "prod", 1)  # the first holder needs no comparison
    gated.grant(ALICE, "vision", "writer", user=BOB.user)
    # A writer cannot move prod at all; a writer cannot override either
    with pytest.raises(Forbidden, match="maintainer"):
        gated.set_alias(BOB, "vision/net", "prod", 2, override="urgent fix")
    # An empty reason is refused; an ungated alias has nothing to override
    with pytest.raises(Invalid, match="needs a reason"):
        gated.set_alias(ALICE, "vision/net", "prod", 2, override="  ")
    with pytest.raises(Invalid, match="no promotion gate"):
        gated.set_alias(ALICE, "vision/net", "staging", 2, override="why not")
    # The maintainer (admin) overrides with a reason, and the history shows it
    gated.set_alias(ALICE, "vision/net", "prod", 2, override="CVE fix; eval set rebuilding")
    events = gated.history(ALICE, "vision/net", "prod")
    assert events[0].evidence == {"gate": "prod", "first_holder": True}
    assert events[-1].evidence == {"gate": "prod", "override": "CVE fix; eval set rebuilding"}
    assert events[-1].actor == ALICE.user


def test_publishing_straight_into_a_gated_alias_is_refused(gated, tmp_path):
    put(gated, ALICE, "vision/net", b"one", tmp_path, alias="prod")
    with pytest.raises(Conflict, match="gate 'prod'"):
        put(gated, ALICE, "vision/net", b"two", tmp_path, alias="prod")
    # Nothing half-written: the refused publish left no version 2
    assert [v.version for v in gated.versions(ALICE, "vision/net")] == [1]


def test_recording_checks_candidates_against_the_registry(gated, tmp_path):
    put(gated, ALICE, "vision/net", b"one", tmp_path)
    put(gated, ALICE, "vision/net", b"two", tmp_path)
    compare = CompareService(gated)
    forged = request(gated, {2: BETTER, 1: WORSE})
    forged.candidates[0].digest = "blake3:" + "0" * 64
    with pytest.raises(Invalid, match="evaluated with content blake3:0000"):
        compare.record(ALICE, forged)
    twice = request(gated, {2: BETTER, 1: WORSE})
    twice.candidates[1] = twice.candidates[0]
    with pytest.raises(Invalid, match="appears twice"):
        compare.record(ALICE, twice)
    short = request(gated, {2: BETTER, 1: WORSE[:50]})
    with pytest.raises(Conflict, match="differ in length"):
        compare.record(ALICE, short)
    # Someone without access to the namespace neither records nor sees comparisons: to
    # them the namespace does not exist
    stranger = Principal(user="mallory")
    with pytest.raises(NotFound):
        compare.record(stranger, request(gated, {2: BETTER, 1: WORSE}))
    recorded = compare.record(ALICE, request(gated, {2: BETTER, 1: WORSE}))
    with pytest.raises(NotFound):
        gated.comparison(stranger, recorded.id)
    assert [c.id for c in gated.comparisons(ALICE, name="vision/net")] == [recorded.id]
    assert [c.id for c in gated.comparisons(ALICE, ref="vision/net:1")] == [recorded.id]


def test_misconfigured_gate_names_itself(registry):
    with pytest.raises(Invalid, match=r"Promotion gate 'prod' is misconfigured.*metric"):
        RegistryService(registry.store, registry.blobs, promotion_gates={"prod": {"dataset": "x"}})
