"""Each sidebar panel's main flow, clicked through in a real JupyterLab on real data.

The data comes from ``tests/ui/world.py`` (a DVC data registry, an attached dataset, a
finished 2-rank CPU job, a model with two versions published from it and a papermill run
that loaded it), made once for the module. A screenshot of each panel lands in
``tests/artifacts/`` (the README's come from the demo world: test_demo_workspace.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from lepton_jupyter.runs.store import RunStore
from tests.fixtures.jobs import kill_job_processes
from tests.fixtures.processes import pid_alive, wait_for
from tests.fixtures.runs import write_notebook

from .conftest import REPO, LabServer, LabWorld, save_screenshot
from .test_sidebar import UI_TIMEOUT_MS, open_lab

pytestmark = pytest.mark.browser

# A 2-rank job or a papermill rerun on 2 busy cores: minutes, not seconds.
JOB_TIMEOUT_MS = 240_000

LAUNCH_CELL = """\
import lepton_jupyter

def train(steps):
    import time
    import torch
    import torch.distributed as dist
    from lepton_jupyter import report
    rank, world = dist.get_rank(), dist.get_world_size()
    for step in range(steps):
        loss = torch.tensor([1.0 / (step + 1 + rank)])
        dist.all_reduce(loss)
        report(step=step, loss=loss.item() / world, all_ranks=True)
        time.sleep(0.3)
    return rank

job = lepton_jupyter.launch(train, 8, nprocs=2, name="ui-train")
print("launched", job.id)"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The real data, made by ``world.py`` in its own process; what it started is stopped."""
    folder = tmp_path_factory.mktemp("ui-world")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("world.py")), str(folder)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    summary["folder"] = folder
    write_notebook(folder / "root" / "launch.ipynb", [LAUNCH_CELL])
    yield summary
    state = folder / "state"
    # Jobs launched from the page, and reruns the server started in their own sessions.
    kill_job_processes(state / "jobs")
    for run in RunStore(state / "runs").list(limit=None):
        if run.pid and pid_alive(run.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGTERM)
            wait_for(lambda pid=run.pid: not pid_alive(pid), timeout=30, message="rerun exit")


@pytest.fixture(scope="module")
def lab_world(world: dict[str, Any]) -> LabWorld:
    return LabWorld(root_dir=world["folder"] / "root", state_dir=world["folder"] / "state")


def open_sidebar(page: Page, lab_server: LabServer) -> Locator:
    # Tall enough for a whole panel in one screenshot.
    page.set_viewport_size({"width": 1280, "height": 1600})
    open_lab(page, lab_server)
    page.locator('.jp-SideBar.jp-mod-left [data-id="lepton-sidebar"]').click()
    sidebar = page.locator("#lepton-sidebar")
    expect(sidebar.locator(".lepton-version")).to_be_visible()
    return sidebar


def widen_sidebar(page: Page) -> None:
    """Drag the left area's edge so the panels have room for tables and graphs."""
    stack = page.locator("#jp-left-stack").bounding_box()
    assert stack is not None
    # The split handle is the one sitting on the left area's right edge.
    x = page.evaluate(
        """(edge) => {
            const handles = [...document.querySelectorAll('.lm-SplitPanel-handle')]
              .map(h => h.getBoundingClientRect())
              .filter(r => r.height > 100);
            handles.sort((a, b) => Math.abs(a.left - edge) - Math.abs(b.left - edge));
            return handles[0].left + handles[0].width / 2;
        }""",
        stack["x"] + stack["width"],
    )
    y = stack["y"] + 200
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(560, y, steps=5)
    page.mouse.up()


def section(sidebar: Locator, name: str) -> Locator:
    return sidebar.locator(f'[data-lepton-section="{name}"]')


def collapse_others(sidebar: Locator, keep: str) -> None:
    """Close the other sections, so the one under test has the sidebar to itself."""
    for name in ("datasets", "jobs", "models", "runs"):
        if name != keep:
            toggle = section(sidebar, name).locator(".lepton-section-toggle")
            if toggle.get_attribute("aria-expanded") == "true":
                toggle.click()


