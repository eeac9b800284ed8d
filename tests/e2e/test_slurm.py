"""The slurm backend against a real two-node Slurm (tests/fixtures/slurm.py): a 2-node gloo
job, a pending job's reason (API, monitor, CLI, REST), cancel, a failing rank, elastic restarts
across nodes, a job folder a node cannot see, jobs Slurm itself kills, and bad input."""

from __future__ import annotations

import json
import os
import re

import pytest

from lepton_jupyter import launch
from lepton_jupyter.cli import main as lepton_cli
from lepton_jupyter.errors import Invalid
from lepton_jupyter.jobs.folder import JobFolder, job_processes
from lepton_jupyter.jobs.schema import JobFailed, JobStatus
from tests.fixtures.parts import unavailable
from tests.fixtures.processes import wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
TIMEOUT = 240


def where_am_i() -> dict:
    """Each rank reports its world size, its Slurm node and the sum of an all-reduce."""
    import torch
    import torch.distributed as dist

    from lepton_jupyter.jobs import report

    value = torch.ones(1)
    dist.all_reduce(value)
    node = os.environ["SLURMD_NODENAME"]
    world = dist.get_world_size()
    report(step=0, world_size=world, node=node, reduced=value.item(), all_ranks=True)
    return {"world_size": world, "node": node}


def fail_once() -> str:
    """Rank 1 raises the first time any attempt reaches it; later attempts succeed."""
    import torch.distributed as dist

    dist.barrier()
    marker = os.path.join(os.environ["LEPTON_JOB_DIR"], "rank-1-failed-once")
    if dist.get_rank() == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("rank 1 fails once")
    dist.barrier()
    return f"world of {dist.get_world_size()} after a restart"


def slurm_job(slurm, job) -> dict[str, str]:
    """``scontrol show job`` of a lepton job, as a dict (its Slurm id is in its detail)."""
    slurm_id = re.search(r"Slurm job (\d+)", job.info.detail).group(1)
    shown = slurm.run("scontrol", "show", "job", "-o", slurm_id).stdout
    return dict(item.split("=", 1) for item in shown.split() if "=" in item)


def running(job) -> bool:
    return job.status is JobStatus.running and "RUNNING" in (job.info.detail or "")


def test_two_nodes_one_rank_each_train_together(slurm, jobs_path):
    # Given a function that reports where it runs and what torch.distributed sees
    # When it is launched on 2 nodes x 1 rank through Slurm
    job = launch(where_am_i, nnodes=2, nprocs=1, backend="slurm", partition="debug", time="10")
    # Then it succeeds (the Slurm keywords did not reach where_am_i, which takes none), and
    # each rank saw a world of 2 and reduced across both nodes
    assert job.wait(timeout=TIMEOUT) is JobStatus.succeeded
    reports = sorted(job.metrics(), key=lambda m: m["rank"])
    assert [(m["rank"], m["world_size"], m["reduced"]) for m in reports] == [
        (0, 2, 2.0),
        (1, 2, 2.0),
    ]
    assert {m["node"] for m in reports} == {"n1", "n2"}
    assert job.result()["world_size"] == 2
    assert job.info.exit_codes == {0: 0, 1: 0}
    assert job.info.started_at is not None
    # and the options reached Slurm, whose job id and end state the job shows
    shown = slurm_job(slurm, job)
    assert (shown["Partition"], shown["TimeLimit"], shown["NumNodes"]) == ("debug", "00:10:00", "2")
    assert "COMPLETED" in job.info.detail
    # and every node checked in: the job folder is visible from all of them
    assert sorted(os.listdir(JobFolder(job.folder).path / "nodes")) == ["n1", "n2"]


async def test_a_pending_job_shows_slurm_s_reason_everywhere(slurm, jobs_path, jp_fetch, capsys):
    # Given a job Slurm may only start in an hour
    job = launch(where_am_i, nnodes=2, backend="slurm", sbatch_extra=["--begin=now+1hour"])
    # When it is looked at, Then it is queued with Slurm's pending reason
    wait_for(lambda: "pending: BeginTime" in (job.info.detail or ""), 60, message="reason")
    assert job.status is JobStatus.queued
    # and so does the job monitor a cell shows
    monitor = job.monitor()
    try:
        assert "queued" in monitor.header.value and "pending: BeginTime" in monitor.header.value
    finally:
        monitor.close()
    # and so does the CLI
    assert lepton_cli(["jobs", "show", job.id]) == 0
    assert re.search(r"detail: +Slurm job \d+ pending: BeginTime", capsys.readouterr().out)
    # and the REST API (the Jobs panel) shows the same
    body = json.loads((await jp_fetch("lepton", "api", "jobs", job.id)).body)
    assert body["status"] == "queued" and "pending: BeginTime" in body["detail"]
    # When it is cancelled over REST, Then it leaves Slurm's queue
    response = await jp_fetch("lepton", "api", "jobs", job.id, "cancel", method="POST", body="")
    assert json.loads(response.body)["status"] == "cancelled"
    assert slurm.job_ids() == []


