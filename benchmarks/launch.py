"""Launch overhead, 2 ranks (gloo on CPU, NCCL on GPU): lepton's launch() against torchrun
and accelerate's notebook_launcher.

Times, from the launch call, (a) the first training step of rank 0 and (b) completion,
for the same tiny DDP training:

* ``torchrun``: ``python -m torch.distributed.run --standalone`` on the script;
* ``lepton pool``: ``launch(train, nprocs=2)`` + ``job.wait()`` with the warm job pool
  running (as under a Jupyter server), ``train`` defined in ``__main__`` as in a notebook
  (pickled by value; supervisor forked by the pool, ranks by its agent; nothing forked
  from this process);
* ``lepton pool script``: the same with ``launch("train.py")``;
* ``lepton fresh``: ``launch(train)`` with the pool off (a fresh supervisor process);
* ``notebook_launcher``: accelerate's, which forks this process (torch already imported,
  as in a notebook), when accelerate is importable (``--accelerate-path DIR`` adds a
  folder where it was installed with ``pip install --target``; never a dependency).

Rank 0 of the training marks three moments on every path, so the table of phases says
where each path's time goes: entering ``train()`` (an interpreter, torch and the
function's arrival), the DDP model built (process group and DDP's own imports), the
first step; lepton's paths also say when the supervisor ran and the ranks started.

Run: ``python benchmarks/launch.py [--repeat 5] [--device cuda]``; prints the best of N
(and medians), ratios, and the median time of each phase. With ``--device cuda`` each
rank trains on its own GPU (two GPUs needed) and the process group is
``cpu:gloo,cuda:nccl`` on every path. Goals, to the first step: lepton pool <=
notebook_launcher and <= 0.5x torchrun.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = 20
MARKS_ENV = "BENCH_MARKS_DIR"
#: What rank 0 marks, in order: entering train(), DDP built, the first step done.
MARKS = ("entered", "ddp", "first-step")
DEVICE_ENV = "BENCH_DEVICE"
#: Where accelerate was installed (--accelerate-path), appended to sys.path.
EXTRA_PATH: list[str] = []

SCRIPT = f'''\
import os, time
import torch
import torch.distributed as dist

def mark(moment):
    if os.environ.get("RANK", "0") == "0":
        with open(os.path.join(os.environ["{MARKS_ENV}"], moment), "w") as f:
            f.write(repr(time.time()))

def train(steps={STEPS}):
    mark("entered")
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
    mark("ddp")
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(steps):
        x = torch.randn(64, 16, device=device)
        loss = ((model(x) - x.sum(dim=1, keepdim=True)) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step == 0:
            mark("first-step")
        report(step=step, loss=loss.item())
    return loss.item()

if __name__ == "__main__":
    train()
    dist.destroy_process_group()
'''


class Timing:
    """One run: seconds from the launch call to each of rank 0's marks, to completion, and
    (lepton) to the supervisor running and the first rank started."""

    def __init__(self, marks: dict[str, float], done: float, lepton: dict[str, float]) -> None:
        self.marks = marks
        self.done = done
        self.lepton = lepton

    @property
    def first(self) -> float:
        return self.marks["first-step"]

    def describe(self) -> str:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in {**self.lepton, **self.marks}.items())
        return f"first step {self.first:5.2f} s, done {self.done:5.2f} s ({phases})"


def timed(run: Callable[[], Any], marks: Path) -> Timing:
    for moment in MARKS:
        (marks / moment).unlink(missing_ok=True)
    start = time.time()
    job = run()
    end = time.time()
    lepton = {}
    if isinstance(job, tuple):  # a run in a process of its own: its call's start and end
        start, end = job
        job = None
    if job is not None:  # a lepton Job: when the supervisor took it, when ranks started
        from lepton_jupyter.jobs.folder import JobFolder

        pids = JobFolder(job.folder).path.glob("ranks/*.pid")
        lepton = {
            "supervisor": job.info.started_at.timestamp() - start,
            "ranks": min(p.stat().st_mtime for p in pids) - start,
        }
    at = {moment: float((marks / moment).read_text()) - start for moment in MARKS}
    return Timing(at, end - start, lepton)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--accelerate-path", help="A folder holding accelerate (pip --target).")
    args = parser.parse_args()
    if args.accelerate_path:
        sys.path.append(args.accelerate_path)  # last: this environment's packages win
        EXTRA_PATH.append(args.accelerate_path)
    if args.device == "cuda":
        import torch

        if torch.cuda.device_count() < 2:
            parser.error(f"--device cuda needs 2 GPUs; torch sees {torch.cuda.device_count()}")
    with tempfile.TemporaryDirectory(prefix="lepton-bench-launch-") as work:
        return bench(Path(work), args.repeat, args.device)


def start_pool(work: Path) -> subprocess.Popen:
    """A warm pool of this benchmark's own (as a Jupyter server starts one), serving."""
    from lepton_jupyter.jobs import pool

    folder = Path(tempfile.mkdtemp(prefix="lp-", dir="/tmp"))
    os.environ[pool.DIR_ENV] = str(folder)
    proc = pool.start(sys.executable, os.getpid())
    assert proc is not None
    path = pool.socket_path(sys.executable)
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError((folder / "pool.log").read_text())
        time.sleep(0.1)
    return proc


