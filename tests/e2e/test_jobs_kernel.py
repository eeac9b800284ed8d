"""Jobs launched from real kernels: a notebook-defined function under papermill (with the
monitor shown and the cell magic), and a kernel killed while its job runs."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import nbformat
import papermill
import pytest
from jupyter_client.manager import start_new_kernel
from nbconvert import HTMLExporter

from lepton_jupyter import Job
from lepton_jupyter.jobs.folder import JobFolder, append_line
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.processes import pid_alive, wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

TRAIN_CELL = """\
def train(steps):
    import torch
    import torch.distributed as dist
    from lepton_jupyter.jobs import report

    total = torch.zeros(1)
    for step in range(steps):
        value = torch.ones(1)
        dist.all_reduce(value)
        total += value
        report(step=step, loss=1.0 / (step + 1))
    return f"{dist.get_world_size()} ranks, total {total.item():.0f}"
"""

MAGIC_CELL = """\
%%lepton launch --nprocs 2 --name cell
import torch
import torch.distributed as dist
value = torch.ones(1)
dist.all_reduce(value)
print("cell rank", dist.get_rank(), "of", dist.get_world_size(), "sum", value.item())
"""

# A cell written for torchrun sets up its own group; that still works.
TORCHRUN_CELL = """\
%%lepton launch --nprocs 2 --name old-cell
import torch.distributed as dist
dist.init_process_group("gloo")
print("old cell rank", dist.get_rank())
dist.destroy_process_group()
"""


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_notebook_function_runs_on_two_ranks_under_papermill(jobs_path, tmp_path):
    # Given a notebook that defines train() in a cell, launches it as the cell's last
    # expression, waits for the result, then launches a cell body with the magic
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from lepton_jupyter import launch\n%load_ext lepton_jupyter"),
        nbformat.v4.new_code_cell(TRAIN_CELL),
        nbformat.v4.new_code_cell("job = launch(train, 3, nprocs=2)\njob"),
        nbformat.v4.new_code_cell("print('RESULT', job.result(timeout=180))"),
        nbformat.v4.new_code_cell(MAGIC_CELL),
        nbformat.v4.new_code_cell(
            "cell_job = _\nprint('CELL', cell_job.wait(timeout=180).value)\n"
            "print(cell_job.logs(rank=1))"
        ),
        nbformat.v4.new_code_cell(TORCHRUN_CELL),
        nbformat.v4.new_code_cell("print('OLD', _.wait(timeout=180).value, _.logs(rank=1))"),
    ]
    source = tmp_path / "launch.ipynb"
    nbformat.write(notebook, source)
    # When papermill runs it in a real kernel
    done = papermill.execute_notebook(
        str(source), str(tmp_path / "out.ipynb"), cwd=str(tmp_path), kernel_name="python3"
    )
    cells = done.cells
    # Then rank 0's return value of the notebook-defined function comes back
    assert "RESULT 2 ranks, total 6" in stdout_of(cells[3])
    # and the launch cell showed the job monitor, whose output the cell that waited
    # (job.result) replaced with the final static view: status, rank table, loss curve
    (shown,) = [o for o in cells[2].outputs if o.output_type == "display_data"]
    assert WIDGET_VIEW not in shown["data"]
    page = shown["data"]["text/html"]
    assert "succeeded" in page and "<th>rank</th>" in page
    assert "src='data:image/png;base64," in page
    assert shown["data"]["text/plain"].endswith(
        "succeeded, 2 rank(s) on local, loss 0.3333 at step 2"
    )
    # which is what an HTML export shows
    exported, _ = HTMLExporter().from_notebook_node(done)
    assert "<th>rank</th>" in exported and "data:image/png;base64," in exported
    # and the magic ran the cell body on both ranks, with the process group ready
    assert "CELL succeeded" in stdout_of(cells[5])
    assert "cell rank 1 of 2 sum 2.0" in stdout_of(cells[5])
    # and a cell that sets up its own group still runs
    assert "OLD succeeded" in stdout_of(cells[7]) and "old cell rank 1" in stdout_of(cells[7])


def test_job_outlives_a_killed_kernel_and_is_found_with_attach(jobs_path):
    # Given a kernel that launched a job
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(REPO))
    outputs: list[dict] = []
    try:
        reply = client.execute_interactive(
            "from lepton_jupyter import launch\n"
            "job = launch('tests.fixtures.jobs:train', 30, pause=0.1, nprocs=2)\n"
            "print('JOB', job.id)",
            timeout=60,
            output_hook=lambda msg: outputs.append(msg),
        )
        assert reply["content"]["status"] == "ok"
        job_id = re.search(
            r"JOB (\S+)", "".join(m["content"].get("text", "") for m in outputs)
        ).group(1)
        job = Job.attach(job_id)
        wait_for(lambda: job.metrics(), 120, message="first report")
        # When the kernel is killed -9 while the job runs
        kernel_pid = manager.provisioner.process.pid
        os.kill(kernel_pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(kernel_pid), 30, message="kernel dead")
        assert job.status is JobStatus.running
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    # Then the job completes, and attaching by id finds it and its result
    again = Job.attach(job_id)
    assert again.wait(timeout=180) is JobStatus.succeeded
    assert again.result() == {"world_size": 2, "total": float(sum(1 + 2 * s for s in range(30)))}


def test_a_kernel_shows_a_job_as_its_monitor(jobs_path, store_job, job_manager):
    # Given a finished job with a loss curve and a job still queued, in the job store
    done = store_job(id="train-00dd44", nprocs=1)
    folder = JobFolder(job_manager.jobs_path / done.id)
    folder.create()
    append_line(folder.metrics, {"rank": 0, "step": 0, "time": 0.0, "loss": 0.5})
    job_manager.store.finish(done.id, JobStatus.succeeded, exit_codes={0: 0})
    queued = store_job(id="train-00ee55", nprocs=1)
    # When a kernel shows each as a cell's last expression and asks for a monitor
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(REPO))
    outputs: list[dict] = []
    try:

        def run(code: str) -> None:
            reply = client.execute_interactive(
                code, timeout=60, output_hook=lambda msg: outputs.append(msg)
            )
            assert reply["content"]["status"] == "ok", reply["content"]

        run(
            "from lepton_jupyter import Job\n"
            f"print('MONITOR', type(Job.attach({done.id!r}).monitor()).__name__)"
        )
        run(f"Job.attach({done.id!r})")
        run(f"Job.attach({queued.id!r})")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    printed = "".join(m["content"].get("text", "") for m in outputs)
    shown = [m["content"]["data"] for m in outputs if m["msg_type"] == "display_data"]
    # Then job.monitor() is the monitor widget
    assert "MONITOR JobMonitor" in printed
    # and the finished job shows the monitor's static view (not the Job's repr)
    assert shown[0]["text/plain"] == (
        f"Job {done.id} (train): succeeded, 1 rank(s) on local, loss 0.5 at step 0"
    )
    assert "<th>rank</th>" in shown[0]["text/html"]
    # and the queued one the live widget, with the static view beside it
    assert WIDGET_VIEW in shown[1] and "queued" in shown[1]["text/html"]
