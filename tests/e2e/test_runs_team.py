"""Reruns as a team uses them: the workspace moved on, two reruns at once, a publishing notebook.

Real papermill kernels, a real git workspace, a real git + DVC data registry and the real
registry store. A rerun must read the data its original run pinned whatever the workspace
holds now, leave the workspace (data, .dvc file, git status) as it was, and change nothing
shared unless asked.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import papermill
import pytest

import lepton_jupyter as lepton
from lepton_jupyter import pins
from lepton_jupyter.registry.api import resolve
from lepton_jupyter.runs import rerun
from lepton_jupyter.runs.store import RunStore
from tests.fixtures.datasets import IMAGES_PATH, DataRegistry
from tests.fixtures.runs import LEPTON, git, write_notebook

pytestmark = pytest.mark.slow

DATA_PARAMETERS = 'data_registry = ""'
DATA_CELLS = [
    """\
import glob, hashlib, os
import lepton_jupyter as lepton

ds = lepton.attach(data_registry, "datasets/images", rev="main", to="images")
files = sorted(p for p in glob.glob("images/**", recursive=True) if os.path.isfile(p))
digest = hashlib.sha256(b"".join(p.encode() + open(p, "rb").read() for p in files))
lepton.log_metric("files", len(files))
print(ds.commit, len(files), digest.hexdigest())""",
    "lepton.attached()",
    'print("this is run", lepton.pins.run_id(), "reading", os.path.abspath("images"))',
]

PUBLISH_CELLS = [
    """\
import torch
import lepton_jupyter as lepton

torch.manual_seed(0)
model = torch.nn.Linear(3, 2)
version = lepton.publish("team/m", model, alias="prod")
print("published", version.ref, version.digest)""",
    """\
state = lepton.load_state_dict("team/m@prod")
lepton.log_metric("weight_sum", float(state["weight"].sum()))""",
    'lepton.lineage("team/m@prod")',
    'print("run", lepton.pins.run_id())',
]


def _papermill(notebook: Path, parameters: dict | None = None) -> str:
    nb = papermill.execute_notebook(
        str(notebook),
        str(notebook.with_name("out.ipynb")),
        parameters=parameters,
        engine_name="lepton",
        cwd=str(notebook.parent),
        progress_bar=False,
    )
    pins.reset()
    return nb.metadata["lepton"]["run_id"]


def _snapshot(workspace: Path) -> dict:
    """What a rerun must leave alone: the data folder's files, the .dvc file, git status."""
    files = {
        p.relative_to(workspace).as_posix(): (p.stat().st_ino, p.read_bytes())
        for p in sorted((workspace / "images").rglob("*"))
        if p.is_file()
    }
    return {
        "files": files,
        "dvc": (workspace / "images.dvc").read_text(),
        "status": git("status", "--porcelain", cwd=workspace),
    }


@pytest.fixture
def moved_on(fresh_registry: DataRegistry, tmp_path: Path, lepton_state: Path):
    """R1 attached images at main (commit X); main moved to Y and the user updated to it;
    R2 ran then, at Y. The workspace is a git repo with the import committed."""
    workspace = tmp_path / "workspace"
    notebook = write_notebook(workspace / "nb.ipynb", DATA_CELLS, DATA_PARAMETERS)
    git("init", "-q", "-b", "main", cwd=workspace)
    first = _papermill(notebook, {"data_registry": fresh_registry.url})
    git("add", "nb.ipynb", "images.dvc", ".gitignore", ".dvc", cwd=workspace)
    git("commit", "-q", "-m", "notebook + images at main", cwd=workspace)
    x = fresh_registry.commit_of("main")
    y = fresh_registry.add_dataset(IMAGES_PATH, 14, seed=5)
    assert lepton.update("images", workspace=workspace, progress=False).commit == y
    second = _papermill(notebook, {"data_registry": fresh_registry.url})
    (workspace / "out.ipynb").unlink()
    return {"workspace": workspace, "runs": (first, second), "commits": (x, y)}


