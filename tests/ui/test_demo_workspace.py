"""The README's first hour: ``lepton demo``, then the command it prints, then the sidebar.

Nothing is configured by hand: the shell has no ``LEPTON_*`` variable, the demo runs as the
README's quick start runs it, and ``jupyter lab`` is started by the very line the demo
printed (plus the options that give a test its own port, token and settings).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.jobs import kill_job_processes

from .conftest import LabServer, lab_options, running_lab
from .test_panels import JOB_TIMEOUT_MS, open_sidebar, section

pytestmark = pytest.mark.browser

LEPTON = str(Path(sys.executable).with_name("lepton"))


def clean_env() -> dict[str, str]:
    """A new user's shell: no LEPTON_* variable (the autouse fixture sets one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env["DVC_NO_ANALYTICS"] = "1"
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``lepton demo`` with no options in an empty folder; its output, parsed."""
    folder = tmp_path_factory.mktemp("first-hour")
    done = subprocess.run(
        [LEPTON, "demo"], cwd=folder, env=clean_env(), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    (root,) = folder.glob("lepton-demo-*")
    first = re.search(r"first run\s*:\s*(\S+)", done.stdout)
    again = re.search(r"^Rerun (\S+):", done.stdout, re.MULTILINE)
    assert first and again, done.stdout
    yield {
        "root": root,
        "open_command": done.stdout.strip().splitlines()[-1].strip(),
        "runs": [first.group(1), again.group(1)],
    }
    kill_job_processes(root / "state" / "jobs")


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory: pytest.TempPathFactory, demo: dict[str, Any]) -> Iterator[LabServer]:
    """The printed ``cd WORKSPACE && .../jupyter lab``, run by a shell as the user would."""
    options, server = lab_options(tmp_path_factory.mktemp("demo-lab"))
    command = ["bash", "-c", " ".join([demo["open_command"], *options])]
    with running_lab(command, server, cwd=demo["root"].parent, env=clean_env()) as running:
        yield running


def test_jupyter_lab_in_the_demo_workspace_shows_what_the_demo_made(
    demo_lab: LabServer, demo: dict[str, Any], page: Page
) -> None:
    # Given the demo's workspace opened with the command the demo printed
    sidebar = open_sidebar(page, demo_lab)
    # Then the sidebar shows the attached dataset, the 2-rank job, the model and both runs
    datasets = section(sidebar, "datasets")
    attached = datasets.locator(".lepton-attached-dataset", has_text="datasets/points@main")
    expect(attached).to_be_visible(timeout=JOB_TIMEOUT_MS)
    # (the first run's job and its rerun's: the rerun trains again under the same pins)
    jobs = section(sidebar, "jobs").locator(".lepton-job", has_text="spirals")
    expect(jobs).to_have_count(2)
    expect(jobs.locator("[data-status='succeeded']")).to_have_count(2)
    expect(section(sidebar, "models").get_by_role("option", name="demo/spirals")).to_be_visible()
    runs = section(sidebar, "runs")
    for run in demo["runs"]:
        expect(runs.get_by_role("option", name=re.compile(f"run {run}"))).to_be_visible()
    # And the file browser shows the demo notebook in the folder the server serves
    page.locator('.jp-SideBar.jp-mod-left [data-id="filebrowser"]').click()
    expect(page.locator(".jp-DirListing-item[title^='Name: demo.ipynb']")).to_be_visible()
