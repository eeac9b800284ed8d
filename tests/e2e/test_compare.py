"""A/B comparison end to end: real torch models in the real registry, a real git + DVC
evaluation dataset, evaluations as real papermill kernels under the lepton engine.

The story: ``vision/spiral:1`` (an MLP trained for a few steps) holds ``@prod``;
``vision/spiral:2`` (the same MLP trained properly) is the challenger. Both are evaluated on
the test split of ``datasets/points`` at one commit; ``@prod`` is gated on that dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import lepton_jupyter as lepton
from lepton_jupyter import pins
from lepton_jupyter.compare import (
    EvaluationFailed,
    NotComparable,
    compare,
    compare_runs,
    rerun_comparison,
)
from lepton_jupyter.demo.world import DATASET_PATH, create_data_registry, write_points
from lepton_jupyter.errors import Conflict
from lepton_jupyter.registry import client as registry_client
from lepton_jupyter.runs.store import RunStore
from tests.fixtures.datasets import DataRegistry
from tests.fixtures.runs import papermill_lepton, write_notebook

pytestmark = pytest.mark.slow

GATE = {"prod": {"dataset": DATASET_PATH, "metric": "correct", "min_delta": 0.0}}
PARAMETERS = 'candidate = "vision/spiral@prod"\ndata_url = ""'
EVALUATE = [
    """\
import csv
import torch
import lepton_jupyter as lepton

torch.set_num_threads(1)
points = lepton.attach(data_url, "datasets/points", rev="main", to="points")
with open(f"{points.local_path}/test.csv") as f:
    rows = list(csv.DictReader(f))
x = torch.tensor([[float(r["x"]), float(r["y"])] for r in rows])
y = torch.tensor([int(r["label"]) for r in rows])
model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
model.load_state_dict(lepton.load_state_dict(candidate))
with torch.no_grad():
    correct = (model(x).argmax(1) == y).float()
