"""Real 2-rank jobs on the CPU, launched from a machine that looks like a GPU node
(``CUDA_VISIBLE_DEVICES`` lists GPUs; this torch sees none): CPU jobs hide the GPUs and use
gloo, a job given GPUs its ranks cannot see fails with the reason, and rank 0's result
comes back as plain CPU objects."""

from __future__ import annotations

import pytest
import torch

from lepton_jupyter import launch
from lepton_jupyter.jobs.folder import JobFolder
from lepton_jupyter.jobs.schema import JobFailed, JobStatus

pytestmark = pytest.mark.slow
TIMEOUT = 180


def test_a_cpu_job_on_a_gpu_node_hides_the_gpus_and_uses_gloo(jobs_path, monkeypatch):
    # Given a node with 2 visible GPUs
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    # When a 2-rank job is launched as a CPU job
    job = launch("tests.fixtures.jobs:rank_setup", nprocs=2, gpus=0)
    setup = job.result(timeout=TIMEOUT)
    # Then its ranks see no GPU, talk gloo, and split the CPUs between them
    assert setup["visible"] == ""
    assert setup["backend"] == "gloo"
    assert setup["omp_threads"] == str(max(1, len(__import__("os").sched_getaffinity(0)) // 2))
    assert setup["torch_threads"] == int(setup["omp_threads"])
    assert job.info.gpus == 0 and job.info.devices == []
    assert JobFolder(job.folder).rank_devices() == {0: "cpu", 1: "cpu"}


def test_gpus_a_rank_cannot_see_fail_the_job_with_the_reason(jobs_path, monkeypatch):
    # Given a launcher that sees a GPU, and ranks whose torch (this CPU build) sees none
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    job = launch("tests.fixtures.jobs:rank_setup", nprocs=1)
    assert job.info.gpus == 1 and job.info.devices == ["0"]
    # When it runs, Then the rank's set-up error is the job's error, as a traceback
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=TIMEOUT)
    message = str(info.value)
    assert "Rank 0 raised" in message and "DeviceError" in message
    assert "given 1 GPU(s) per node (CUDA_VISIBLE_DEVICES='0')" in message
    assert "sees no CUDA device" in message


def test_rank_zero_result_with_parameters_and_graph_tensors_comes_back(jobs_path):
    # Given a function returning a module, a parameter and a tensor that is not a leaf
    job = launch("tests.fixtures.jobs:tensors_result", nprocs=1, gpus=0)
    # When its result is read
    result = job.result(timeout=TIMEOUT)
    # Then everything arrives, on the CPU, with the gradient flags kept
    assert isinstance(result["model"], torch.nn.Linear)
    assert isinstance(result["weight"], torch.nn.Parameter) and result["weight"].requires_grad
    assert result["doubled"].tolist() == [2.0, 2.0] and result["doubled"].requires_grad
    assert all(t.device.type == "cpu" for t in (result["weight"], result["doubled"]))
    assert job.status is JobStatus.succeeded