def test_a_rerun_after_update_reads_its_pinned_data_and_leaves_the_workspace_alone(moved_on):
    workspace = moved_on["workspace"]
    first, _ = moved_on["runs"]
    x, y = moved_on["commits"]
    before = _snapshot(workspace)
    # When R1 (which read commit X) is rerun in a workspace that now holds Y
    run = rerun(first)
    # Then it read exactly X, in its own folder, and the diff finds nothing
    original = RunStore(Path(os.environ["LEPTON_STATE_DIR"]) / "runs").get(first)
    (pin,) = [p for p in run.diff().pins if p.kind == "dataset"]
    assert (pin.status, pin.after["commit"]) == ("held", x)
    assert run.metrics == original.metrics == {"files": 10}
    result = run.diff()
    assert result.identical, result.summary()
    # Only presentation differs: the rerun folder in attached(), the cell printing its run id
    assert [c.source[:18] for c in result.presentation] == [
        "lepton.attached()",
        'print("this is run',
    ]
    # And the manifest says where it ran and how
    m = run.manifest
    assert (m.cwd, m.rerun_mode) == (str(workspace), "dry-run")
    assert m.workdir == str(run.folder / "workdir")
    # And the workspace still holds Y: same files (same inodes), .dvc file, git status
    assert _snapshot(workspace) == before
    assert lepton.attached(workspace=workspace)[0].commit == y
    # And the rerun's own copy of the data is released; its folder mirrors the workspace
    assert not (run.folder / "workdir" / "images").exists()
    assert os.readlink(run.folder / "workdir" / "nb.ipynb") == str(workspace / "nb.ipynb")


def test_two_reruns_of_the_same_notebook_at_once_are_both_exact(moved_on):
    first, second = moved_on["runs"]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    # When R1 (commit X) and R2 (commit Y) are rerun at the same time, from the CLI
    procs = [
        subprocess.Popen(
            [LEPTON, "runs", "rerun", run_id, "--check", "--json"],
            cwd=moved_on["workspace"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id in (first, second)
    ]
    outcomes = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            outcomes.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    # Then both are identical to their originals (exit 0 under --check)
    import json

    for (code, out, err), commit in zip(outcomes, moved_on["commits"], strict=True):
        assert code == 0, err[-3000:] + out[-3000:]
        diff = json.loads(out)["diff"]
        (pin,) = [p for p in diff["pins"] if p["kind"] == "dataset"]
        assert (pin["status"], pin["after"]["commit"]) == ("held", commit)
        assert json.loads(out)["run"]["rerun_mode"] == "dry-run"


def test_a_rerun_of_a_publishing_notebook_changes_nothing_shared(tmp_path, lepton_state):
    # Given a run that published team/m:1, moved @prod to it, loaded @prod and showed lineage
    workspace = tmp_path / "workspace"
    notebook = write_notebook(workspace / "nb.ipynb", PUBLISH_CELLS)
    first = _papermill(notebook)
    versions = [v.version for v in lepton.versions("team/m")]
    history = lepton.history("team/m", "prod")
    lineage = lepton.lineage("team/m:1")
    pins.reset()
    assert versions == [1] and len(history) == 1
    # When it is rerun (a dry run by default)
    run = rerun(first)
    # Then the registry's versions, alias history and load records are unchanged
    assert [v.version for v in lepton.versions("team/m")] == versions
    assert lepton.history("team/m", "prod") == history
    assert lepton.lineage("team/m:1").loaded_by == lineage.loaded_by
    # And the diff says the model bytes were reproduced and what was not applied
    result = run.diff()
    assert result.identical, result.summary()
    assert result.model_bytes_reproduced is True
    assert "model team/m:1 bytes reproduced: yes" in result.summary()
    assert result.not_applied == ["publish team/m:1 (+ @prod)"]
    # And `lepton runs rerun --check` agrees, saying the mode
    done = subprocess.run(
        [LEPTON, "runs", "rerun", first, "--check"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "(dry-run)" in done.stdout and "bytes reproduced: yes" in done.stdout
    # When the rerun is asked to apply, Then it publishes and moves @prod for real
    pins.reset()
    applied = rerun(first, apply=True)
    assert applied.manifest.rerun_mode == "apply"
    assert [v.version for v in lepton.versions("team/m")] == [1, 2]
    assert resolve("team/m@prod").version == 2
    assert applied.diff().model_bytes_reproduced is True
