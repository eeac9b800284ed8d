"""The README's first hour: ``lepton demo``, then the command it prints, then the sidebar.

Nothing is configured by hand: the shell has no ``LEPTON_*`` variable, the demo runs as the
README's quick start runs it, and ``jupyter lab`` is started by the very line the demo
printed (plus the options that give a test its own port, token and settings).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.fixtures.jobs import kill_job_processes

from .conftest import LabServer, lab_options, running_lab, save_screenshot
from .test_panels import JOB_TIMEOUT_MS, collapse_others, open_sidebar, section, widen_sidebar

pytestmark = pytest.mark.browser

LEPTON = str(Path(sys.executable).with_name("lepton"))


def clean_env() -> dict[str, str]:
    """A new user's shell: no LEPTON_* variable (the autouse fixture sets one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env["DVC_NO_ANALYTICS"] = "1"
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``lepton demo`` with no options in an empty folder; its output, parsed.

    The folder is a short one in the temp folder, not pytest's, so the README's screenshots
    of this world show paths like a user's.
    """
    folder = Path(tempfile.mkdtemp(prefix="lepton-"))
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
    shutil.rmtree(folder, ignore_errors=True)


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


def show_only(sidebar: Any, name: str) -> None:
    """Expand section ``name`` and collapse the others."""
    collapse_others(sidebar, name)
    toggle = section(sidebar, name).locator(".lepton-section-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def test_the_readme_pictures_each_panel_in_the_demo_world(
    demo_lab: LabServer, demo: dict[str, Any], page: Page, artifacts_dir: Path
) -> None:
    """The README's screenshots (``LEPTON_UPDATE_SCREENSHOTS=1``): each panel showing one
    of the demo's things in detail."""
    sidebar = open_sidebar(page, demo_lab)
    widen_sidebar(page)
    # Datasets: the demo's data registry browsed, its dataset attached in the workspace
    show_only(sidebar, "datasets")
    datasets = section(sidebar, "datasets")
    # (the field starts on the registry the workspace's lepton.json names)
    expect(datasets.get_by_label("Data registry")).to_have_value(
        str(demo["root"] / "data-registry")
    )
    datasets.get_by_role("button", name="Browse").click()
    expect(
        datasets.locator(".lepton-registry-dataset[data-path='datasets/points']")
    ).to_be_visible()
    save_screenshot(datasets, "datasets", artifacts_dir)
    # Jobs: the first run's training job, its ranks and loss curve
    show_only(sidebar, "jobs")
    jobs = section(sidebar, "jobs")
    jobs.locator(".lepton-job", has_text="spirals").last.click()
    expect(jobs.locator(".lepton-job-detail .lepton-loss-chart polyline").first).to_be_visible()
    save_screenshot(jobs, "jobs", artifacts_dir)
    # Models: demo/spirals, @prod moved to version 2, version 1's lineage
    show_only(sidebar, "models")
    models = section(sidebar, "models")
    models.get_by_role("option", name="demo/spirals").click()
    detail = models.locator(".lepton-model-detail")
    detail.get_by_role("option", name="version 1").click()
    # (the whole graph: data -> job -> version -> the run that published it)
    run_node = detail.locator('.lepton-lineage-node[data-kind="run"]').first
    expect(run_node).to_be_visible()
    run_node.scroll_into_view_if_needed()
    save_screenshot(models, "models", artifacts_dir)
    # Runs: the rerun and its diff against the first run
    show_only(sidebar, "runs")
    runs = section(sidebar, "runs")
    runs.get_by_role("option", name=re.compile(f"run {demo['runs'][1]}")).click()
    expect(runs.locator(".lepton-diff")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    save_screenshot(runs, "runs", artifacts_dir)


def main_tab(page: Page, label: str, widget_id: str) -> Locator:
    """The main-area widget ``widget_id``, once its tab labelled ``label`` shows."""
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=label)
    expect(tab).to_be_visible()
    widget = page.locator(f"#{widget_id}")
    expect(widget).to_be_visible()
    return widget


