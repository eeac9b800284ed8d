"""Rerun overhead: ``lepton runs rerun`` and ``papermill --engine lepton`` vs plain papermill.

All three execute the same 3-cell notebook (a parameters cell and two small cells) end to
end as a user runs them, each a fresh process starting a fresh kernel:

- ``papermill in.ipynb out.ipynb -p x 1``: the peer;
- ``papermill --engine lepton ...``: the same plus a recorded manifest;
- ``lepton runs rerun RUN``: checks the notebook, writes pins, reruns, writes manifest + diff
  (the ``lepton`` command also imports every subsystem's CLI module);
- ``rerun(RUN)`` from a Python process: the same rerun without the CLI.

The three are interleaved ``--repeat`` times (the machine is shared; interleaving spreads
its noise evenly) and medians compared. Goals: rerun <= 1.1x papermill; the engine alone
(a manifest, parameters read with papermill's inspection, papermill's outcome) <= 1.05x.

Run: ``python benchmarks/rerun.py`` (about a minute) or ``--repeat 7``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent
RERUN_API = "import sys; from lepton_jupyter.runs import rerun; rerun(sys.argv[1])"


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    parameters = nbformat.v4.new_code_cell("x = 0")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        parameters,
        nbformat.v4.new_code_cell("total = sum(i * x for i in range(1000))"),
        nbformat.v4.new_code_cell("print(total)"),
    ]
    nbformat.write(nb, str(path))


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the command and every process it waited for (the
    kernel included): on a shared machine the CPU figure is the steadier one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each command (default 5).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-rerun-") as tmp:
        root = Path(tmp)
        notebook = root / "in.ipynb"
        write_notebook(notebook)
        env = {**os.environ, "LEPTON_STATE_DIR": str(root / "state"), "DVC_NO_ANALYTICS": "1"}
        papermill = [str(BIN / "papermill"), str(notebook), str(root / "out.ipynb"), "-p", "x", "1"]
        engine = [*papermill, "--engine", "lepton"]
        timed(engine, env, root)  # the run to rerun; also warms the page cache
        (run_id,) = os.listdir(root / "state" / "runs")
        rerun = [str(BIN / "lepton"), "runs", "rerun", run_id]
        api = [sys.executable, "-c", RERUN_API, run_id]
        commands = {
            "papermill": papermill,
            "papermill --engine lepton": engine,
            "lepton runs rerun": rerun,
            "rerun() from Python": api,
        }
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                seconds, cpu_seconds = timed(command, env, root)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    base_wall, base_cpu = statistics.median(wall["papermill"]), statistics.median(cpu["papermill"])
    print(f"3-cell notebook, median of {args.repeat} interleaved runs, {os.cpu_count()} CPUs")
    for name in commands:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"  {name:26} wall {w:5.2f} s ({w / base_wall:4.2f}x)   "
            f"cpu {c:5.2f} s ({c / base_cpu:4.2f}x)"
        )
    goals = {
        "papermill --engine lepton": 1.05,
        "lepton runs rerun": 1.1,
        "rerun() from Python": 1.1,
    }
    for name, goal in goals.items():
        ratio = statistics.median(wall[name]) / base_wall
        cpu_ratio = statistics.median(cpu[name]) / base_cpu
        print(f"{name} / papermill = {ratio:.2f}x wall, {cpu_ratio:.2f}x cpu (goal <= {goal:.2f}x)")


if __name__ == "__main__":
    main()
