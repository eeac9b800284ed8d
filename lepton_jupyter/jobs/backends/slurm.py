"""The Slurm backend: ``sbatch`` a script whose ``srun`` starts one torch elastic agent per node.

Each node runs ``python -m torch.distributed.run`` (torchrun) with c10d rendezvous on the
first node of the allocation, and every agent starts the same worker entry as the local
backend, so ranks write their logs, metrics and result into the job folder, which must be
on a filesystem every node sees. The supervisor (on the machine that launched the job)
submits, then polls ``scontrol show job``: no accounting database is assumed, so ``sacct``
is never called. ``scancel`` cancels.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...errors import Invalid, did_you_mean
from ...settings import Settings, load_settings
from ..folder import JobFolder, process_matches
from ..schema import JobInfo, JobSpec, JobStatus
from ..worker import MODULE as WORKER_MODULE
from .base import Backend, Outcome, describe_failure, job_env

OUTPUT_LINES_IN_ERROR = 20

# Slurm job states (squeue(1) "JOB STATE CODES") by what they mean for a lepton job.
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
ENDED_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "SPECIAL_EXIT",
        "REVOKED",
    }
)
# Why Slurm ended a job, for the error a user reads; the state name is shown as well.
END_EXPLANATIONS = {
    "TIMEOUT": "the job reached its time limit",
    "NODE_FAIL": "a node of the allocation failed",
    "OUT_OF_MEMORY": "a process ran out of memory",
    "BOOT_FAIL": "a node failed to boot",
    "DEADLINE": "the job reached its deadline",
    "PREEMPTED": "a higher-priority job preempted it",
    "CANCELLED": "it was cancelled outside lepton (scancel, or an administrator)",
}


class SlurmOptions(BaseModel):
    """Options of one Slurm job: ``launch(..., backend="slurm", partition=..., time=...)``.

    Every field maps to an sbatch option; ``sbatch_extra`` adds any other (``--qos=high``,
    ``--constraint=a100``). Unset fields are left to the cluster's defaults.
    """

    model_config = ConfigDict(extra="forbid")

    partition: str | None = Field(default=None, description="sbatch --partition.")
    account: str | None = Field(default=None, description="sbatch --account.")
    time: str | None = Field(
        default=None,
        description="Time limit, sbatch --time: minutes, or [days-]hours:minutes:seconds.",
    )
    gpus_per_node: int | None = Field(default=None, ge=0, description="sbatch --gpus-per-node.")
    cpus_per_task: int | None = Field(
        default=None,
        ge=1,
        description="sbatch --cpus-per-task: CPUs for each node's agent and its nprocs ranks.",
    )
    mem: str | None = Field(default=None, description="Memory per node, sbatch --mem (e.g. 64G).")
    sbatch_extra: list[str] = Field(
        default_factory=list, description="More sbatch options, one per item (--qos=high)."
    )

    @field_validator("time", mode="before")
    @classmethod
    def _minutes_as_text(cls, value: Any) -> Any:
        # time=30 means 30 minutes, as in sbatch.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("sbatch_extra")
    @classmethod
    def _options_only(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.startswith("-") or "\n" in item:
                raise ValueError(
                    f"each sbatch_extra item is one sbatch option such as '--qos=high'; "
                    f"got {item!r}"
                )
        return value


@dataclass
class SlurmState:
    """One reading of ``scontrol show job``."""

    state: str
    reason: str
    nodes: str
    exit_code: int | None


def sbatch_options(spec: JobSpec, folder: JobFolder) -> list[str]:
    """The sbatch options of this job, for the script's #SBATCH lines and ``--test-only``."""
    options = SlurmOptions.model_validate(spec.backend_options)
    path = folder.path.resolve()
    args = [
        f"--job-name={slurm_job_name(spec.id)}",
        f"--nodes={spec.nnodes}",
        "--ntasks-per-node=1",
        f"--output={path / 'slurm-%j.out'}",
        f"--chdir={path}",
        # A job lepton is following ends when Slurm ends it; Slurm must not rerun it behind
        # the supervisor's back after a node failure (sbatch_extra may say --requeue).
        "--no-requeue",
    ]
    named = {
        "partition": options.partition,
        "account": options.account,
        "time": options.time,
        "gpus-per-node": options.gpus_per_node,
        "cpus-per-task": options.cpus_per_task,
        "mem": options.mem,
    }
    args += [f"--{name}={value}" for name, value in named.items() if value is not None]
    return args + options.sbatch_extra