def test_each_panel_opens_wide_in_a_main_area_tab(
    demo_lab: LabServer, demo: dict[str, Any], page: Page, artifacts_dir: Path
) -> None:
    # Given the demo workspace's sidebar
    sidebar = open_sidebar(page, demo_lab)
    # When the user opens Runs in a tab
    section(sidebar, "runs").get_by_role("button", name="Open Runs in a tab").click()
    runs = main_tab(page, "Lepton Runs", "lepton-wide-runs")
    # Then a table lists both runs with a column per metric the demo logged
    table = runs.get_by_role("table", name="Runs")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("th[data-column='metric:test_accuracy']")).to_be_visible()
    # And it sorts by a column, either way (newest first, then oldest first)
    first, rerun = demo["runs"]
    rows = table.locator("tbody tr")
    expect(rows.first).to_have_attribute("data-run", rerun)
    header = table.locator("th[data-column='started']")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_have_attribute("data-run", first)
    # And a row opens the run's detail under the table
    rows.first.click()
    expect(runs.locator(".lepton-run-detail")).to_contain_text(f"Run {first}")
    save_screenshot(runs, "runs-wide", artifacts_dir, readme=False)

    # When they open Models in a tab, Then a version's lineage shows there
    section(sidebar, "models").get_by_role("button", name="Open Models in a tab").click()
    models = main_tab(page, "Lepton Models", "lepton-wide-models")
    models.get_by_role("option", name="demo/spirals").click()
    models.locator(".lepton-model-detail").get_by_role("option", name="version 1").click()
    expect(models.locator(".lepton-lineage")).to_be_visible()

    # When they open Jobs in a tab, Then a job shows its whole logs, every rank's
    section(sidebar, "jobs").get_by_role("button", name="Open Jobs in a tab").click()
    jobs = main_tab(page, "Lepton Jobs", "lepton-wide-jobs")
    jobs.locator(".lepton-job", has_text="spirals").last.click()
    detail = jobs.locator(".lepton-job-detail")
    expect(detail.locator(".lepton-logs summary")).to_have_text("Logs (every line)")
    expect(detail.locator(".lepton-log-text")).to_contain_text("==> rank 1 <==")


def test_a_reruns_output_opens_read_only(
    demo_lab: LabServer, demo: dict[str, Any], page: Page
) -> None:
    # Given the rerun, whose output notebook lives in the state folder, outside the root
    sidebar = open_sidebar(page, demo_lab)
    runs = section(sidebar, "runs")
    runs.get_by_role("option", name=re.compile(f"run {demo['runs'][1]}")).click()
    # When the user opens its output
    runs.get_by_role("button", name="Open output (read-only)").click()
    # Then a tab shows the executed notebook in a sandboxed frame: no editing, no scripts
    rerun = demo["runs"][1]
    view = main_tab(page, "demo.ipynb (read-only)", f"lepton-run-output-{rerun}")
    frame = view.locator("iframe")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator(".lepton-run-output iframe").locator("body")).to_contain_text(
        "demo/spirals"
    )
    expect(page.locator(".jp-Notebook")).to_have_count(0)


def test_paths_in_the_narrow_sidebar_wrap_at_slashes(
    demo_lab: LabServer, demo: dict[str, Any], page: Page
) -> None:
    # Given the sidebar at its default width and a run whose paths are long
    sidebar = open_sidebar(page, demo_lab)
    runs = section(sidebar, "runs")
    runs.get_by_role("option", name=re.compile(f"run {demo['runs'][1]}")).click()
    output = runs.locator(".lepton-run-detail dd").nth(1)
    path = output.inner_text().replace("\n", "")
    assert path.endswith("output.ipynb"), path
    # Then it wraps only where a path may (after a '/' or a '-'), not per character
    lines = output.evaluate(
        """(dd) => {
            // The text of each line: the characters grouped by the top of their box.
            const lines = new Map();
            const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                for (let i = 0; i < n.length; i++) {
                    const r = document.createRange();
                    r.setStart(n, i);
                    r.setEnd(n, i + 1);
                    const top = Math.round(r.getBoundingClientRect().top);
                    lines.set(top, (lines.get(top) || '') + n.data[i]);
                }
            }
            return [...lines.values()];
        }"""
    )
    assert "".join(lines) == path, lines
    assert all(line[-1] in "/-" for line in lines[:-1]), lines
