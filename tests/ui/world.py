"""Real data for the browser tests, made through lepton's public API as a user would.

Run as a script (its own process, so its run ledger, working directory and environment are
its own): ``python tests/ui/world.py FOLDER``. In ``FOLDER`` it creates

- ``data-registry`` (+ ``dvc-remote``): the demo's DVC data registry, tags v1 and v2;
- ``root``: the Jupyter root, with ``datasets/points@v1`` attached at ``data/points-v1``;
- ``state``: lepton's state, holding a finished 2-rank CPU job (gloo) that trained on that
  dataset, model ``vision/spiral`` versions 1 and 2 published from it (``@prod`` moved
  1 -> 2, so it can be rolled back), and a ``papermill --engine lepton`` run of
  ``root/evaluate.ipynb`` that loaded ``vision/spiral@prod``.

It prints a JSON summary (ids and paths) on its last line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EVALUATE_PARAMETERS = "model_ref = 'vision/spiral@prod'"
EVALUATE_CELLS = [
    """\
import torch
import lepton_jupyter

state = lepton_jupyter.load_state_dict(model_ref)
weight = float(state["weight"].sum())
lepton_jupyter.log_metric("weight_sum", weight)
print(f"weight sum {weight:.6f}")""",
]


def train(steps: int) -> dict:
    """A tiny linear fit on every rank; gradients averaged with all_reduce (gloo)."""
    import torch
    import torch.distributed as dist

    from lepton_jupyter import report

    torch.manual_seed(0)
    rank, world = dist.get_rank(), dist.get_world_size()
    model = torch.nn.Linear(2, 1)
    x = torch.randn(64, 2)
    y = x @ torch.tensor([1.5, -0.5])
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    for step in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= world
        opt.step()
        report(step=step, loss=loss.item(), all_ranks=True)
    return {k: v.tolist() for k, v in model.state_dict().items()} if rank == 0 else {}


def main(folder: Path) -> dict:
    import torch

    import lepton_jupyter
    from lepton_jupyter.demo.world import DATASET_PATH, create_data_registry
    from tests.fixtures.runs import papermill_lepton, write_notebook

    root, state = folder / "root", folder / "state"
    root.mkdir(parents=True)
    os.environ["LEPTON_STATE_DIR"] = str(state)
    os.environ["DVC_NO_ANALYTICS"] = "1"
    registry = create_data_registry(folder / "data-registry", folder / "dvc-remote")
    os.chdir(root)

    attached = lepton_jupyter.attach(str(registry), DATASET_PATH, rev="v1", to="data/points-v1")
    job = lepton_jupyter.launch(train, 3, nprocs=2, name="spiral-train")
    trained = job.result(timeout=300)
    weights = {k: torch.tensor(v) for k, v in trained.items()}
    first = lepton_jupyter.publish("vision/spiral", weights, metrics={"loss": 0.5}, alias="prod")
    second = lepton_jupyter.publish(
        "vision/spiral",
        {k: v * 1.01 for k, v in weights.items()},
        metrics={"loss": 0.4},
        alias="prod",
    )

    notebook = write_notebook(root / "evaluate.ipynb", EVALUATE_CELLS, EVALUATE_PARAMETERS)
    done = papermill_lepton(notebook, root / "evaluate-out.ipynb", state, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"papermill failed:\n{done.stderr[-3000:]}")
    (run,) = lepton_jupyter.list_runs()
    return {
        "data_registry": str(registry),
        "attached": attached.to,
        "job": job.id,
        "versions": [first.version, second.version],
        "run": run.id,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(json.dumps(main(Path(sys.argv[1]))))
