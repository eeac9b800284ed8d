"""Scheduled runs in the browser: a job made in jupyter-scheduler's "Create Job" dialog runs
under the lepton engine and shows in the Runs panel, linked to its job.

The server is ``jupyter lab`` with jupyter-scheduler's execution manager set to lepton's
(the README's one line of config) and the labextension built from this tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.parts import require
from tests.fixtures.processes import wait_for
from tests.fixtures.runs import write_notebook

from .conftest import JUPYTER, REPO, LabServer, lab_options, running_lab, save_screenshot
from .test_sidebar import UI_TIMEOUT_MS, open_lab

pytestmark = pytest.mark.browser

# A spawned job process, a papermill kernel and nbconvert on 2 busy cores.
JOB_TIMEOUT_S = 240

METRIC_CELL = """\
import lepton_jupyter
lepton_jupyter.log_metric("accuracy", 1 - lr)"""


@pytest.fixture(scope="module")
def scheduled_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter lab`` whose jupyter-scheduler runs jobs with LeptonExecutionManager."""
    require("scheduler")
    tmp = tmp_path_factory.mktemp("scheduled-lab")
    root = tmp / "root"
    write_notebook(root / "nightly.ipynb", [METRIC_CELL], parameters="lr = 0.1")
    # This tree's built labextension ahead of whatever the environment has installed.
    built = REPO / "lepton_jupyter" / "labextension"
    assert (built / "package.json").is_file(), (
        "build the labextension: cd labextension && jlpm build"
    )
    extensions = tmp / "jupyter-path" / "labextensions"
    extensions.mkdir(parents=True)
    (extensions / "lepton-jupyter").symlink_to(built, target_is_directory=True)
    options, server = lab_options(tmp)
    server = replace(server, root_dir=root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env.update(
        LEPTON_STATE_DIR=str(tmp / "state"),
        DVC_NO_ANALYTICS="1",
        JUPYTER_PATH=str(tmp / "jupyter-path"),
    )
    command = [
        str(JUPYTER),
        "lab",
        *options,
        f"--ServerApp.root_dir={root}",
        "--Scheduler.execution_manager_class=lepton_jupyter.scheduler.LeptonExecutionManager",
        f"--SchedulerApp.db_url=sqlite:///{tmp / 'scheduler.sqlite'}",
        f"--Scheduler.staging_path={tmp / 'staging'}",
    ]
    with running_lab(command, server, cwd=root, env=env) as running:
        yield running


def test_a_job_from_the_create_job_dialog_shows_in_the_runs_panel(
    scheduled_lab: LabServer, page: Page, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 1400})
    open_lab(page, scheduled_lab)
    # Given the notebook in the file browser
    item = page.locator(".jp-DirListing-item", has_text="nightly.ipynb")
    expect(item).to_be_visible(timeout=UI_TIMEOUT_MS)
    # When the user opens "Create Job" on it and creates the job as the dialog fills it in
    # (parameters typed in the dialog are covered over REST: tests/api/test_scheduler_api.py)
    item.click(button="right")
    page.locator(".lm-Menu-item", has_text="Create Job").first.click()
    expect(page.get_by_label("Job name")).to_be_visible(timeout=UI_TIMEOUT_MS)
    create = page.get_by_role("button", name="Create", exact=True)
    try:
        expect(create).to_be_enabled(timeout=UI_TIMEOUT_MS)
    except AssertionError as e:
        errors = page.locator(".Mui-error").all_inner_texts()
        save_screenshot(page, "create-job-dialog-refused", artifacts_dir, readme=False)
        raise AssertionError(f"the dialog refuses the job: {errors}") from e
    create.click()

    # Then the job runs and records a lepton run (the server's REST API says so)
    def recorded() -> dict | None:
        runs = scheduled_lab.get_json("lepton/api/runs")
        return runs[0] if runs and runs[0]["scheduled"] else None

    run = wait_for(recorded, timeout=JOB_TIMEOUT_S, interval=1, message="the job's run")
    job_id = run["scheduled"]["job_id"]
    # And the Runs panel lists it with its job, and shows it completed with its parameters
    page.locator('.jp-SideBar.jp-mod-left [data-id="lepton-sidebar"]').click()
    sidebar = page.locator("#lepton-sidebar")
    # (its panels loaded with the page, before the job ran)
    sidebar.get_by_role("button", name="Refresh Lepton status").click()
    listed = sidebar.locator(".lepton-run", has_text="nightly.ipynb")
    expect(listed).to_contain_text("scheduled job nightly", timeout=UI_TIMEOUT_MS)
    expect(listed).to_contain_text("completed", timeout=JOB_TIMEOUT_S * 1000)
    listed.click()
    detail = sidebar.locator(".lepton-run-detail")
    expect(detail.locator(".lepton-run-job")).to_contain_text(job_id)
    expect(detail).to_contain_text("param lr")
    expect(detail).to_contain_text("metric accuracy")
    expect(detail).to_contain_text("0.900000")
    save_screenshot(sidebar, "runs-panel-scheduled-run", artifacts_dir, readme=False)

    # And jupyter-scheduler's own job names the run (the scheduler marks its job completed
    # after the executor returns, so a moment after the run itself is recorded as ended)
    def scheduler_job_ended() -> dict | None:
        job = scheduled_lab.get_json(f"scheduler/jobs/{job_id}")
        return job if job["status"] not in ("CREATED", "QUEUED", "IN_PROGRESS") else None

    job = wait_for(
        scheduler_job_ended, timeout=JOB_TIMEOUT_S, interval=1, message="the scheduler's job"
    )
    assert job["status"] == "COMPLETED" and job["status_message"] == f"lepton run {run['id']}"
