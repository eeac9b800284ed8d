"""Launch overhead, 2 ranks (gloo on CPU, NCCL on GPU): lepton's launch() against torchrun.

Times, from the launch call, (a) the first training step of rank 0 and (b) completion,
for the same tiny DDP training:

* ``torchrun``: ``python -m torch.distributed.run --standalone`` on the script;
* ``lepton script``: ``launch("train.py", nprocs=2)`` + ``job.wait()`` on the same script;
* ``lepton function``: ``launch(train, nprocs=2)`` with ``train`` defined in ``__main__``,
  the notebook case (pickled by value, fresh interpreters, detached supervisor);
* ``notebook_launcher``: accelerate's, which forks this process (torch already imported,
  as in a notebook), when accelerate is installed.

Run: ``python benchmarks/launch.py [--repeat 3] [--device cuda]``; prints medians and ratios.
With ``--device cuda`` each rank trains on its own GPU (two GPUs needed) and the process group
is ``cpu:gloo,cuda:nccl`` on both paths. Goal: lepton <= 1.1x torchrun.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = 20
MARK_ENV = "BENCH_FIRST_STEP_FILE"
DEVICE_ENV = "BENCH_DEVICE"

SCRIPT = f'''\
import os, time
import torch
import torch.distributed as dist

def train(steps={STEPS}):
    from lepton_jupyter.jobs import report
    device = torch.device(os.environ.get("{DEVICE_ENV}", "cpu"))
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    if not dist.is_initialized():  # torchrun runs the script; lepton sets the group up
        dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Linear(16, 1).to(device), device_ids=[device] if device.type == "cuda" else None
    )
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(steps):
        x = torch.randn(64, 16, device=device)
        loss = ((model(x) - x.sum(dim=1, keepdim=True)) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step == 0 and dist.get_rank() == 0:
            with open(os.environ["{MARK_ENV}"], "w") as f:
                f.write(repr(time.time()))
        report(step=step, loss=loss.item())
    return loss.item()

if __name__ == "__main__":
    train()
    dist.destroy_process_group()
'''


def timed(run: Callable[[], Any], mark: Path) -> tuple[float, float, str]:
    """(seconds to rank 0's first step, seconds to completion, where lepton's time went)."""
    mark.unlink(missing_ok=True)
    start = time.time()
    job = run()
    end = time.time()
    detail = ""
    if job is not None:  # a lepton Job: when the supervisor took it, when ranks started
        from lepton_jupyter.jobs.folder import JobFolder

        pids = JobFolder(job.folder).path.glob("ranks/*.pid")
        ranks_at = min(p.stat().st_mtime for p in pids) - start
        detail = (
            f" (supervisor running {job.info.started_at.timestamp() - start:.2f} s, "
            f"ranks started {ranks_at:.2f} s)"
        )
    return float(mark.read_text()) - start, end - start, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.device == "cuda":
        import torch

        if torch.cuda.device_count() < 2:
            parser.error(f"--device cuda needs 2 GPUs; torch sees {torch.cuda.device_count()}")
    with tempfile.TemporaryDirectory(prefix="lepton-bench-launch-") as work:
        return bench(Path(work), args.repeat, args.device)


def bench(work: Path, repeat: int, device: str = "cpu") -> int:
    os.environ.setdefault("LEPTON_STATE_DIR", str(work / "state"))
    os.environ[DEVICE_ENV] = device
    mark = work / "first-step"
    os.environ[MARK_ENV] = str(mark)
    script = work / "train.py"
    script.write_text(SCRIPT)
    namespace: dict = {"__name__": "bench_train"}
    exec(compile(SCRIPT, str(script), "exec"), namespace)
    train = namespace["train"]
    train.__module__ = "__main__"  # a notebook's function: cloudpickle sends it by value

    import torch  # noqa: F401  (a notebook has it imported; notebook_launcher forks that)

    from lepton_jupyter import Job, launch

    def torchrun() -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                "2",
                str(script),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    gpus = 2 if device == "cuda" else 0

    def lepton_script() -> Job:
        job = launch(str(script), nprocs=2, gpus=gpus)
        job.wait()
        return job

    def lepton_function() -> Job:
        job = launch(train, nprocs=2, gpus=gpus)
        job.wait()
        return job

    runs: dict[str, Callable[[], Any]] = {
        "torchrun": torchrun,
        "lepton script": lepton_script,
        "lepton function": lepton_function,
    }
    try:
        from accelerate import notebook_launcher

        def accelerate_notebook_launcher() -> None:
            notebook_launcher(train, num_processes=2)

        runs["notebook_launcher"] = accelerate_notebook_launcher
    except ImportError:
        print("accelerate is not installed: notebook_launcher skipped")

    results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in runs}
    for i in range(repeat):
        names = list(runs)
        # Interleaved, and the order rotated each round, so load drifts and caches warmed
        # by the previous run hit every path alike.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            run = runs[name]
            results[name].append(timed(run, mark))
            print(
                f"run {i + 1} {name:18s} first step {results[name][-1][0]:5.2f} s, "
                f"done {results[name][-1][1]:5.2f} s{results[name][-1][2]}",
                flush=True,
            )

    medians = {
        name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
        for name, rs in results.items()
    }
    base_first, base_done = medians["torchrun"]
    backend = "cpu:gloo,cuda:nccl on 2 GPUs" if device == "cuda" else "gloo"
    print(f"\nmedian of {repeat}, 2 ranks, {backend}, {STEPS} DDP steps")
    print(
        f"{'path':18s} {'first step':>10s} {'done':>7s} {'/torchrun first':>16s} "
        f"{'/torchrun done':>15s}"
    )
    for name, (first, done) in medians.items():
        print(
            f"{name:18s} {first:9.2f}s {done:6.2f}s {first / base_first:15.2f}x "
            f"{done / base_done:14.2f}x"
        )
    goal = max(medians["lepton function"][1], medians["lepton script"][1]) / base_done
    print(
        f"\ngoal <= 1.10x torchrun (completion): {'met' if goal <= 1.1 else 'NOT met'} "
        f"({goal:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
