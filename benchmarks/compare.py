"""Comparison overhead: ``lepton compare run`` vs evaluating by hand with plain papermill.

Both evaluate two published versions of a small torch classifier with the same notebook
on the same 2000 examples, each a fresh process starting fresh kernels:

- the peer: ``papermill eval.ipynb out-N.ipynb -p candidate ns/net:N`` once per version
  (the notebook also writes its per-example results to a JSON file), then a Python
  process computing the same paired BCa bootstrap interval with scipy;
- ``lepton compare run ns/net:1 ns/net:2 --evaluation eval.ipynb --metric correct``:
  the same evaluations as recorded runs (pinned, checked comparable), the comparison
  recorded in the registry, which recomputes the statistics.

The two are interleaved ``--repeat`` times and medians compared. Goal: <= 1.2x the peer.

Run: ``python benchmarks/compare.py`` (a few minutes on 2 cores) or ``--repeat 5``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent
EVALUATE = """\
import json
import torch
import lepton_jupyter as lepton

torch.manual_seed(0)
x = torch.randn(2000, 8)
y = (x.sum(1) > 0).long()
model = torch.nn.Linear(8, 2)
model.load_state_dict(lepton.load_state_dict(candidate))
with torch.no_grad():
    correct = (model(x).argmax(1) == y).float()
lepton.log_metric("correct", correct)
with open(out, "w") as f:
    json.dump(correct.tolist(), f)"""
PEER_STATS = """\
import json, sys
import numpy as np
from scipy import stats
a, b = (np.array(json.load(open(p))) for p in sys.argv[1:3])
ci = stats.bootstrap((a - b,), np.mean, n_resamples=9999, method="BCa",
                     rng=np.random.default_rng(0)).confidence_interval
print(ci.low, ci.high)"""
PUBLISH = """\
import torch, lepton_jupyter as lepton
torch.manual_seed(1)
weak = torch.nn.Linear(8, 2)
strong = torch.nn.Linear(8, 2)
with torch.no_grad():
    strong.weight.copy_(torch.stack([-torch.ones(8), torch.ones(8)]))
    strong.bias.zero_()
lepton.publish("bench/net", weak)
lepton.publish("bench/net", strong)"""


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    parameters = nbformat.v4.new_code_cell('candidate = ""\nout = "results.json"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(EVALUATE)]
    nbformat.write(nb, str(path))


def run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def timed(commands: list[list[str]], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    for command in commands:
        run(command, env, cwd)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each path (default 3).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-compare-") as tmp:
        root = Path(tmp)
        notebook = root / "eval.ipynb"
        write_notebook(notebook)
        env = {**os.environ, "LEPTON_STATE_DIR": str(root / "state"), "DVC_NO_ANALYTICS": "1"}
        run([sys.executable, "-c", PUBLISH], env, root)
        peer = [
            [str(BIN / "papermill"), str(notebook), str(root / f"out-{n}.ipynb"),
             "-p", "candidate", f"bench/net:{n}", "-p", "out", str(root / f"r{n}.json")]
            for n in (1, 2)
        ]  # fmt: skip
        peer.append(
            [sys.executable, "-c", PEER_STATS, str(root / "r2.json"), str(root / "r1.json")]
        )
        ours = [
            [str(BIN / "lepton"), "compare", "run", "bench/net:2", "bench/net:1",
             "--evaluation", str(notebook), "--metric", "correct"]
        ]  # fmt: skip
        timed(peer, env, root)  # warm the page cache and the kernel's imports
        times: dict[str, list[float]] = {"peer": [], "lepton": []}
        for i in range(args.repeat):
            times["peer"].append(timed(peer, env, root))
            times["lepton"].append(timed(ours, env, root))
            print(
                f"round {i + 1}: peer {times['peer'][-1]:.1f}s, lepton {times['lepton'][-1]:.1f}s"
            )
        peer_median, ours_median = (statistics.median(times[k]) for k in ("peer", "lepton"))
        print(
            f"median: papermill x2 + scipy {peer_median:.1f}s, lepton compare run "
            f"{ours_median:.1f}s: {ours_median / peer_median:.2f}x (goal <= 1.2x)"
        )


if __name__ == "__main__":
    main()
