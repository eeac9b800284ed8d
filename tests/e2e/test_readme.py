"""The README's snippets run, top to bottom, as a reader would run them.

Every ```python and ```bash block of README.md is run in order in one kernel under
``papermill --engine lepton`` (a bash block is a ``%%bash`` cell with ``set -euo
pipefail``, as in a terminal in the same folder), unless an HTML comment right above it says
``readme-test: not run (REASON)``; blocks marked ``readme-test: notebook NAME`` are the
cells of a notebook the others use (``evaluate.ipynb``). The world is made here: a real DVC
data registry (tags v1, v2) standing in for the README's example URL, a workspace whose
``lepton.json`` carries the promotion gate the README configures, and ``train.ipynb``, the
reader's own notebook with a ``parameters`` cell. A snippet that stops running fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from lepton_jupyter.demo.world import create_data_registry
from lepton_jupyter.runs.store import RunStore
from lepton_jupyter.settings import write_workspace_file
from tests.fixtures.jobs import kill_job_processes

README = Path(__file__).resolve().parents[2] / "README.md"
PAPERMILL = str(Path(sys.executable).with_name("papermill"))
EXAMPLE_DATA_URL = "https://git.example.org/team/data-registry.git"
BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<marker>[^>]*?) -->\n)?```(?P<lang>python|bash)\n(?P<body>.*?)```",
    re.S,
)
# The gate the README's comparison section configures.
GATES = {"vision/spiral@prod": {"dataset": "datasets/points", "metric": "correct", "min_delta": 0}}
TRAIN = [
    ("lr = 0.1", ["parameters"]),
    (
        "from lepton_jupyter import attach, log_metric\n"
        "from lepton_jupyter.datasets import default_registry\n\n"
        'points = attach(default_registry(), "datasets/points", rev="v2", to="points")\n'
        'log_metric("loss", round(1 / (1 + lr), 6))',
        [],
    ),
]


@dataclass(frozen=True)
class Snippet:
    lang: str
    body: str
    marker: str | None

    @property
    def runs(self) -> bool:
        return self.marker is None


def snippets() -> list[Snippet]:
    text = README.read_text()
    return [Snippet(m["lang"], m["body"], m["marker"]) for m in BLOCK.finditer(text)]


def notebook(cells: list[tuple[str, list[str]]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.metadata["kernelspec"]["language"] = "python"  # papermill reads it
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    return nb


def as_cell(snippet: Snippet, data_url: str) -> str:
    body = snippet.body.replace(EXAMPLE_DATA_URL, data_url).rstrip()
    return f"%%bash\nset -euo pipefail\n{body}" if snippet.lang == "bash" else body


def test_every_snippet_runs_or_says_why_not():
    # Given the README's python and bash blocks
    blocks = snippets()
    # Then each is run, a named notebook's cell, or not run for a stated reason
    for s in blocks:
        assert s.marker is None or re.fullmatch(
            r"not run \(.{10,}\)|notebook [\w.-]+\.ipynb", s.marker
        ), s.marker
    # And the sections a reader copies from (datasets, jobs, registry, runs, compare) run
    run = [s for s in blocks if s.runs]
    assert len(run) >= 9, [s.body[:40] for s in run]
    for verb in ("attach(", "launch(", "publish(", "rollback(", "rerun(", "compare("):
        assert any(verb in s.body for s in run), verb
    assert any("papermill --engine lepton" in s.body for s in run if s.lang == "bash")


@pytest.mark.slow
@pytest.mark.timeout(2400)  # about 20 kernels (runs, reruns, evaluations) and two jobs
def test_the_readme_runs_top_to_bottom(tmp_path: Path, lepton_state: Path):
    # Given a data registry for the README's example URL and a workspace naming it
    data = create_data_registry(tmp_path / "data-registry", tmp_path / "dvc-remote")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_workspace_file(workspace, data_registries=[str(data)], promotion_gates=GATES)
    nbformat.write(notebook(TRAIN), workspace / "train.ipynb")
    blocks = snippets()
    evaluate = [(s.body, []) for s in blocks if s.marker == "notebook evaluate.ipynb"]
    evaluate[0] = (evaluate[0][0], ["parameters"])
    nbformat.write(notebook(evaluate), workspace / "evaluate.ipynb")
    readme = notebook([(as_cell(s, str(data)), []) for s in blocks if s.runs])
    nbformat.write(readme, tmp_path / "readme.ipynb")
    # (the bash cells find lepton and papermill as in the README's activated environment)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # When every snippet runs in order in one kernel, in the workspace
    notebooks = [str(tmp_path / "readme.ipynb"), str(tmp_path / "out.ipynb")]
    try:
        done = subprocess.run(
            [PAPERMILL, "--engine", "lepton", "--cwd", str(workspace), *notebooks],
            capture_output=True,
            text=True,
            timeout=2300,
            env=env,
        )
    finally:
        kill_job_processes(lepton_state / "jobs")
    # Then it ran to the end
    assert done.returncode == 0, done.stderr[-6000:]
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    text = "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for cell in out.cells
        for o in cell.get("outputs", [])
    )
    # And what the README says each step shows is what it showed
    assert "Alias 'prod' of vision/spiral is gated" in text
    assert "vision/spiral:2 is better" in text
    runs = RunStore(lepton_state / "runs").list(limit=None)
    trained = [r for r in runs if r.notebook.path == str(workspace / "train.ipynb")]
    # (the run, its CLI reruns with --check and with lr=0.2, and rerun() from the API)
    assert [r.status for r in trained] == ["completed"] * 4
    assert sorted(r.parameters["lr"] for r in trained) == [0.1, 0.1, 0.1, 0.2]
    evaluations = [r for r in runs if r.notebook.path == str(workspace / "evaluate.ipynb")]
    assert evaluations and {r.status for r in evaluations} == {"completed"}
