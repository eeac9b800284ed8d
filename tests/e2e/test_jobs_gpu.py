"""Jobs on real GPUs: NCCL collectives beside gloo ones, rank results moved to the CPU,
one GPU per rank, concurrent jobs on disjoint devices, and the demo itself.

Marked ``gpu``: these need CUDA and skip only where torch sees no CUDA device (the rules
behind them are tested on the CPU in tests/unit/test_jobs_devices.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lepton_jupyter import launch
from lepton_jupyter.errors import Invalid
from lepton_jupyter.jobs.folder import JobFolder
from lepton_jupyter.jobs.schema import JobStatus
from tests.fixtures.processes import wait_for

TIMEOUT = 300
REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason=f"no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda})",
    ),
]


@pytest.fixture
def gpu_count(monkeypatch) -> int:
    """The GPUs of this machine, with the launcher seeing all of them."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return torch.cuda.device_count()


def test_nccl_and_gloo_collectives_in_one_job(jobs_path, gpu_count):
    # Given up to 2 GPUs, one rank on each (NCCL refuses two ranks on one GPU)
    nprocs = min(2, gpu_count)
    # When a job all-reduces a CPU tensor and a CUDA tensor in its default group
    job = launch("tests.fixtures.jobs:all_reduce_on_each_device", nprocs=nprocs)
    result = job.result(timeout=TIMEOUT)
    # Then both went through (gloo for the CPU one, NCCL for the CUDA one)
    assert result == {"cpu": float(nprocs), "cuda": float(nprocs), "device": "cuda:0"}
    assert job.info.gpus == nprocs and len(job.info.devices) == nprocs
    described = JobFolder(job.folder).rank_devices()
    assert sorted(described) == list(range(nprocs))
    assert all(d.startswith(f"cuda:{r} (") for r, d in described.items())


def test_cpu_training_on_a_gpu_node_still_works(jobs_path, gpu_count):
    # The demo's case: CPU tensors all-reduced on a node with GPUs (NCCL alone fails here)
    job = launch("tests.fixtures.jobs:train", 3, nprocs=min(2, gpu_count))
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded


def test_rank_zero_cuda_result_loads_on_a_machine_without_gpus(jobs_path, gpu_count, tmp_path):
    # Given a job whose rank 0 returns a module, a parameter and a graph tensor on its GPU
    job = launch("tests.fixtures.jobs:tensors_result", nprocs=1)
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    # When the result is loaded where no GPU is visible (a Slurm login node's Jupyter)
    check = (
        "import cloudpickle, torch\n"
        f"r = cloudpickle.load(open({str(JobFolder(job.folder).result)!r}, 'rb'))\n"
        "assert r['weight'].device.type == 'cpu' and r['weight'].requires_grad\n"
        "assert next(r['model'].parameters()).device.type == 'cpu'\n"
        "assert r['nested'][0][0].device.type == 'cpu'\n"
        "assert not torch.cuda.is_initialized()\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it loads: every tensor was moved to the CPU before pickling
    assert done.stdout.strip() == "ok", done.stderr[-3000:]


def test_more_ranks_than_gpus_is_refused_before_start(jobs_path, gpu_count):
    with pytest.raises(Invalid, match=f"nprocs={gpu_count + 1} ranks need one GPU each"):
        launch("tests.fixtures.jobs:train", nprocs=gpu_count + 1)
    assert not [p for p in jobs_path.iterdir() if p.is_dir()] if jobs_path.exists() else True


def test_concurrent_jobs_get_disjoint_gpus(jobs_path, gpu_count):
    if gpu_count < 2:
        pytest.skip("two concurrent GPU jobs need two GPUs")
    # Given two jobs of one GPU each, running at once
    first = launch("tests.fixtures.jobs:train", 10_000, pause=0.05, nprocs=1, gpus=1)
    second = launch("tests.fixtures.jobs:train", 10_000, pause=0.05, nprocs=1, gpus=1)
    try:
        wait_for(lambda: first.metrics() and second.metrics(), TIMEOUT, message="both running")
        # Then each has its own device, and each rank computes on it
        assert set(first.info.devices).isdisjoint(second.info.devices)
        for job in (first, second):
            (described,) = JobFolder(job.folder).rank_devices().values()
            assert described.endswith(f", GPU {job.info.devices[0]})")
    finally:
        first.cancel()
        second.cancel()


def test_the_demo_runs_on_gpus(jobs_path, tmp_path, gpu_count):
    if gpu_count < 2:
        pytest.skip("the demo trains on 2 ranks, one GPU each")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lepton")), "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    assert "metrics identical" in done.stdout
    # (the demo keeps its state in this test's state folder, LEPTON_STATE_DIR)
    trained = list(jobs_path.glob("spirals-*"))
    assert trained
    for folder in trained:
        assert all(d.startswith("cuda:") for d in JobFolder(folder).rank_devices().values())


def test_a_job_from_the_warm_pool_initialises_cuda_in_its_ranks_only(job_pool, gpu_count):
    # Given the warm pool (torch imported, CUDA never touched): When a GPU job starts from it
    nprocs = min(2, gpu_count)
    job = launch("tests.fixtures.jobs:all_reduce_on_each_device", nprocs=nprocs)
    # Then each forked rank initialises CUDA on its own device, NCCL works
    assert job.result(timeout=TIMEOUT) == {
        "cpu": float(nprocs),
        "cuda": float(nprocs),
        "device": "cuda:0",
    }
    assert (
        "started without the warm job pool" not in JobFolder(job.folder).supervisor_log.read_text()
    )
