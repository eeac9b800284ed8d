"""Assembling a comparison from recorded runs: every pin that differs is named.

The manifests are built here as the lepton engine writes them; tests/e2e/test_compare.py
records real ones.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lepton_jupyter.compare.comparable import NotComparable, assemble
from lepton_jupyter.errors import Invalid
from lepton_jupyter.runs.schema import Manifest, NotebookInfo

URL = "https://git.example.org/team/data.git"


def run(
    run_id: str,
    version: int,
    *,
    digest: str = "sha256:" + "a" * 64,
    commit: str = "1" * 40,
    params: dict | None = None,
    tokenizer: int | None = None,
    correct: list[float] | None = None,
    status: str = "completed",
) -> Manifest:
    ref = f"vision/net:{version}"
    ledger = [
        {"kind": "dataset", "key": f"{URL}|datasets/eval|main", "url": URL,
         "path": "datasets/eval", "rev": "main", "commit": commit},
        {"kind": "model", "key": ref, "name": "vision/net", "version": version,
         "digest": f"blake3:{version:064d}"},
    ]  # fmt: skip
    if tokenizer is not None:
        ledger.append(
            {"kind": "model", "key": "text/tok@prod", "name": "text/tok", "version": tokenizer}
        )
    return Manifest(
        id=run_id,
        status=status,
        notebook=NotebookInfo(path="/team/evaluate.ipynb", digest=digest),
        parameters={"candidate": ref, "batch": 64, **(params or {})},
        ledger=ledger,
        metrics={"correct": correct or [1.0, 0.0, 1.0], "loss": 0.3},
        started_at=datetime.now(timezone.utc),
    )


def test_comparable_runs_assemble_into_a_request():
    request = assemble([run("r1", 1), run("r2", 2, correct=[1.0, 1.0, 1.0])], metric="correct")
    assert [c.label for c in request.candidates] == ["vision/net:1", "vision/net:2"]
    assert request.candidates[1].examples == [1.0, 1.0, 1.0]
    assert request.candidates[0].metrics == {"correct": pytest.approx(2 / 3), "loss": 0.3}
    assert request.parameters == {"batch": 64}
    assert [(d.path, d.commit) for d in request.datasets] == [("datasets/eval", "1" * 40)]


def test_every_differing_pin_is_named():
    runs = [
        run("r1", 1, tokenizer=3),
        run("r2", 2, digest="sha256:" + "b" * 64, commit="2" * 40, params={"batch": 128},
            tokenizer=4),
    ]  # fmt: skip
    with pytest.raises(NotComparable) as refused:
        assemble(runs, metric="correct")
    message = refused.value.message
    assert (
        "evaluation code: run r1 (vision/net:1) /team/evaluate.ipynb sha256:aaaaaaaaaaaa" in message
    )
    assert "parameter 'batch': run r1 (vision/net:1) 64, run r2 (vision/net:2) 128" in message
    assert (
        f"dataset datasets/eval ({URL}): run r1 (vision/net:1) read commit 111111111111" in message
    )
    assert (
        "model text/tok@prod: run r1 (vision/net:1) text/tok:3, run r2 (vision/net:2) text/tok:4"
        in message
    )


def test_runs_that_cannot_be_candidates_are_refused_clearly():
    with pytest.raises(Invalid, match=r"Only completed runs.*r2 is failed"):
        assemble([run("r1", 1), run("r2", 2, status="failed")], metric="correct")
    with pytest.raises(Invalid, match=r"logged no metric .acc. \(it logged: correct, loss\)"):
        assemble([run("r1", 1), run("r2", 2)], metric="acc")
    with pytest.raises(Invalid, match="no candidate parameter 'model'"):
        assemble([run("r1", 1), run("r2", 2)], metric="correct", parameter="model")
    never = run("r2", 2)
    never.ledger = [e for e in never.ledger if e["kind"] != "model"]
    with pytest.raises(Invalid, match="never loaded it"):
        assemble([run("r1", 1), never], metric="correct")
