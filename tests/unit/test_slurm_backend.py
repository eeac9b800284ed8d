"""The slurm backend's pieces that need no cluster: options and config defaults, the batch
script, reading ``scontrol``, and what a user is told when Slurm ends a job."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from lepton_jupyter.app import LeptonApp
from lepton_jupyter.errors import Invalid
from lepton_jupyter.jobs.backends.slurm import (
    SlurmBackend,
    batch_script,
    parse_job,
    slurm_outcome,
)
from lepton_jupyter.jobs.folder import JobFolder
from lepton_jupyter.jobs.schema import JobSpec, JobStatus
from lepton_jupyter.jobs.store import JobStore
from lepton_jupyter.settings import load_settings
from tests.fixtures.jobs import job_spec


def make_spec(tmp_path: Path, **changes) -> tuple[JobSpec, JobFolder]:
    values = {
        "id": "train-abc123",
        "backend": "slurm",
        "nprocs": 4,
        "nnodes": 2,
        "kind": "function",
        "target": "train",
        "cwd": "/home/me/project",
        "python": "/opt/env/bin/python",
        **changes,
    }
    folder = JobFolder(tmp_path / "my jobs" / values["id"])
    folder.create()
    return job_spec(f"sqlite:///{tmp_path / 'jobs.db'}", **values), folder


def test_config_defaults_apply_and_launch_keywords_override_them(monkeypatch):
    # Given site defaults in the server config, exported to kernels as JSON
    defaults = {"partition": "gpu", "time": "2:00:00", "sbatch_extra": ["--qos=normal"]}
    app = LeptonApp(slurm_defaults=defaults)
    monkeypatch.setenv(
        "LEPTON_SLURM_DEFAULTS", app.lepton_settings().to_env()["LEPTON_SLURM_DEFAULTS"]
    )
    settings = load_settings()
    assert settings.slurm_defaults == defaults
    # When a launch names its own time and one more sbatch option
    options = SlurmBackend.resolve_options(
        {"time": 30, "sbatch_extra": ["--qos=high"], "gpus_per_node": 4}, settings
    )
    # Then the call wins, the defaults fill in the rest, and extra options add up in order
    assert options == {
        "partition": "gpu",
        "time": "30",
        "gpus_per_node": 4,
        "sbatch_extra": ["--qos=normal", "--qos=high"],
    }


@pytest.mark.parametrize(
    ("given", "defaults", "message"),
    [
        ({"gpus_per_node": -1}, {}, "gpus_per_node: Input should be greater than or equal to 0"),
        ({"cpus_per_task": "many"}, {}, "cpus_per_task: Input should be a valid integer"),
        ({"sbatch_extra": ["qos=high"]}, {}, "one sbatch option such as '--qos=high'"),
        ({"sbatch_extra": "--qos=high"}, {}, "sbatch_extra: Input should be a valid list"),
        ({}, {"partiton": "gpu"}, "slurm_defaults has unknown option(s) ['partiton']"),
    ],
)
def test_bad_slurm_options_are_named(given, defaults, message):
    # Given a bad option in a launch() call or in the config, Then Invalid names it
    settings = load_settings(slurm_defaults=defaults)
    with pytest.raises(Invalid) as info:
        SlurmBackend.resolve_options(given, settings)
    assert message in str(info.value)
    if defaults:
        assert "Did you mean 'partition'?" in str(info.value)


def test_the_batch_script_runs_one_torch_agent_per_node_on_the_worker(tmp_path):
    # Given a 2-node x 4-rank job with Slurm options and an environment variable
    spec, folder = make_spec(
        tmp_path,
        env={"SEED": "1 2"},
        max_restarts=2,
        backend_options={
            "partition": "gpu",
            "account": "ml",
            "time": "1:00:00",
            "mem": "64G",
            "gpus_per_node": 4,
            "cpus_per_task": 16,
            "sbatch_extra": ["--qos=high"],
        },
    )
    # When its batch script is written
    script = batch_script(spec, folder)
    path = str(folder.path.resolve())
    # Then every option is an #SBATCH line, with one task per node and output in the job folder
    directives = [
        line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH")
    ]
    assert directives == [
        "--job-name=lepton-train-abc123",
        "--nodes=2",
        "--ntasks-per-node=1",
        f"--output={path}/slurm-%j.out",
        f"--chdir={path}",
        "--no-requeue",
        "--partition=gpu",
        "--account=ml",
        "--time=1:00:00",
        "--gpus-per-node=4",
        "--cpus-per-task=16",
        "--mem=64G",
        "--qos=high",
    ]
    # and srun starts torchrun on every node: c10d on the first node, the worker entry
    (launch,) = [line for line in script.splitlines() if line.startswith("exec srun")]
    assert launch.startswith(
        "exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 /opt/env/bin/python"
    )
    for part in (
        "-m torch.distributed.run",
        "--nnodes=$SLURM_NNODES",
        "--nproc-per-node=4",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=$head_addr:$port",
        "--rdzv-id=train-abc123",
        "--max-restarts=2",
        f"-m lepton_jupyter.jobs.worker '{path}'",
    ):
        assert part in launch
    # and the ranks get the job's environment, quoted
    assert "export SEED='1 2'" in script
    assert f"export LEPTON_JOB_DIR='{path}'" in script


def test_scontrol_show_job_is_read():
    line = (
        "JobId=7 JobName=lepton-t JobState=PENDING Reason=Resources Dependency=(null) "
        "ExitCode=0:0 NodeList= NumNodes=2"
    )
    job = parse_job(line)
    assert (job.state, job.reason, job.nodes, job.exit_code) == ("PENDING", "Resources", "", 0)
    job = parse_job("JobId=8 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 NodeList=n[1-2]")
    assert (job.state, job.reason, job.nodes) == ("TIMEOUT", "TimeLimit", "n[1-2]")


def test_a_job_folder_some_node_cannot_see_is_named(tmp_path):
    # Given a 2-node job whose batch script failed and only n1 checked in (a node that does
    # not see the job folder cannot be made on one machine, so its trace is written here)
    spec, folder = make_spec(tmp_path, nprocs=1)
    (folder.path / "nodes").mkdir()
    (folder.path / "nodes" / "n1").touch()
    (folder.path / "slurm-9.out").write_text("lepton: the job folder is not visible\n")
    job = parse_job("JobId=9 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 NodeList=n[1-2]")
    # When the supervisor reads the outcome
    outcome = slurm_outcome(spec, folder, "9", job)
    # Then the job failed, and the message says which nodes saw the folder and what to set
    assert outcome.status is JobStatus.failed
    assert f"The job folder {folder.path} is not visible from every node of n[1-2]" in outcome.error
    assert "(seen from: n1)" in outcome.error
    assert "jobs_dir (c.LeptonApp.jobs_dir, LEPTON_JOBS_DIR)" in outcome.error
    assert "lepton: the job folder is not visible" in outcome.error


def test_states_slurm_has_not_ended_are_not_an_outcome(tmp_path):
    spec, folder = make_spec(tmp_path)
    for state in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED"):
        assert slurm_outcome(spec, folder, "1", parse_job(f"JobState={state}")) is None
    done = slurm_outcome(spec, folder, "1", parse_job("JobState=COMPLETED NodeList=n1"))
    assert done.status is JobStatus.succeeded
    assert done.exit_codes == dict.fromkeys(range(8), 0)


def test_a_job_store_made_before_detail_existed_gains_it(tmp_path):
    # Given a job store file written by a version without the detail column
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(sql("CREATE TABLE jobs (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200))"))
    # When it is opened, Then the column is there to write
    JobStore(url)
    with create_engine(url).begin() as conn:
        columns = [row[1] for row in conn.execute(sql("PRAGMA table_info(jobs)"))]
    assert "detail" in columns


def test_the_batch_script_passes_cpus_to_srun_and_splits_threads_between_ranks(tmp_path):
    # Given a 4-rank-per-node job, and one that runs on CPU only
    spec, folder = make_spec(tmp_path, backend_options={"cpus_per_task": 16})
    cpu_spec, _ = make_spec(tmp_path, id="cpu-abc123", gpus=0)
    script = batch_script(spec, folder)
    # Then srun gets sbatch's --cpus-per-task (Slurm >= 22.05 no longer passes it on)
    assert 'export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"' in script
    # and the ranks of a CPU job see no GPU, while a GPU job keeps Slurm's
    assert "export CUDA_VISIBLE_DEVICES=''" in batch_script(cpu_spec, folder)
    assert "CUDA_VISIBLE_DEVICES" not in script

    # When bash runs those lines as Slurm would with 16 CPUs per task (or none set)
    start = script.index("# srun no longer")
    lines = script[start : script.index("job_dir=", start)]

    def exported(env: dict[str, str]) -> str:
        shown = 'echo "$SRUN_CPUS_PER_TASK|$OMP_NUM_THREADS"'
        done = subprocess.run(
            ["bash", "-c", f"set -u; SRUN_CPUS_PER_TASK=; {lines}\n{shown}"],
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    # Then each of the 4 ranks gets 4 threads, at least 1, and a user's setting is kept
    assert exported({"SLURM_CPUS_PER_TASK": "16"}) == "16|4"
    assert exported({"SLURM_CPUS_PER_TASK": "2"}) == "2|1"
    assert exported({"SLURM_CPUS_PER_TASK": "16", "OMP_NUM_THREADS": "7"}) == "16|7"