def test_elastic_restarts_span_the_nodes(slurm, jobs_path):
    # Given a function whose rank 1 fails once
    # When it runs on 2 nodes with one restart allowed
    job = launch(fail_once, nnodes=2, backend="slurm", max_restarts=1)
    # Then both nodes' agents meet again, restart their ranks, and the job succeeds
    assert job.result(timeout=TIMEOUT) == "world of 2 after a restart"


def test_a_job_folder_a_node_cannot_see_is_named(slurm, jobs_path, monkeypatch):
    # Given a jobs folder node n3 does not see (partition "blind" holds n1 and n3)
    if not slurm.blind_node:
        unavailable("slurm", "node n3 did not start: it needs mount namespaces (unshare -m)")
    monkeypatch.setenv("LEPTON_JOBS_DIR", str(slurm.unseen / "jobs"))
    # When a 2-node job is launched there
    job = launch(where_am_i, nnodes=2, backend="slurm", partition="blind")
    # Then it fails before any rank starts, saying the folder must be shared and where not seen
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=TIMEOUT)
    message = str(info.value)
    assert f"The job folder {job.folder} is not visible from every node of n[1,3]" in message
    assert "(seen from: n1)" in message and "LEPTON_JOBS_DIR" in message
    assert job.metrics() == []


def test_cancel_leaves_no_process_of_the_job(slurm, jobs_path):
    # Given a running 2-node job whose ranks have reported
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.1, nnodes=2, backend="slurm")
    wait_for(lambda: len({m["rank"] for m in job.metrics()}) == 2, TIMEOUT, message="reports")
    assert running(job)
    ranks = JobFolder(job.folder).rank_pids()
    assert len(ranks) == 2 and job_processes(job.folder)
    # When it is cancelled
    assert job.cancel() is JobStatus.cancelled
    # Then no process carrying the job folder is left (ranks, agents, supervisor), and
    # Slurm has nothing of it queued or running
    assert job_processes(job.folder) == []
    assert not any(os.path.exists(f"/proc/{pid}") for pid in ranks.values())
    assert slurm.job_ids() == []
    assert job.status is JobStatus.cancelled


def test_a_failing_rank_fails_the_job_with_its_traceback(slurm, jobs_path):
    # Given a 2-node job whose rank 1 raises at step 1
    job = launch(
        "tests.fixtures.jobs:train", 200, fail_rank=1, pause=0.05, nnodes=2, backend="slurm"
    )
    # When it is waited for, Then the rank's exception is what the user sees, with Slurm's word
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=TIMEOUT)
    message = str(info.value)
    assert "Rank 1 raised" in message and "RuntimeError: rank 1 fails on purpose" in message
    assert "ended FAILED" in message
    assert job.info.failed_rank == 1
    wait_for(lambda: not job_processes(job.folder), 60, message="job processes gone")


def test_a_job_slurm_kills_at_its_time_limit_fails_with_slurm_s_reason(slurm, jobs_path):
    # Given a running job with a 5-minute limit
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.1, backend="slurm", time="5")
    wait_for(lambda: running(job), TIMEOUT, message="job running")
    # and training: a limit lowered while the batch script starts its first step makes Slurm
    # report the step it could not create (FAILED), not the time limit
    wait_for(lambda: job.metrics(), TIMEOUT, message="a rank's first report")
    # When the limit is lowered below its run time (Slurm's granularity is a minute, and a
    # 1-minute job takes 60-90 s to be killed; lowering it has Slurm's own time-limit check
    # kill the job at its next pass, within 30 s)
    slurm.run("scontrol", "update", f"JobId={slurm_job(slurm, job)['JobId']}", "TimeLimit=0")
    # Then the job fails, saying Slurm ended it at its time limit
    with pytest.raises(JobFailed, match=r"ended TIMEOUT \(reason: TimeLimit\): the job reached"):
        job.wait(timeout=TIMEOUT)
    wait_for(lambda: not job_processes(job.folder), 60, message="job processes gone")


