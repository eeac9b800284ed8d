"""The job monitor draws the loss curve and per-rank progress from what the job wrote."""

from __future__ import annotations

from lepton_jupyter.jobs import Job
from lepton_jupyter.jobs.folder import JobFolder, append_line
from lepton_jupyter.jobs.schema import JobStatus
from lepton_jupyter.widgets.jobs import JobMonitor


def test_monitor_of_a_failed_job_shows_curve_steps_error_and_no_cancel(job_manager, store_job):
    # Given a 2-rank job that reported 5 steps per rank, then failed on rank 1
    spec = store_job(id="train-00aa11", nprocs=2)
    folder = JobFolder(job_manager.jobs_path / spec.id)
    folder.create()
    for step in range(5):
        for rank in (0, 1):
            append_line(
                folder.metrics, {"rank": rank, "step": step, "time": 0.0, "loss": 1 / (step + 1)}
            )
    folder.rank_log(1).write_text("rank 1 step 4\nRuntimeError: out of data\n")
    job_manager.store.finish(
        spec.id,
        JobStatus.failed,
        exit_codes={0: None, 1: 1},
        failed_rank=1,
        error="Rank 1 raised:\nRuntimeError: out of data",
    )
    # When the monitor is built
    monitor = JobMonitor(Job(spec.id, job_manager))
    # Then it draws the curve as a PNG, shows each rank's last step and exit code,
    assert bytes(monitor.plot.value).startswith(b"\x89PNG")
    assert "<td>1</td><td>4</td><td>0.2</td><td>1</td>" in monitor.ranks.value
    # the failure and the log tail, and offers no cancel for a finished job
    assert "RuntimeError: out of data" in monitor.error_box.value
    assert "rank 1 step 4" in monitor.log_tail.value
    assert "failed" in monitor.header.value
    assert monitor.cancel_button.disabled
    assert monitor._thread is None
    monitor.close()


def test_monitor_output_carries_a_static_view_beside_the_widget(job_manager, store_job):
    # Given a finished 2-rank job on two GPUs that reported a loss curve
    spec = store_job(id="train-00bb22", nprocs=2, gpus=2, devices=["2", "3"])
    folder = JobFolder(job_manager.jobs_path / spec.id)
    folder.create()
    for step in range(3):
        append_line(folder.metrics, {"rank": 0, "step": step, "time": 0.0, "loss": 1 / (step + 1)})
    folder.rank_device(0).write_text("cuda:0 (NVIDIA H200, GPU 2)")
    folder.rank_device(1).write_text("cuda:1 (NVIDIA H200, GPU 3)")
    folder.rank_log(0).write_text("epoch 3 done\n")
    job_manager.store.finish(spec.id, JobStatus.succeeded, exit_codes={0: 0, 1: 0})
    # When the monitor is shown, as a front end without widgets would receive it
    monitor = JobMonitor(Job(spec.id, job_manager))
    bundle = monitor._repr_mimebundle_()
    # Then the output holds the widget and, beside it, a static view: the status, a table
    # with each rank's step, loss and device, the loss curve inlined, the last log lines
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == monitor.model_id
    page = bundle["text/html"]
    assert "succeeded" in page and "2 GPU(s): GPU 2, 3" in page
    assert "<th>device</th>" in page
    assert (
        "<td>0</td><td>2</td><td>0.3333</td><td>0</td><td>cuda:0 (NVIDIA H200, GPU 2)</td>" in page
    )
    assert "<img alt='loss curve' src='data:image/png;base64,iVBORw0KGgo" in page
    assert "epoch 3 done" in page
    # and a one-line text for text-only front ends, not the widget's repr
    assert bundle["text/plain"] == (
        "Job train-00bb22 (train): succeeded, 2 rank(s) on local, loss 0.3333 at step 2"
    )
    monitor.close()