def slurm_job_name(job_id: str) -> str:
    return f"lepton-{job_id}"


def batch_script(spec: JobSpec, folder: JobFolder) -> str:
    """The sbatch script: check every node sees the job folder, then one agent per node."""
    path = folder.path.resolve()
    q = shlex.quote
    env = job_env(spec, path)
    torchrun = [
        spec.python,
        "-u",
        "-m",
        "torch.distributed.run",
        "--nnodes=$SLURM_NNODES",
        f"--nproc-per-node={spec.nprocs}",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=$head_addr:$port",
        f"--rdzv-id={spec.id}",
        f"--max-restarts={spec.max_restarts}",
        "--monitor-interval=0.1",
        f"--log-dir={path / 'elastic'}",
        "-m",
        WORKER_MODULE,
        str(path),
    ]
    # $-variables in the torchrun line are the script's own; everything else is quoted.
    torchrun_line = " ".join(a if a.startswith("--") and "$" in a else q(a) for a in torchrun)
    lines = [
        "#!/bin/bash",
        f"# lepton job {spec.id}: {spec.nnodes} node(s) x {spec.nprocs} rank(s)",
        *(f"#SBATCH {option}" for option in sbatch_options(spec, folder)),
        "set -u",
        *(f"export {name}={q(value)}" for name, value in env.items()),
        "# Ranks meet on a store rank 0 opens anew in every rendezvous round, not on the",
        "# agents' shared one: after an elastic restart the agents' restart counts differ",
        "# between nodes, so keys of a failed round could not be told apart by attempt.",
        "export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1",
        "# srun no longer takes --cpus-per-task from sbatch (Slurm >= 22.05): pass it on, and",
        "# split the CPUs of each node's task between its ranks, as local jobs do.",
        'if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then',
        '  export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"',
        "fi",
        'if [ -z "${OMP_NUM_THREADS:-}" ]; then',
        f"  threads=$(( ${{SLURM_CPUS_PER_TASK:-$(nproc)}} / {spec.nprocs} ))",
        "  export OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 ))",
        "fi",
        f"job_dir={q(str(path))}",
        "",
        "# Every node must see the job folder: ranks read the spec there and write logs,",
        "# metrics and results there. Each node leaves a marker the supervisor checks.",
        'mkdir -p "$job_dir/nodes"',
        "if ! srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c "
        '\'test -r "$0/spec.json" && touch "$0/nodes/$SLURMD_NODENAME"\' "$job_dir"; then',
        '  echo "lepton: the job folder $job_dir is not visible from every node of'
        ' $SLURM_JOB_NODELIST; put jobs_dir on a shared filesystem" >&2',
        "  exit 3",
        "fi",
        "",
        "# c10d rendezvous on the first node of the allocation, which runs this script.",
        'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        'head_addr=$(sinfo -h -N -n "$head_node" -o %o | head -n 1)',
        "head_addr=${head_addr:-$head_node}",
        f"port=$({q(spec.python)} -c "
        "'import socket; s = socket.socket(); s.bind((\"\", 0)); print(s.getsockname()[1])')",
        "exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 " + torchrun_line,
        "",
    ]
    return "\n".join(lines)


def _slurm_env() -> dict[str, str]:
    """This process's environment minus the variables of a Slurm job it may itself run in
    (a notebook server started by batchspawner): they would leak into the new job."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"}


def run_slurm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a Slurm client command; Invalid when Slurm is not installed here."""
    if shutil.which(args[0]) is None:
        raise Invalid(
            f"Slurm is not installed here: no {args[0]!r} on PATH. The slurm backend needs the "
            f"Slurm client commands (sbatch, squeue, scontrol, scancel) on the machine that "
            f"runs Jupyter."
        )
    timeout = load_settings().slurm_command_timeout
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=_slurm_env(),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise Invalid(
            f"{' '.join(args)} did not answer within {timeout:g} s: is the "
            f"Slurm controller reachable?"
        ) from e


def parse_job(text: str) -> SlurmState:
    """JobState, Reason, NodeList and the exit code from ``scontrol show job -o``."""

    def field(name: str) -> str:
        found = re.search(rf"(?:^|\s){name}=(\S*)", text)
        return found.group(1) if found else ""

    code = re.match(r"(\d+):(\d+)", field("ExitCode"))
    return SlurmState(
        state=field("JobState"),
        reason=field("Reason"),
        nodes=field("NodeList"),
        exit_code=int(code.group(1)) if code else None,
    )