def test_a_node_failure_fails_the_job_with_slurm_s_reason(slurm, jobs_path):
    # Given a running 2-node job
    job = launch("tests.fixtures.jobs:train", 10_000, pause=0.1, nnodes=2, backend="slurm")
    wait_for(lambda: running(job), TIMEOUT, message="job running")
    wait_for(lambda: len({m["rank"] for m in job.metrics()}) == 2, TIMEOUT, message="reports")
    # When Slurm declares one of its nodes down
    slurm.run("scontrol", "update", "NodeName=n2", "State=DOWN", "Reason=lepton-test")
    try:
        # Then the job fails with Slurm's NODE_FAIL
        with pytest.raises(JobFailed, match=r"ended NODE_FAIL .*a node of the allocation failed"):
            job.wait(timeout=TIMEOUT)
    finally:
        slurm.run("scontrol", "update", "NodeName=n2", "State=RESUME", check=False)
    wait_for(lambda: not job_processes(job.folder), 60, message="job processes gone")


def test_slurm_s_own_message_for_a_job_it_cannot_run(slurm, jobs_path):
    # Given the two-node cluster, When a job names an unknown partition or needs 3 nodes,
    # Then launch() raises at once with Slurm's own words, and nothing is queued
    with pytest.raises(Invalid, match=r"Slurm refused the job: .*invalid partition specified: gpu"):
        launch(where_am_i, backend="slurm", partition="gpu")
    with pytest.raises(Invalid, match="Requested node configuration is not available"):
        launch(where_am_i, nnodes=3, backend="slurm")
    assert slurm.job_ids() == []
    assert not jobs_path.exists() or not [p for p in jobs_path.iterdir() if p.is_dir()]


def test_an_unreachable_controller_is_named(slurm, jobs_path, tmp_path, monkeypatch):
    # Given a Slurm config whose controller port nobody listens on
    conf = slurm.conf.read_text()
    port = re.search(r"SlurmctldPort=(\d+)", conf).group(1)
    dead = tmp_path / "slurm.conf"
    dead.write_text(conf.replace(f"SlurmctldPort={port}", "SlurmctldPort=9"))
    monkeypatch.setenv("SLURM_CONF", str(dead))
    # When a job is launched, Then sbatch's own message says the controller is unreachable
    with pytest.raises(Invalid, match="Unable to contact slurm controller"):
        launch(where_am_i, backend="slurm")


def test_no_slurm_installed_is_named(jobs_path, monkeypatch, tmp_path):
    # Given a machine with no Slurm commands on PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    # When a job is launched on Slurm, Then the error says so, naming sbatch
    with pytest.raises(Invalid, match="Slurm is not installed here: no 'sbatch' on PATH"):
        launch(where_am_i, backend="slurm")


def threads_and_devices() -> dict:
    """What Slurm and lepton gave the rank: srun's CPUs, its OpenMP threads, its GPUs."""
    return {
        "srun_cpus": os.environ.get("SRUN_CPUS_PER_TASK"),
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def test_ranks_get_slurm_cpus_one_thread_rule_and_no_gpu(slurm, jobs_path, monkeypatch):
    # Given a CPU job asking Slurm for one CPU per node's task
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    job = launch(
        threads_and_devices, backend="slurm", partition="debug", time="10", cpus_per_task=1
    )
    # Then srun got sbatch's --cpus-per-task, the rank the same thread rule as a local
    # one, and no GPU (a CPU job on Slurm sees none, whatever the node has)
    assert job.result(timeout=TIMEOUT) == {"srun_cpus": "1", "omp_threads": "1", "visible": ""}
    assert job.info.gpus == 0


def test_a_gpu_job_without_gpus_is_refused_before_sbatch(slurm, jobs_path):
    # Given a job that asks for NCCL, When launched on Slurm without gpus_per_node
    with pytest.raises(Invalid) as info:
        launch(threads_and_devices, backend="slurm", partition="debug", dist_backend="nccl")
    # Then it is refused before anything is submitted, saying what to add
    assert "needs GPUs, and this job has none (Slurm gpus_per_node is not set)" in str(info.value)
    assert slurm.job_ids() == []
    assert not [p for p in jobs_path.iterdir() if p.is_dir()] if jobs_path.exists() else True