lepton.log_metric("correct", correct)
lepton.log_metric("accuracy", correct.mean().item())
print(candidate, correct.mean().item())"""
]


def train(data: Path, steps: int) -> torch.nn.Module:
    """The MLP the evaluation expects, trained on the train split for ``steps`` steps."""
    import csv

    torch.manual_seed(0)
    with (data / "train.csv").open() as f:
        rows = list(csv.DictReader(f))
    x = torch.tensor([[float(r["x"]), float(r["y"])] for r in rows])
    y = torch.tensor([int(r["label"]) for r in rows])
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def move_main(registry: Path, n: int) -> str:
    """Commit new points data on main (what a colleague's push looks like); the new commit."""
    from dvc.repo import Repo

    write_points(registry / DATASET_PATH, n, seed=n)
    with Repo(str(registry)) as repo:
        repo.add(str(registry / DATASET_PATH))
        repo.push()
        repo.scm.add([f"{registry / DATASET_PATH}.dvc"])
        repo.scm.commit(f"points: {n} samples")
        return repo.scm.get_rev()


@pytest.fixture
def world(tmp_path: Path, lepton_state: Path) -> dict:
    """Data registry (main: 1200 points), spiral:1 weak at @prod, spiral:2 strong, a notebook."""
    registry = create_data_registry(tmp_path / "data", tmp_path / "remote")
    data = registry / DATASET_PATH
    lepton.publish("vision/spiral", train(data, steps=3), alias="prod")
    lepton.publish("vision/spiral", train(data, steps=400))
    notebook = write_notebook(tmp_path / "evaluate.ipynb", EVALUATE, PARAMETERS)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return {"registry": registry, "notebook": notebook, "workspace": workspace}


def gate_prod() -> None:
    os.environ["LEPTON_PROMOTION_GATES"] = json.dumps(GATE)
    registry_client._clients.clear()


def test_compare_gate_promote_rerun_and_override(world: dict, lepton_state: Path):
    registry = DataRegistry(url=str(world["registry"]), remote=world["registry"].parent / "remote")
    main = registry.commit_of("main")
    gate_prod()
    # Given @prod is gated: moving it to version 2 without evidence is refused
    with pytest.raises(Conflict) as refused:
        lepton.set_alias("vision/spiral", "prod", 2)
    assert "gate 'prod'" in refused.value.message
    assert "no recorded comparison of vision/spiral:2 against vision/spiral:1" in str(refused.value)

    # When the two versions are compared on the evaluation notebook
    result = compare(
        ["vision/spiral@prod", "vision/spiral:2"],
        world["notebook"],
        metric="correct",
        parameters={"data_url": str(world["registry"])},
        cwd=str(world["workspace"]),
        progress=False,
    )
    record = result.record
    # Then version 2 wins, with a paired interval that excludes zero
    assert result.winner == "vision/spiral:2"
    pair = result.pair("vision/spiral:2", "vision/spiral:1")
    assert pair is not None and pair.low > 0 and pair.n == 240
    assert pair.test == "exact McNemar" and pair.p_value < 0.01
    # And the comparison records candidates, data commit, evaluation, metrics and who ran it
    assert [c.ref for c in record.candidates] == ["vision/spiral@prod", "vision/spiral:2"]
    for candidate in record.candidates:
        version = lepton.versions("vision/spiral")[candidate.version - 1]
        assert candidate.digest == version.digest
        assert 0 < candidate.metrics["correct"] <= 1
        assert candidate.metrics["correct"] == pytest.approx(candidate.metrics["accuracy"])
    assert [(d.path, d.commit) for d in record.datasets] == [(DATASET_PATH, main)]
    assert record.evaluation.digest.startswith("sha256:")
    assert record.created_by and record.parameters == {"data_url": str(world["registry"])}
    # And each evaluation is a recorded run that loaded its candidate on that commit
    store = RunStore(lepton_state / "runs")
    for candidate in record.candidates:
        run = store.get(candidate.run)
        assert run.parameters["candidate"] == f"vision/spiral:{candidate.version}"
        assert {e["commit"] for e in run.ledger if e["kind"] == "dataset"} == {main}
    assert "vision/spiral:2 is better" in result._repr_html_()

    # When @prod moves now, the passing comparison lets it, and the ledger says which
    lepton.set_alias("vision/spiral", "prod", 2)
    moved = lepton.history("vision/spiral", "prod")[-1]
    assert (moved.version, moved.evidence["comparison"]) == (2, record.id)
    # And lineage goes version -> comparison -> promotion
    lineage = lepton.lineage("vision/spiral:2")
    assert lineage.comparisons[0].id == record.id
    assert lineage.promotions[-1].evidence["comparison"] == record.id

    # When the team moves main on, and the comparison is rerun
    assert move_main(world["registry"], 2000) != main
    again = rerun_comparison(record.id, progress=False)
    # Then it reproduces: same data commit, same per-example results, same interval
    assert again.record.rerun_of == record.id and again.id != record.id
    assert result.same_result(again)
    assert again.record.datasets[0].commit == main

    # Rollback is never gated
    assert lepton.rollback("vision/spiral", "prod").version == 1
    # A maintainer may override the gate with a reason; the history shows it
    lepton.set_alias("vision/spiral", "prod", 2, override="hotfix: serving bug in v1")
    last = lepton.history("vision/spiral", "prod")[-1]
    assert last.evidence == {"gate": "prod", "override": "hotfix: serving bug in v1"}


def test_moved_main_between_evaluations_is_refused(world: dict, lepton_state: Path, tmp_path):
    # Given alice evaluated version 1 on main last week, in her workspace
    url = str(world["registry"])
    before = DataRegistry(url=url, remote=tmp_path).commit_of("main")
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir()
    bob.mkdir()
    done = papermill_lepton(
        world["notebook"], alice / "out.ipynb", lepton_state,
        "candidate", "vision/spiral:1", "data_url", url, cwd=alice,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # And since then main moved, and bob evaluated version 2 on it in his workspace
    after = move_main(world["registry"], 2000)
    done = papermill_lepton(
        world["notebook"], bob / "out.ipynb", lepton_state,
        "candidate", "vision/spiral:2", "data_url", url, cwd=bob,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    runs = RunStore(lepton_state / "runs").ids()
    # When the two runs are assembled into a comparison, it is refused naming the pin
    with pytest.raises(NotComparable) as refused:
        compare_runs(runs, metric="correct")
    message = refused.value.message
    assert f"dataset {DATASET_PATH} ({url})" in message
    assert f"read commit {before[:12]} (rev main)" in message
    assert f"read commit {after[:12]} (rev main)" in message
    # And nothing was recorded
    assert registry_client.get_client().comparisons(name="vision/spiral") == []


def test_function_evaluation_is_a_recorded_run(world: dict, lepton_state: Path):
    url = str(world["registry"])

    def evaluate(candidate: str) -> None:
        import csv

        import torch

        import lepton_jupyter as lepton

        points = lepton.attach(url, "datasets/points", rev="v1", to="points-v1")
        with open(f"{points.local_path}/test.csv") as f:
            rows = list(csv.DictReader(f))
        x = torch.tensor([[float(r["x"]), float(r["y"])] for r in rows])
        y = torch.tensor([int(r["label"]) for r in rows])
        model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
        model.load_state_dict(lepton.load_state_dict(candidate))
        with torch.no_grad():
            lepton.log_metric("correct", (model(x).argmax(1) == y).float())

    result = compare(
        ["vision/spiral:1", "vision/spiral:2"],
        evaluate,
        metric="correct",
        cwd=str(world["workspace"]),
        progress=False,
    )
    assert result.record.evaluation.kind == "function"
    assert result.record.datasets[0].rev == "v1"
    assert result.winner == "vision/spiral:2"
    # Each evaluation ran a kept, content-addressed notebook: rerun() can run it again
    for run_id in result.runs.values():
        run = RunStore(lepton_state / "runs").get(run_id)
        assert run.status == "completed" and Path(run.notebook.path).is_file()

    # An evaluation that raises fails the comparison naming the candidate and its run
    def broken(candidate: str) -> None:
        raise RuntimeError(f"cannot evaluate {candidate}")

    with pytest.raises(EvaluationFailed) as failed:
        compare(["vision/spiral:1", "vision/spiral:2"], broken, metric="correct", progress=False)
    assert "The evaluation of vision/spiral:1 (run " in failed.value.message
    assert "RuntimeError: cannot evaluate vision/spiral:1" in failed.value.message
    pins.reset()
