"""Every tutorial in ``notebooks/`` runs top to bottom with ``papermill --engine lepton``.

Each runs in a fresh workspace whose ``lepton.json`` names a real DVC data registry made
here (tags v1, v2), as ``lepton demo`` leaves one, so no notebook needs a parameter. A
tutorial that stops running, or stops showing what it teaches, fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lepton_jupyter.demo.world import create_data_registry
from lepton_jupyter.runs.store import RunStore
from lepton_jupyter.settings import write_workspace_file
from tests.fixtures.jobs import kill_job_processes

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TUTORIALS = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))
PAPERMILL = str(Path(sys.executable).with_name("papermill"))
# What each tutorial must show, beyond running without an error.
SHOWS = {
    "01-datasets.ipynb": ["newer tag upstream: v2", "v2: ", "detached tutorial-points"],
    "02-launching.ipynb": ["succeeded: y = ", "loss ", "tutorial-fit succeeded", "cancelled"],
    "03-registry-and-promotion.ipynb": [
        "prod serves 3.00",
        "prod serves 2.90",
        "rollback: v2 -> v1",
    ],
    "04-reruns-and-diffs.ipynb": ["recorded run", ": identical", "final_loss"],
    "05-hub.ipynb": ["alice published vision/spiral:1", "bob loads [1.0, 1.0]", "Forbidden"],
    "06-federated.ipynb": [
        "start accuracy",
        "round 2 accuracy",
        "organisation parents: clinic-a, clinic-b, clinic-c",
    ],
}


@pytest.fixture(scope="module")
def data_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tutorial-data")
    return create_data_registry(folder / "data-registry", folder / "dvc-remote")


def test_every_tutorial_is_checked():
    assert len(TUTORIALS) >= 5 and set(TUTORIALS) == set(SHOWS), TUTORIALS


@pytest.mark.slow
@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs_under_the_lepton_engine(
    name: str, data_registry: Path, tmp_path: Path, lepton_state: Path
):
    # Given a workspace that names a data registry, as `lepton demo` leaves one
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_workspace_file(workspace, data_registries=[str(data_registry)])
    output = workspace / f"out-{name}"
    # When the tutorial runs as a batch job, recorded by the lepton engine
    try:
        done = subprocess.run(
            [PAPERMILL, "--engine", "lepton", str(NOTEBOOKS / name), str(output)],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        # Jobs it launched; the hub tutorial's registry service (it keeps its state in the
        # workspace) if the notebook stopped before stopping it.
        kill_job_processes(lepton_state / "jobs")
        kill_job_processes(workspace)
    # Then it ran to the end, was recorded, and shows what it teaches
    assert done.returncode == 0, done.stderr[-4000:]
    notebook = nbformat.read(output, as_version=4)
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join(
        o["text"] if o["output_type"] == "stream" else o.get("data", {}).get("text/plain", "")
        for o in outputs
    )
    for expected in SHOWS[name]:
        assert expected in text, f"{name} no longer shows {expected!r}"
    runs = RunStore(lepton_state / "runs").list(limit=None)
    mine = [r for r in runs if r.notebook.path == str(NOTEBOOKS / name)]
    assert [r.status for r in mine] == ["completed"]