def bench(work: Path, repeat: int, device: str = "cpu") -> int:
    os.environ.setdefault("LEPTON_STATE_DIR", str(work / "state"))
    os.environ[DEVICE_ENV] = device
    marks = work / "marks"
    marks.mkdir()
    os.environ[MARKS_ENV] = str(marks)
    script = work / "train.py"
    script.write_text(SCRIPT)
    namespace: dict = {"__name__": "bench_train"}
    exec(compile(SCRIPT, str(script), "exec"), namespace)
    train = namespace["train"]
    train.__module__ = "__main__"  # a notebook's function: cloudpickle sends it by value

    import torch  # noqa: F401  (a notebook has it imported; notebook_launcher forks that)

    from lepton_jupyter import Job, launch
    from lepton_jupyter.jobs import pool

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

    def lepton(target: Any, pooled: bool) -> Callable[[], Job]:
        def run() -> Job:
            os.environ["LEPTON_JOB_POOL"] = "1" if pooled else "0"
            job = launch(target, nprocs=2, gpus=gpus)
            job.wait()
            return job

        return run

    runs: dict[str, Callable[[], Any]] = {
        "torchrun": torchrun,
        "lepton pool": lepton(train, True),
        "lepton pool script": lepton(str(script), True),
        "lepton fresh": lepton(train, False),
    }
    if importlib.util.find_spec("accelerate") is not None:

        def accelerate_notebook_launcher() -> tuple[float, float]:
            # In a kernel of its own (torch and accelerate imported, the timer started at
            # the call): forking this process, whose threads follow lepton's jobs, can
            # deadlock the forked ranks, as in any kernel with threads.
            times = work / "notebook_launcher.times"
            code = (
                f"import sys, time; sys.path.extend({EXTRA_PATH!r})\n"
                "import torch\n"
                "from accelerate import notebook_launcher\n"
                f"namespace = {{'__name__': 'bench_train'}}\n"
                f"exec(compile(open({str(script)!r}).read(), 'train.py', 'exec'), namespace)\n"
                "start = time.time()\n"
                "notebook_launcher(namespace['train'], num_processes=2)\n"
                f"open({str(times)!r}, 'w').write(f'{{start}} {{time.time()}}')\n"
            )
            subprocess.run(
                [sys.executable, "-c", code],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=600,
            )
            start, end = (float(t) for t in times.read_text().split())
            return start, end

        runs["notebook_launcher"] = accelerate_notebook_launcher
    else:
        print("accelerate is not importable (--accelerate-path): notebook_launcher skipped")

    warm = start_pool(work)
    results: dict[str, list[Timing]] = {name: [] for name in runs}
    failures: list[str] = []
    try:
        launch(train, nprocs=1, gpus=gpus).wait()  # this process's first launch imports
        for i in range(repeat):
            names = list(runs)
            # Interleaved, and the order rotated each round, so load drifts and caches
            # warmed by the previous run hit every path alike.
            for name in names[i % len(names) :] + names[: i % len(names)]:
                try:
                    results[name].append(timed(runs[name], marks))
                except Exception as e:  # one failed run is reported, not the round lost
                    failures.append(f"run {i + 1} {name}: {e}")
                    print(f"run {i + 1} {name:18s} FAILED: {e}", flush=True)
                    continue
                print(f"run {i + 1} {name:18s} {results[name][-1].describe()}", flush=True)
    finally:
        pool.stop(warm)
        shutil.rmtree(pool.pool_dir(), ignore_errors=True)

    if failures:
        print(f"\n{len(failures)} failed run(s), left out of the figures:", *failures, sep="\n  ")
    results = {name: timings for name, timings in results.items() if timings}
    if "torchrun" not in results or "lepton pool" not in results:
        return 1
    best = {
        name: (min(r.first for r in rs), min(r.done for r in rs)) for name, rs in results.items()
    }
    median = {
        name: (statistics.median(r.first for r in rs), statistics.median(r.done for r in rs))
        for name, rs in results.items()
    }
    base_first = best["torchrun"][0]
    peer = best.get("notebook_launcher")
    backend = "cpu:gloo,cuda:nccl on 2 GPUs" if device == "cuda" else "gloo"
    print(f"\nbest of {repeat} (median in brackets), 2 ranks, {backend}, {STEPS} DDP steps")
    print(
        f"{'path':18s} {'first step':>16s} {'done':>16s} {'first/torchrun':>15s} "
        f"{'first/notebook_launcher':>24s}"
    )
    for name, (first, done) in best.items():
        mf, md = median[name]
        versus_peer = f"{first / peer[0]:23.2f}x" if peer else f"{'-':>24s}"
        print(
            f"{name:18s} {first:6.3f}s ({mf:5.3f}) {done:6.3f}s ({md:5.3f}) "
            f"{first / base_first:14.2f}x {versus_peer}"
        )
    print_phases(results)
    ours = best["lepton pool"][0]
    print(
        f"\ngoal: to the first step <= 0.5x torchrun: {verdict(ours / base_first <= 0.5)} "
        f"({ours / base_first:.2f}x)"
    )
    if peer:
        print(
            f"goal: to the first step <= notebook_launcher: {verdict(ours <= peer[0])} "
            f"({ours:.3f} s vs {peer[0]:.3f} s, {ours / peer[0]:.2f}x)"
        )
    return 1 if failures else 0


def print_phases(results: dict[str, list[Timing]]) -> None:
    """Median seconds from the launch call to each moment, per path: where the time goes."""
    columns = {
        "supervisor": "supervisor",
        "ranks": "ranks started",
        "entered": "in train()",
        "ddp": "DDP built",
        "first-step": "first step",
    }
    print("\nmedian seconds from the call to each moment (- : not seen on that path)")
    print(f"{'path':18s}" + "".join(f" {title:>13s}" for title in columns.values()))
    for name, runs in results.items():
        row = []
        for key in columns:
            seen = [{**r.lepton, **r.marks}.get(key) for r in runs]
            values = [v for v in seen if v is not None]
            row.append(f"{statistics.median(values):13.3f}" if values else f"{'-':>13s}")
        print(f"{name:18s} " + " ".join(row))


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