def test_datasets_attach_update_detach(
    lab_server: LabServer, world: dict[str, Any], page: Page, artifacts_dir: Path
) -> None:
    # Given the sidebar and the team's data registry
    sidebar = open_sidebar(page, lab_server)
    widen_sidebar(page)
    collapse_others(sidebar, "datasets")
    datasets = section(sidebar, "datasets")

    # When the user browses the registry
    datasets.get_by_label("Data registry").fill(world["data_registry"])
    datasets.get_by_role("button", name="Browse").click()

    # Then its dataset is listed with its versions, and the URL is remembered in settings
    item = datasets.locator('.lepton-registry-dataset[data-path="datasets/points"]')
    expect(item).to_be_visible()
    expect(item.locator("option[value='v1']")).to_have_count(1)
    expect(item.locator("option[value='v2']")).to_have_count(1)
    wait_for(
        lambda: (
            lab_server.get_json("lab/api/settings/lepton-jupyter:plugin")["settings"].get(
                "dataRegistries"
            )
            == [world["data_registry"]]
        ),
        timeout=30,
        message="the data registry URL in the user settings",
    )

    # When they attach it at v2
    item.get_by_label("Version").select_option("v2")
    item.get_by_role("button", name="Attach").click()

    # Then it is listed as attached, pinned to v2
    attached = datasets.locator(".lepton-attached-dataset", has_text="datasets/points@v2")
    expect(attached).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(attached).to_contain_text("2 files")

    # And the older attach (v1) says a newer version is available
    old = datasets.locator('.lepton-attached-dataset[data-to="data/points-v1"]')
    expect(old.locator(".lepton-newer")).to_have_text("Newer version available: v2")
    save_screenshot(datasets, "datasets-flow", artifacts_dir, readme=False)

    # When they update it, it moves to v2; when they detach it, it is gone
    old.get_by_role("button", name="Update to v2").click()
    expect(old).to_contain_text("datasets/points@v2", timeout=JOB_TIMEOUT_MS)
    expect(old.locator(".lepton-newer")).to_have_count(0)
    old.get_by_role("button", name="Detach").click()
    expect(old).to_have_count(0, timeout=JOB_TIMEOUT_MS)
    assert not (lab_server.root_dir / "data" / "points-v1").exists()

    # Given a registry with a bigger dataset (600 files)
    images_registry = make_images_registry(world["folder"] / "images-registry")
    datasets.get_by_label("Data registry").fill(images_registry)
    datasets.get_by_role("button", name="Browse").click()
    images = datasets.locator('.lepton-registry-dataset[data-path="datasets/images"]')
    expect(images).to_be_visible()

    # When they attach it at v3 (the live progress bar is polled from /datasets/progress
    # while it runs; an attach here lasts under a second, too short to assert on without
    # flakiness, so the bar's polling and drawing are covered by attachProgress.spec.tsx)
    images.get_by_label("Version").select_option("v3")
    images.get_by_role("button", name="Attach").click()

    # Then the attach completes with all 600 files and the progress goes away
    attached_images = datasets.locator('.lepton-attached-dataset[data-to="images"]')
    expect(attached_images).to_contain_text("600 files", timeout=JOB_TIMEOUT_MS)
    expect(images.locator(".lepton-attach-progress")).to_have_count(0)
    attached_images.get_by_role("button", name="Detach").click()
    expect(attached_images).to_have_count(0, timeout=JOB_TIMEOUT_MS)


def rerun_record(world: dict[str, Any]) -> str:
    """The reruns of the world's run as recorded: status, error and the end of their log."""
    store = RunStore(world["folder"] / "state" / "runs")
    lines = []
    for run in store.list(limit=None):
        if run.rerun_of == world["run"]:
            log = store.root / run.id / "rerun.log"
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"
            lines.append(f"rerun {run.id}: {run.status} {run.error or ''}\n{tail}")
    return "\n".join(lines) or "no rerun recorded"


