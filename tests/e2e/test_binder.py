"""Binder's steps, run here: everything but the network (the pip installs of postBuild).

``binder/demo`` (the image build's local steps) runs with a fresh ``HOME`` and this
environment's tools on ``PATH``; then ``binder/start jupyter lab`` serves ``HOME`` as Binder
does, and the page the README's badge opens must be there with the demo's state behind it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.jobs import kill_job_processes
from tests.ui.conftest import JUPYTER, LabServer, lab_options, running_lab

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"
BADGE = re.compile(r"https://mybinder\.org/v2/gh/[^)\s]+\?urlpath=([^)\s]+)")


def binder_env(home: Path) -> dict[str, str]:
    """Binder's user: its own HOME, the image's tools on PATH, no LEPTON_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    bin_dir = str(Path(sys.executable).parent)
    return {**env, "HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}


@pytest.fixture(scope="module")
def binder_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("jovyan")
    # postBuild runs in the repo folder, which is HOME on Binder; its network steps are the
    # pip installs this environment already has, then the local steps:
    done = subprocess.run(
        ["bash", str(BINDER / "demo")],
        cwd=home,
        env=binder_env(home),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-3000:]
    yield home
    kill_job_processes(home / "lepton-demo" / "state" / "jobs")


@pytest.fixture(scope="module")
def binder_lab(tmp_path_factory: pytest.TempPathFactory, binder_home: Path) -> Iterator[LabServer]:
    """``binder/start jupyter lab``, serving HOME as Binder's server does."""
    options, server = lab_options(tmp_path_factory.mktemp("binder-lab"))
    command = [str(BINDER / "start"), str(JUPYTER), "lab", *options]
    with running_lab(command, server, cwd=binder_home, env=binder_env(binder_home)) as running:
        yield running


@pytest.mark.slow
def test_binder_opens_on_the_demo_notebook_with_the_demos_state(
    binder_home: Path, binder_lab: LabServer
):
    # Given the README's Binder badge
    (urlpath,) = {m.group(1) for m in BADGE.finditer((REPO / "README.md").read_text())}
    assert urlpath.startswith("lab/tree/") and urlpath.endswith("demo.ipynb"), urlpath
    # Then the notebook it opens was made at build time and the server serves it
    assert (binder_home / urlpath.removeprefix("lab/tree/")).is_file()
    with urllib.request.urlopen(binder_lab.url(urlpath), timeout=30) as page:
        assert page.status == 200
    # And the server serves the state the build's demo made: its job, model and both runs
    status = binder_lab.get_json("lepton/api/status")
    state = binder_home / "lepton-demo" / "state"
    assert str(state / "runs") in status["services"]["runs"]["detail"]
    runs = binder_lab.get_json("lepton/api/runs")
    assert len(runs) == 2 and sum(1 for r in runs if r["rerun_of"]) == 1, runs
    jobs = binder_lab.get_json("lepton/api/jobs")["jobs"]
    # (the first run's job and its rerun's)
    assert [(j["name"], j["status"]) for j in jobs] == [("spirals", "succeeded")] * 2, jobs
    models = binder_lab.get_json("lepton/api/registry/models")
    assert "demo/spirals" in str(models)
    # And the sidebar offers the demo's data registry
    assert (
        str(binder_home / "lepton-demo" / "data-registry")
        in status["services"]["datasets"]["detail"]
    )