def slurm_outcome(
    spec: JobSpec, folder: JobFolder, slurm_id: str, job: SlurmState
) -> Outcome | None:
    """The lepton outcome of a Slurm job in ``job.state``; None while it has not ended."""
    if job.state not in ENDED_STATES:
        return None
    world_size = spec.nnodes * spec.nprocs
    if job.state == "COMPLETED":
        return Outcome(JobStatus.succeeded, dict.fromkeys(range(world_size), 0))
    slurm_says = f"Slurm job {slurm_id} ended {job.state} (reason: {job.reason or 'none given'}"
    slurm_says += f", exit code {job.exit_code})" if job.state == "FAILED" else ")"
    if job.state in END_EXPLANATIONS:
        slurm_says += f": {END_EXPLANATIONS[job.state]}"
    slurm_says += "."
    rank = folder.first_failed_rank()
    if rank is not None:
        exit_codes: dict[int, int | None] = dict.fromkeys(range(world_size))
        exit_codes[rank] = 1
        return Outcome(
            JobStatus.failed, exit_codes, rank, f"{describe_failure(folder, rank, 1)}\n{slurm_says}"
        )
    seen = sorted(p.name for p in (folder.path / "nodes").glob("*"))
    if job.state == "FAILED" and job.nodes and len(seen) < spec.nnodes:
        slurm_says += (
            f" The job folder {folder.path} is not visible from every node of {job.nodes} "
            f"(seen from: {', '.join(seen) or 'none'}). Ranks read their spec and write logs "
            f"there: set jobs_dir (c.LeptonApp.jobs_dir, LEPTON_JOBS_DIR) to a filesystem "
            f"shared by the Jupyter machine and every compute node."
        )
    output = folder.tail(folder.path / f"slurm-{slurm_id}.out", OUTPUT_LINES_IN_ERROR).strip()
    # When Slurm killed the job its reason is the cause; the agents' output only shows
    # them being signalled.
    if output and job.state in ("FAILED", "OUT_OF_MEMORY", "SPECIAL_EXIT"):
        slurm_says += f"\nLast lines of the job's Slurm output:\n{output}"
    return Outcome(JobStatus.failed, dict.fromkeys(range(world_size)), None, slurm_says)