def make_images_registry(folder: Path) -> str:
    """The fixture registry with ``datasets/images`` (600 files, ``v3``), made in its own
    process like ``world.py`` (DVC and git identity stay out of the test process)."""
    code = (
        "import sys; from pathlib import Path; "
        "from tests.fixtures.datasets import make_registry; "
        "print(make_registry(Path(sys.argv[1])).url)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env["DVC_NO_ANALYTICS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1]


def test_jobs_launch_from_a_cell_and_watch_it_finish(
    lab_server: LabServer, page: Page, artifacts_dir: Path
) -> None:
    # Given a notebook whose cell launches a 2-rank CPU job
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(lab_server.url("lab/workspaces/lepton-ui-jobs/tree/launch.ipynb", reset=""))
    kernel_idle = page.get_by_role("button", name=re.compile(r"Python 3 \(ipykernel\) \| Idle"))
    expect(kernel_idle).to_be_visible(timeout=UI_TIMEOUT_MS)

    # When the user runs the cell in the page
    cell = page.locator(".jp-Notebook .jp-Cell").first
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(3):
        # A keystroke that lands while the notebook is still settling is lost (the
        # prompt stays "[ ]:"); only then is it pressed again, so the job starts once.
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(prompt).not_to_have_text(re.compile(r"^\[\s*\]:$"), timeout=15_000)
            break
        except AssertionError:
            continue
    output = page.locator(".jp-OutputArea-output", has_text="launched ui-train-")
    expect(output).to_be_visible(timeout=UI_TIMEOUT_MS)

    # Then the Jobs panel lists the job (it polls), and the user opens it
    page.locator('.jp-SideBar.jp-mod-left [data-id="lepton-sidebar"]').click()
    sidebar = page.locator("#lepton-sidebar")
    widen_sidebar(page)
    collapse_others(sidebar, "jobs")
    jobs = section(sidebar, "jobs")
    item = jobs.locator(".lepton-job", has_text="ui-train")
    expect(item).to_be_visible(timeout=JOB_TIMEOUT_MS)
    item.focus()
    page.keyboard.press("Enter")
    detail = jobs.locator(".lepton-job-detail")

    # And watches it finish: status, both ranks at their last step, a loss line per rank
    expect(detail.locator(".lepton-subheading [data-status='succeeded']")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    expect(item.locator("[data-status='succeeded']")).to_be_visible()
    for rank in (0, 1):
        row = detail.locator(f".lepton-ranks tr[data-rank='{rank}']")
        expect(row.locator(".lepton-rank-step")).to_have_text("7")
        expect(row.locator("td").last).to_have_text("0")
    expect(detail.locator(".lepton-loss-chart polyline")).to_have_count(2)
    expect(detail.locator(".lepton-log-text")).to_contain_text("==> rank 1 <==")
    expect(detail.get_by_role("button", name="Cancel job")).to_have_count(0)
    save_screenshot(jobs, "jobs-flow", artifacts_dir, readme=False)


def open_model(page: Page, lab_server: LabServer, name: str) -> tuple[Locator, Locator]:
    """The Models section alone in a widened sidebar with model ``name`` selected: the
    section and the model's detail."""
    sidebar = open_sidebar(page, lab_server)
    widen_sidebar(page)
    collapse_others(sidebar, "models")
    models = section(sidebar, "models")
    models.get_by_role("option", name=name).click()
    return models, models.locator(".lepton-model-detail")


def test_models_promote_roll_back_history_and_lineage(
    lab_server: LabServer, world: dict[str, Any], page: Page, artifacts_dir: Path
) -> None:
    # Given vision/spiral with @prod at v2 (moved there from v1)
    models, detail = open_model(page, lab_server, "vision/spiral")
    prod = detail.locator('.lepton-alias[data-alias="prod"]')
    expect(prod.locator(".lepton-alias-version")).to_have_text("v2")
    expect(detail.locator(".lepton-role strong")).to_have_text("admin")

    # When the user promotes v1 to @prod
    detail.get_by_label("Alias", exact=True).fill("prod")
    detail.locator(".lepton-promote-version").select_option("1")
    detail.get_by_role("button", name="Promote").click()
    # Then @prod points at v1
    expect(prod.locator(".lepton-alias-version")).to_have_text("v1")

    # When they roll it back, it is at v2 again, and the history tells the story
    prod.get_by_role("button", name="Roll back").click()
    expect(prod.locator(".lepton-alias-version")).to_have_text("v2")
    prod.get_by_role("button", name="History").click()
    events = prod.locator(".lepton-history-event")
    expect(events).to_have_count(4)
    expect(events.first).to_contain_text("rolled back to v2 (from v1)")

    # When a refused move is tried (a new alias has nothing to roll back to)
    detail.get_by_label("Alias", exact=True).fill("staging")
    detail.get_by_role("button", name="Promote").click()
    staging = detail.locator('.lepton-alias[data-alias="staging"]')
    staging.get_by_role("button", name="Roll back").click()
    # Then a notification carries the server's own message
    toast = page.locator(".jp-Notification-Toast-error", has_text="no earlier version")
    expect(toast).to_be_visible()

    # When they open v2's lineage, it is a graph: dataset commit -> job -> v2 -> the run
    detail.get_by_role("option", name="version 2").click()
    graph = detail.locator(".lepton-lineage")
    for kind in ("dataset", "job", "version", "run"):
        expect(graph.locator(f'.lepton-lineage-node[data-kind="{kind}"]')).to_have_count(1)
    expect(graph.locator(".lepton-lineage-edge")).to_have_count(3)
    # And each node opens its details: the dataset's pinned commit, the job's status
    graph.locator('.lepton-lineage-node[data-kind="dataset"]').click()
    details = detail.locator(".lepton-lineage-details")
    expect(details).to_contain_text("datasets/points")
    expect(details).to_contain_text(re.compile(r"commit\s*[0-9a-f]{40}"))
    job_node = graph.locator('.lepton-lineage-node[data-kind="job"]')
    job_node.focus()
    page.keyboard.press("Enter")
    expect(details).to_contain_text(world["job"])
    expect(details.locator("[data-status='succeeded']")).to_be_visible()
    graph.locator('.lepton-lineage-node[data-kind="run"]').click()
    expect(details).to_contain_text(world["run"])
    save_screenshot(models, "models-flow", artifacts_dir, readme=False)


def test_runs_rerun_shows_the_diff_and_opens_the_output(
    lab_server: LabServer, world: dict[str, Any], page: Page, artifacts_dir: Path
) -> None:
    # Given the recorded papermill run of evaluate.ipynb
    sidebar = open_sidebar(page, lab_server)
    widen_sidebar(page)
    collapse_others(sidebar, "runs")
    runs = section(sidebar, "runs")
    runs.get_by_role("option", name=re.compile(f"run {world['run']}")).click()
    original = runs.locator(".lepton-run-detail")
    expect(original).to_contain_text("weight_sum")

    # When the user reruns it
    original.get_by_role("button", name="Rerun").click()

    # Then the rerun is selected, runs, and its diff shows it reproduced the original
    rerun = runs.locator(".lepton-run-detail", has_text=f"Diff vs {world['run']}")
    diff = rerun.locator(".lepton-diff")
    expect(diff).to_be_visible(timeout=JOB_TIMEOUT_MS)
    try:
        expect(diff.locator(".lepton-diff-verdict")).to_contain_text("identical")
    except AssertionError as failure:
        # The verdict alone does not say why: the whole diff and the rerun's own record do.
        raise AssertionError(
            f"the rerun differs:\n{diff.inner_text()}\n{rerun_record(world)}"
        ) from failure
    pin = diff.locator("tr", has_text="vision/spiral@prod")
    expect(pin).to_contain_text("held")
    expect(diff.locator("tr.lepton-diff-metric", has_text="weight_sum")).to_contain_text("yes")
    save_screenshot(runs, "runs-flow", artifacts_dir, readme=False)

    # When they open the original run's output notebook, JupyterLab opens it in a tab
    runs.get_by_role("option", name=re.compile(f"run {world['run']}")).click()
    runs.locator(".lepton-run-detail").get_by_role("button", name="Open output").click()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(tab).to_contain_text("evaluate-out.ipynb")
