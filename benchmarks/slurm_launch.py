"""Slurm launch overhead, 2 nodes x 1 CPU rank (gloo): lepton against a hand-written sbatch.

Times, from the launch call, (a) rank 0's first training step and (b) the moment the caller
knows the job completed, for the same tiny DDP training on a real two-node Slurm:

* ``sbatch + torchrun``: the batch script a user writes by hand (``srun`` starts
  ``python -m torch.distributed.run`` on each node, c10d on the first node), completion
  seen by polling ``scontrol`` every 0.2 s;
* ``lepton script``: ``launch("train.py", nnodes=2, backend="slurm")`` + ``job.wait()``;
* ``lepton function``: ``launch(train, nnodes=2, backend="slurm")`` with ``train`` defined
  in ``__main__`` (the notebook case: pickled by value).

lepton adds ``sbatch --test-only`` before submitting, a job-folder check step on every node,
and learns of the end from its supervisor, which polls Slurm every 2 s.

Run as root: ``python benchmarks/slurm_launch.py [--repeat 3]``. It starts a private
two-node cluster (tests/fixtures/slurm.py) and stops it afterwards; prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The same tiny DDP training as the local launch benchmark, so the two compare.
from launch import MARK_ENV, SCRIPT

from tests.fixtures.parts import describe, missing
from tests.fixtures.slurm import SlurmCluster, running_cluster

PEER_BATCH = """\
#!/bin/bash
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --output={folder}/peer-%j.out
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
addr=$(sinfo -h -N -n "$head" -o %o | head -n 1)
srun {python} -m torch.distributed.run --nnodes=2 --nproc-per-node=1 --rdzv-backend=c10d \\
  --rdzv-endpoint=$addr:29577 --rdzv-id=$SLURM_JOB_ID {script}
"""


def first_step(mark: Path, start: float) -> float:
    while not mark.exists() or not mark.read_text():
        time.sleep(0.05)
    return float(mark.read_text()) - start


def run_peer(cluster: SlurmCluster, folder: Path, script: Path, mark: Path) -> tuple[float, float]:
    batch = folder / "peer.sbatch"
    batch.write_text(PEER_BATCH.format(folder=folder, python=sys.executable, script=script))
    start = time.time()
    job_id = cluster.run("sbatch", "--parsable", str(batch)).stdout.strip()
    to_first = first_step(mark, start)
    while True:
        state = cluster.run("scontrol", "show", "job", "-o", job_id).stdout
        if "JobState=COMPLETED" in state:
            return to_first, time.time() - start
        if "JobState=FAILED" in state or "JobState=CANCELLED" in state:
            raise RuntimeError(f"the hand-written job failed: {state}")
        time.sleep(0.2)


def run_lepton(target: Callable[..., object] | str, mark: Path) -> tuple[float, float]:
    from lepton_jupyter import launch

    start = time.time()
    job = launch(target, nnodes=2, nprocs=1, backend="slurm", env={MARK_ENV: str(mark)})
    to_first = first_step(mark, start)
    job.wait(timeout=300)
    return to_first, time.time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    reason = missing("slurm")
    if reason:
        print(f"cannot run: {describe('slurm', reason)}")
        return 1
    with tempfile.TemporaryDirectory(prefix="lepton-bench-slurm-") as tmp:
        root = Path(tmp)
        os.environ["LEPTON_STATE_DIR"] = str(root / "state")
        script = root / "train.py"
        script.write_text(SCRIPT)
        namespace: dict[str, object] = {"__name__": "__main__"}
        notebook_cell = SCRIPT.replace('if __name__ == "__main__"', "if False")
        exec(compile(notebook_cell, "<notebook cell>", "exec"), namespace)
        train = namespace["train"]
        (root / "cluster").mkdir()
        with running_cluster(root / "cluster") as cluster:
            os.environ.update(cluster.env)
            runs: dict[str, list[tuple[float, float]]] = {}
            for attempt in range(args.repeat):
                for label, run in (
                    ("sbatch + torchrun", lambda m: run_peer(cluster, root, script, m)),
                    ("lepton script", lambda m: run_lepton(str(script), m)),
                    ("lepton function", lambda m: run_lepton(train, m)),
                ):
                    mark = root / f"first-step-{attempt}-{label.replace(' ', '-')}"
                    os.environ[MARK_ENV] = str(mark)
                    runs.setdefault(label, []).append(run(mark))
    peer_first = statistics.median(r[0] for r in runs["sbatch + torchrun"])
    peer_total = statistics.median(r[1] for r in runs["sbatch + torchrun"])
    print(f"{'path':<20} {'first step':>11} {'ratio':>6} {'completed':>10} {'ratio':>6}")
    for label, results in runs.items():
        first = statistics.median(r[0] for r in results)
        total = statistics.median(r[1] for r in results)
        print(
            f"{label:<20} {first:>10.1f}s {first / peer_first:>5.2f}x "
            f"{total:>9.1f}s {total / peer_total:>5.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
