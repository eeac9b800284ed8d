"""GPU rules tested without a GPU: which backend and device each rank gets, and the checks
that refuse, before anything is written, a job its GPUs cannot serve.

The GPU inventory of a machine is what ``CUDA_VISIBLE_DEVICES`` says (the variable CUDA
itself reads), so setting it here makes a CPU machine look like a GPU node to the launcher;
the ranks themselves are not started in these tests.
"""

from __future__ import annotations

import pytest

from lepton_jupyter import launch
from lepton_jupyter.errors import Invalid
from lepton_jupyter.jobs.devices import (
    DeviceError,
    check_dist_backend,
    check_gpu_job,
    device_env,
    process_group_backend,
    rank_backend,
    rank_device,
    threads_per_rank,
    visible_gpus,
)
from tests.unit.test_jobs_input import assert_nothing_started


@pytest.mark.parametrize(
    ("requested", "cuda", "expected"),
    [
        (None, True, "cpu:gloo,cuda:nccl"),  # CPU tensors keep working on a GPU node
        (None, False, "gloo"),
        ("nccl", True, "nccl"),  # explicit wins
        ("gloo", True, "gloo"),
    ],
)
def test_process_group_is_per_device_where_cuda_is(requested, cuda, expected):
    assert process_group_backend(requested, cuda) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("gloo", "gloo"), ("nccl", "nccl"), ("cpu:gloo, cuda:nccl", "cpu:gloo,cuda:nccl")],
)
def test_dist_backend_forms_torch_takes(value, expected):
    assert check_dist_backend(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ncll", "Unknown dist_backend 'ncll'; one of gloo, nccl, mpi, ucc"),
        ("cpu:gloo,gpu:nccl", "'gpu:nccl' is not DEVICE:BACKEND"),
        ("cpu:gloo,cpu:mpi", "names 'cpu' twice"),
        ("", "dist_backend must be a backend name"),
    ],
)
def test_bad_dist_backend_is_named(value, message):
    with pytest.raises(DeviceError, match=message):
        check_dist_backend(value)


def test_each_rank_takes_its_own_gpu_and_a_cpu_job_none():
    # one GPU per rank, in LOCAL_RANK order
    assert [rank_device(r, 4, 4) for r in range(4)] == [0, 1, 2, 3]
    # a CPU job sets no device even where CUDA is visible
    assert rank_device(0, 0, 8) is None
    # ranks sharing GPUs (gloo, asked for) go round the job's devices
    assert [rank_device(r, 2, 2) for r in range(4)] == [0, 1, 0, 1]
    # a job from before GPUs were counted uses what it sees, or the CPU
    assert rank_device(3, None, 4) == 3
    assert rank_device(0, None, 0) is None


def test_a_rank_given_gpus_it_cannot_see_fails_with_the_reason(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(DeviceError) as info:
        rank_device(0, 1, 0)
    assert "given 1 GPU(s) per node (CUDA_VISIBLE_DEVICES='3')" in str(info.value)
    assert "sees no CUDA device" in str(info.value)


def test_rank_backend_refuses_nccl_on_a_cpu_rank():
    assert rank_backend(None, 0, 2) == "cpu:gloo,cuda:nccl"
    assert rank_backend(None, None, 0) == "gloo"
    with pytest.raises(DeviceError, match="needs a GPU, and this rank has none"):
        rank_backend("nccl", None, 0)


@pytest.mark.parametrize(
    ("nprocs", "gpus", "backend", "message"),
    [
        (4, 2, None, "nprocs=4 ranks on 2 GPU(s) per node (here): NCCL needs one GPU per rank"),
        (1, 0, "nccl", "dist_backend 'nccl' needs GPUs, and this job has none (here)"),
        (2, 0, "cpu:gloo,cuda:nccl", "needs GPUs, and this job has none"),
    ],
)
def test_gpu_jobs_the_devices_cannot_serve_are_refused(nprocs, gpus, backend, message):
    with pytest.raises(DeviceError) as info:
        check_gpu_job(nprocs, gpus, backend, "here")
    assert message in str(info.value)


def test_gpu_jobs_that_fit_pass():
    check_gpu_job(2, 2, None, "here")
    check_gpu_job(4, 2, "gloo", "here")  # ranks share GPUs over gloo: asked for
    check_gpu_job(8, 0, None, "here")  # a CPU job


def test_visible_gpus_read_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f2e,GPU-11aa")
    assert visible_gpus() == ["GPU-8f2e", "GPU-11aa"]
    # CUDA stops at the first invalid id; "" and "-1" hide every GPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,-1,1")
    assert visible_gpus() == ["0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_a_job_sees_only_its_gpus_and_a_cpu_job_none():
    assert device_env(0, []) == {"CUDA_VISIBLE_DEVICES": ""}
    assert device_env(2, ["1", "3"]) == {"CUDA_VISIBLE_DEVICES": "1,3"}
    assert device_env(4, []) == {}  # Slurm sets it


def test_threads_split_the_cpus_between_ranks():
    assert threads_per_rank(16, 4) == 4
    assert threads_per_rank(2, 4) == 1
    assert threads_per_rank(1, 1) == 1


@pytest.mark.parametrize(
    ("visible", "options", "message"),
    [
        (
            "0,1",
            {"nprocs": 4},
            "nprocs=4 ranks need one GPU each, and this machine has 2 visible GPU(s): "
            "CUDA_VISIBLE_DEVICES=0,1. Use nprocs=2, or gpus=0 to run on the CPU.",
        ),
        ("0,1", {"gpus": 3}, "The job asks for 3 GPU(s), and this machine has 2 visible"),
        ("0,1", {"gpus": [1, 5]}, "No GPU 5 here: this machine has 2 visible GPU(s)"),
        ("0,1", {"gpus": [1, 1]}, "gpus lists a device twice"),
        ("0,1", {"gpus": -1}, "gpus must be an integer of at least 0, got -1"),
        ("0,1", {"gpus": "two"}, "gpus must be a number of GPUs (0 for a CPU job)"),
        ("0,1", {"gpus": 1, "nprocs": 2}, "nprocs=2 ranks on 1 GPU(s) per node"),
        ("", {"dist_backend": "nccl"}, "dist_backend 'nccl' needs GPUs, and this job has none"),
        ("0", {"dist_backend": "nccl2"}, "Unknown dist_backend 'nccl2'"),
        ("0", {"env": {"CUDA_VISIBLE_DEVICES": "0"}}, "Choose a job's GPUs with gpus=N"),
        (
            "0,1",
            {"backend": "slurm", "nprocs": 4, "gpus_per_node": 2},
            "nprocs=4 ranks on 2 GPU(s) per node (Slurm gpus_per_node=2)",
        ),
        (
            "",
            {"backend": "slurm", "dist_backend": "nccl"},
            "needs GPUs, and this job has none (Slurm gpus_per_node is not set)",
        ),
        ("", {"backend": "slurm", "gpus": 2, "gpus_per_node": 4}, "disagree; give one of them"),
        ("", {"backend": "slurm", "gpus": [0]}, "On Slurm, ask for a number of GPUs"),
    ],
)
def test_launch_refuses_what_the_gpus_cannot_serve_before_writing(
    jobs_path, monkeypatch, visible, options, message
):
    # Given a machine whose visible GPUs CUDA_VISIBLE_DEVICES lists
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    # When a job is launched that they cannot serve
    with pytest.raises(Invalid) as info:
        launch("tests.fixtures.jobs:train", **options)
    # Then the message says what is wrong and how to fix it, and nothing was written
    assert message in str(info.value)
    assert_nothing_started(jobs_path)