class SlurmBackend(Backend):
    """Jobs as Slurm batch jobs, followed with ``scontrol`` and cancelled with ``scancel``."""

    name: ClassVar[str] = "slurm"
    poll_interval: ClassVar[float] = 2.0
    option_names: ClassVar[frozenset[str]] = frozenset(SlurmOptions.model_fields)
    #: Whether the job was seen started (and marked running in the store).
    _running: bool = False

    @classmethod
    def resolve_options(cls, given: dict[str, Any], settings: Settings) -> dict[str, Any]:
        """``given`` over ``slurm_defaults`` from the config; extra sbatch options add up."""
        defaults = dict(settings.slurm_defaults)
        unknown = sorted(set(defaults) - cls.option_names)
        if unknown:
            raise Invalid(
                f"slurm_defaults has unknown option(s) {unknown}; known: "
                f"{', '.join(sorted(cls.option_names))}."
                + did_you_mean(unknown[0], cls.option_names)
            )
        base = _validated(defaults, "slurm_defaults")
        call = _validated(given, "launch()")
        merged = {**base.model_dump(exclude_unset=True), **call.model_dump(exclude_unset=True)}
        merged["sbatch_extra"] = [*base.sbatch_extra, *call.sbatch_extra]
        options = SlurmOptions.model_validate(merged)
        return options.model_dump(exclude_defaults=True)

    @classmethod
    def resolve_gpus(
        cls, requested: int | list[str] | None, nprocs: int, options: dict[str, Any]
    ) -> tuple[int, list[str], str]:
        """Slurm allocates the GPUs: ``gpus=N`` is ``gpus_per_node=N``; with neither, the
        job runs on CPU (its ranks are shown no GPU, even on a GPU node)."""
        per_node = options.get("gpus_per_node")
        if isinstance(requested, list):
            raise Invalid(
                "On Slurm, ask for a number of GPUs per node (gpus=N or gpus_per_node=N); "
                "Slurm chooses which."
            )
        if requested is not None:
            if per_node is not None and per_node != requested:
                raise Invalid(
                    f"gpus={requested} and gpus_per_node={per_node} disagree; give one of them."
                )
            options["gpus_per_node"] = per_node = requested
        where = (
            f"Slurm gpus_per_node={per_node}"
            if per_node is not None
            else ("Slurm gpus_per_node is not set")
        )
        return per_node or 0, [], where

    @classmethod
    def check(cls, spec: JobSpec, folder: JobFolder) -> None:
        """Ask Slurm (``sbatch --test-only``) whether it could ever run this job."""
        probe = run_slurm("sbatch", "--test-only", *sbatch_options(spec, folder), "--wrap=true")
        if probe.returncode != 0:
            raise Invalid(f"Slurm refused the job: {_slurm_message(probe)}")

    def before_start(self, spec: JobSpec, folder: JobFolder) -> bool:
        # The job stays queued while Slurm has it pending; poll() marks it running.
        return not self.store.get(spec.id).cancel_requested

    def submit(self, spec: JobSpec, folder: JobFolder) -> str:
        """sbatch the script; the handle is Slurm's job id."""
        script = folder.path / "job.sbatch"
        script.write_text(batch_script(spec, folder))
        done = run_slurm("sbatch", "--parsable", str(script.resolve()))
        if done.returncode != 0:
            raise RuntimeError(f"sbatch refused the job: {_slurm_message(done)}")
        slurm_id = done.stdout.strip().split(";")[0]
        self.store.set_detail(spec.id, f"Slurm job {slurm_id} submitted")
        if self.store.get(spec.id).cancel_requested:
            # cancel() ran while sbatch did and found nothing to cancel yet.
            run_slurm("scancel", slurm_id)
        return slurm_id

    def poll(self, spec: JobSpec, folder: JobFolder, handle: str) -> Outcome | None:
        """Read the job from ``scontrol``; record its state and Slurm's reason as detail."""
        try:
            shown = run_slurm("scontrol", "show", "job", "-o", handle)
        except Invalid as e:  # scontrol timed out: the controller is busy or restarting
            self.store.set_detail(spec.id, f"Slurm job {handle}: {e.message}")
            return None
        if shown.returncode != 0:
            message = _slurm_message(shown)
            if "Invalid job id" in message:
                return Outcome(
                    JobStatus.failed,
                    error=f"Slurm no longer knows job {handle} ({message}); it ended while "
                    f"nobody was polling it.",
                )
            # The controller is unreachable for now (restarting, overloaded): keep waiting.
            self.store.set_detail(spec.id, f"Slurm job {handle}: {message}")
            return None
        job = parse_job(shown.stdout)
        if job.state not in PENDING_STATES and job.nodes and not self._running:
            # Also when the job ran and ended between two polls: it did start.
            self._running = self.store.mark_running(spec.id)
        outcome = slurm_outcome(spec, folder, handle, job)
        if outcome is not None:
            why = f" ({job.reason})" if job.reason not in ("", "None") else ""
            self.store.set_detail(spec.id, f"Slurm job {handle} {job.state}{why}")
            return outcome
        if job.state in PENDING_STATES:
            self.store.set_detail(spec.id, f"Slurm job {handle} pending: {job.reason}")
        else:
            self.store.set_detail(spec.id, f"Slurm job {handle} {job.state} on {job.nodes}")
        return None

    def cancel(self, job: JobInfo, folder: JobFolder, grace: float) -> None:
        """scancel (Slurm signals every step, then kills them), and wait for the supervisor."""
        name = slurm_job_name(job.id)
        run_slurm("scancel", f"--name={name}")
        deadline = time.monotonic() + grace
        while self._active(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if self._active(name):
            run_slurm("scancel", "--signal=KILL", "--full", f"--name={name}")
        # The supervisor sees the job CANCELLED at its next poll, records it and exits.
        pid = job.supervisor_pid
        marker = str(folder.path)
        while pid and process_matches(pid, marker) and time.monotonic() < deadline + 30:
            time.sleep(0.2)
        if pid and process_matches(pid, marker):
            os.kill(pid, signal.SIGTERM)
        # A submit that raced this cancel scancels its own job; make sure it did.
        run_slurm("scancel", f"--name={name}")
        while self._active(name) and time.monotonic() < deadline + 60:
            time.sleep(0.2)

    @staticmethod
    def _active(name: str) -> bool:
        """Whether a job of this name is still pending, running or completing."""
        listed = run_slurm("squeue", "-h", f"--name={name}", "-o", "%T")
        return listed.returncode != 0 or bool(listed.stdout.split())


def _validated(options: dict[str, Any], where: str) -> SlurmOptions:
    try:
        return SlurmOptions.model_validate(options)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise Invalid(f"Bad Slurm option in {where}: {problems}.") from None


def _slurm_message(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").replace(
        "\n", " "
    )
