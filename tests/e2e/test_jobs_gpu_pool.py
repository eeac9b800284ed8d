"""GPUs shared out between concurrent local jobs, on a CPU machine: the launcher's GPU
inventory is what ``CUDA_VISIBLE_DEVICES`` lists (three made-up devices), the jobs run
scripts that only print the devices they were given (no CUDA call), and the locks are the
real ones, in a folder of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_jupyter import launch
from lepton_jupyter.errors import Conflict
from lepton_jupyter.jobs.folder import job_processes
from lepton_jupyter.jobs.gpu_pool import claim_gpus
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.processes import wait_for

TIMEOUT = 180
HOLD = """\
import os, pathlib, time
print("visible", os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
stop = pathlib.Path(os.environ["LEPTON_JOB_DIR"]) / "stop"
while not stop.exists():
    time.sleep(0.1)
"""


@pytest.fixture
def gpu_node(jobs_path, monkeypatch, tmp_path) -> Path:
    """Three GPUs as the launcher sees them (locks in the test's own folder: jobs_path)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    return script


def test_claims_are_exclusive_unless_shared(gpu_node):
    # Given two of three GPUs taken by one job
    first = claim_gpus(["0", "1", "2"], 2, "job-a")
    assert first.devices == ["0", "1"]
    # When another asks for two, Then it is refused, naming who holds what
    with pytest.raises(Conflict) as info:
        claim_gpus(["0", "1", "2"], 2, "job-b")
    assert str(info.value).startswith(
        "The job needs 2 GPU(s); 1 of 3 (0, 1, 2) are free: GPU 0 (job job-a, user "
    )
    # and the free one is still free, for a job asking one
    second = claim_gpus(["0", "1", "2"], 1, "job-c")
    assert second.devices == ["2"]
    # When the first job's hold ends, its GPUs are free again
    first.release()
    assert claim_gpus(["0", "1", "2"], 2, "job-d").devices == ["0", "1"]
    # Jobs that share may hold a GPU together; an exclusive one may not join them
    second.release()
    shared = [claim_gpus(["2"], 1, f"share-{i}", shared=True) for i in range(2)]
    with pytest.raises(Conflict):
        claim_gpus(["2"], 1, "alone")
    for claim in shared:
        claim.release()


def rank_output(job, rank: int = 0) -> str:
    return wait_for(lambda: job.logs(rank=rank), TIMEOUT, message="the rank's output")


def stop(job) -> None:
    (Path(job.folder) / "stop").touch()
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    wait_for(lambda: not job_processes(job.folder), 30, message="supervisor gone")


@pytest.mark.slow
def test_concurrent_jobs_get_disjoint_gpus_and_free_them_when_done(gpu_node):
    # Given a 2-rank job: by default one GPU per rank, the first free ones
    first = launch(str(gpu_node), nprocs=2)
    # and a 1-rank job launched while it runs
    second = launch(str(gpu_node), nprocs=1)
    # Then each got its own devices, and its ranks see only those
    assert (first.info.devices, second.info.devices) == (["0", "1"], ["2"])
    assert rank_output(first, 1) == "visible 0,1\n"
    assert rank_output(second) == "visible 2\n"
    # When a third asks for a GPU while none is free, Then it is refused before starting
    with pytest.raises(Conflict, match=f"GPU 0 \\(job {first.id}, user"):
        launch(str(gpu_node), nprocs=1)
    # When the first job ends, Then its GPUs go to the next job
    stop(first)
    third = launch(str(gpu_node), nprocs=1)
    assert third.info.devices == ["0"]
    assert rank_output(third) == "visible 0\n"
    # and a job that asks to share a GPU held alone is refused; two sharers are not
    with pytest.raises(Conflict):
        launch(str(gpu_node), nprocs=1, gpus=["2"], share_gpus=True)
    stop(second)
    sharers = [launch(str(gpu_node), nprocs=1, gpus=["2"], share_gpus=True) for _ in range(2)]
    assert [rank_output(j) for j in sharers] == ["visible 2\n"] * 2
    for job in (third, *sharers):
        stop(job)
