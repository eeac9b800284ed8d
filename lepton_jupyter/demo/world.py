"""``lepton demo``: a fresh workspace with a real DVC data registry, then the demo notebook.

The data registry is what a team would have: a git repo whose DVC-tracked folder holds a
small synthetic classification dataset, pushed to a local DVC remote, with tags ``v1`` and
``v2`` as its versions. The demo notebook then runs in the workspace under papermill.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import random
import shlex
import shutil
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import Conflict
from ..settings import ENV_PREFIX, export_env, load_settings, write_workspace_file

DATASET_PATH = "datasets/points"
DATASET_DESCRIPTION = "Two interleaved 2-D spirals, labelled 0/1; train.csv and test.csv."


def demo_notebook() -> Path:
    """The demo notebook, shipped in the wheel and kept in ``notebooks/`` in the repo."""
    shipped = resources.files("lepton_jupyter") / "notebooks" / "demo.ipynb"
    if shipped.is_file():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[2] / "notebooks" / "demo.ipynb"


def write_points(folder: Path, n: int, seed: int) -> None:
    """Two noisy interleaved spirals: learnable, but not by a straight line."""
    import math

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        label = i % 2
        t = rng.uniform(0.25, 3.0)
        angle = t * 2.2 + label * math.pi
        x = t * math.cos(angle) + rng.gauss(0, 0.12)
        y = t * math.sin(angle) + rng.gauss(0, 0.12)
        rows.append((round(x, 5), round(y, 5), label))
    split = int(n * 0.8)
    for name, part in (("train.csv", rows[:split]), ("test.csv", rows[split:])):
        with (folder / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "y", "label"])
            writer.writerows(part)


def create_data_registry(root: Path, remote: Path) -> Path:
    """A git + DVC data registry at ``root`` pushed to the local remote ``remote``.

    ``v1`` holds 400 points, ``v2`` 1200 (more data, same task); ``main`` is at ``v2``.
    """
    import pygit2
    from dvc.repo import Repo

    # A fresh machine may have no git identity; the demo registry still needs commits.
    for var, value in (
        ("GIT_AUTHOR_NAME", "lepton demo"),
        ("GIT_COMMITTER_NAME", "lepton demo"),
        ("GIT_AUTHOR_EMAIL", "demo@lepton.invalid"),
        ("GIT_COMMITTER_EMAIL", "demo@lepton.invalid"),
    ):
        os.environ.setdefault(var, value)
    # DVC's hints ("To track the changes with git, run ...") are for humans at a prompt.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    root.mkdir(parents=True)
    pygit2.init_repository(str(root))
    with Repo.init(str(root)) as repo:
        with repo.config.edit() as conf:
            conf["core"]["remote"] = "storage"
            conf["core"]["analytics"] = False
            conf["remote"]["storage"] = {"url": str(remote)}
        # Teams name their default branch main; git's own default may still be master.
        repo.scm.set_ref("HEAD", "refs/heads/main", symbolic=True)
        repo.scm.add([str(root / p) for p in (".dvc/config", ".dvc/.gitignore", ".dvcignore")])
        repo.scm.commit("Initialise the data registry")
        for tag, n in (("v1", 400), ("v2", 1200)):
            write_points(root / DATASET_PATH, n, seed=n)
            (stage,) = repo.add(str(root / DATASET_PATH))
            stage.outs[0].annot.desc = DATASET_DESCRIPTION
            stage.dump()
            repo.push()
            tracked = root / DATASET_PATH
            repo.scm.add([f"{tracked}.dvc", str(tracked.parent / ".gitignore")])
            repo.scm.commit(f"points: {n} samples")
            repo.scm.tag(tag, annotated=True, message=f"points {tag}: {n} samples")
    return root


def create_workspace(directory: Path) -> dict[str, Path]:
    """A fresh demo workspace: the data registry, its remote, and a project folder.

    The project folder's ``lepton.json`` names the demo's state folder and data registry,
    so ``jupyter lab``, kernels and ``lepton`` started there find them with no variable set.
    """
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise Conflict(f"Demo directory {directory} is not empty; pass an empty or new --dir.")
    registry = create_data_registry(directory / "data-registry", directory / "dvc-remote")
    workspace = directory / "workspace"
    workspace.mkdir()
    notebook = workspace / "demo.ipynb"
    shutil.copyfile(demo_notebook(), notebook)
    state = directory / "state"
    settings_file = write_workspace_file(
        workspace, state_dir=str(state), data_registries=[str(registry)]
    )
    return {
        "root": directory,
        "data_registry": registry,
        "workspace": workspace,
        "notebook": notebook,
        "state": state,
        "settings_file": settings_file,
    }


def run_demo(directory: Path, *, log_output: bool = False) -> dict[str, Any]:
    """Create the workspace, run the demo notebook, then move on and rerun it exactly.

    The notebook runs under the ``lepton`` papermill engine, so the run is recorded with
    everything it resolved. Then the team "moves on" (a newer model takes ``@prod``, the
    data registry tags ``v3`` on main) and the first run is rerun under its pins.
    """
    import papermill

    from .rerun_check import demo_rerun_check

    paths = create_workspace(directory)
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    started = time.monotonic()
    output = paths["workspace"] / "demo-output.ipynb"
    # papermill runs the kernel in ``cwd`` and our API resolves the workspace from the
    # process's cwd, so the whole demo works from inside the workspace.
    previous_cwd = Path.cwd()
    os.chdir(paths["workspace"])
    # The demo keeps all of lepton's state inside its folder, where the workspace file
    # points, whatever LEPTON_* variables this shell has: `jupyter lab` started there later
    # must see exactly what the demo made. Kernels and job ranks inherit these.
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        del os.environ[name]
    export_env(load_settings())
    try:
        nb = papermill.execute_notebook(
            str(paths["notebook"]),
            str(output),
            parameters={"data_registry": str(paths["data_registry"])},
            engine_name="lepton",
            cwd=str(paths["workspace"]),
            log_output=log_output,
            progress_bar=not log_output,
        )
        run_id = nb.metadata["lepton"]["run_id"]
        first_run = time.monotonic() - started
        # A dry-run rerun: it reproduces, it does not release (nothing is published).
        check = demo_rerun_check(run_id)
    finally:
        os.chdir(previous_cwd)
    return {
        **paths,
        "output": output,
        "run_id": run_id,
        "check": check,
        "first_run_seconds": first_run,
        "seconds": time.monotonic() - started,
    }


def _demo_command(args: argparse.Namespace) -> int:
    directory = Path(args.dir) if args.dir else Path.cwd() / f"lepton-demo-{int(time.time())}"
    print(f"lepton demo: workspace in {directory}", file=sys.stderr)
    result = run_demo(directory, log_output=args.verbose)
    print(_summary(result))
    return 0 if result["check"].identical else 1


def _summary(result: dict[str, Any]) -> str:
    import nbformat

    nb = nbformat.read(result["output"], as_version=4)
    lines = [
        f"Demo finished in {result['seconds']:.1f} s "
        f"(first run {result['first_run_seconds']:.1f} s, then the exact rerun).",
        f"  data registry : {result['data_registry']}",
        f"  workspace     : {result['workspace']}",
        f"  first run     : {result['run_id']} -> {result['output']}",
    ]
    for cell in nb.cells:
        if "summary" in cell.metadata.get("tags", []):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    lines.extend("  " + line for line in out["text"].splitlines() if line)
    lines.append(result["check"].report())
    lines.append(
        "Open the workspace in JupyterLab; the Lepton sidebar shows the dataset, the job, "
        "the model and both runs:"
    )
    lines.append(f"  {open_command(result['workspace'])}")
    return "\n".join(lines)


def open_command(workspace: Path) -> str:
    """The shell line that opens ``workspace`` in JupyterLab: ``jupyter`` when the one on
    PATH is this environment's, else its full path (a venv that is not activated)."""
    jupyter = Path(sys.executable).with_name("jupyter")
    on_path = shutil.which("jupyter")
    same = on_path is not None and Path(on_path).resolve() == jupyter.resolve()
    program = "jupyter" if same else shlex.quote(str(jupyter))
    return f"cd {shlex.quote(str(workspace))} && {program} lab"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="Create a demo workspace and run the demo notebook end to end."
    )
    parser.add_argument("--dir", help="Empty or new folder for the demo (default: ./lepton-demo-*)")
    parser.add_argument("-v", "--verbose", action="store_true", help="Stream notebook output.")
    parser.set_defaults(func=_demo_command)
