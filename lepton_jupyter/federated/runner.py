"""The federation's job: a Flower SuperLink and one SuperNode per organisation on loopback,
each its own process, then the run, followed until it ends.

It runs as the single rank of a lepton job, so the federation is a job like any other:
listed by ``jobs()`` and the Jobs panel, its metrics in the monitor, and cancelling it ends
every process it started, Flower's own subprocesses included (they all carry the job's
``LEPTON_JOB_DIR``, by which the job's sweep finds them).

What goes where: each SuperNode is started in its organisation's workspace, as its user,
with its data folder in its own node config; the SuperLink's ServerApp gets the
aggregator's plan and the notebook's functions (run config), never a data path.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..jobs.folder import JOB_DIR_ENV
from ..jobs.reaping import end_job_processes
from .flower_app import (
    DATA_KEY,
    ERROR_FILE,
    FUNCTIONS_KEY,
    ORGANISATION_KEY,
    OUTPUT_KEY,
    PLAN_KEY,
    REPORT_FILE,
    START_FILE,
    STATE_KEY,
)
from .schema import PLAN_FILE, FederationPlan, FederationSummary, NodePlan, OrganisationReport

APP_NAME = "lepton-federation"
APP_MODULE = "lepton_federation_app"
#: Flower's processes: no telemetry or update check (no network), no dependency installs.
FLOWER_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "PYTHONUNBUFFERED": "1",
}
STATUS_EVERY = 10.0
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class FederationFailed(RuntimeError):
    """The federation could not finish; the message says which part failed and why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for_port(
    port: int, process: subprocess.Popen, what: str, timeout: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FederationFailed(
                f"The {what} exited with code {process.returncode} at start. Last lines of "
                f"{log}:\n{log_tail(log)}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise FederationFailed(f"The {what} did not listen on 127.0.0.1:{port} within {timeout} s.")


def flower_tool(name: str) -> str:
    """A Flower command of this interpreter's environment."""
    return str(Path(sys.executable).with_name(name))


def app_pyproject(run_config: dict[str, Any]) -> dict[str, Any]:
    """The Flower app's ``pyproject.toml``: its components are lepton's, its run config the
    federation's."""
    return {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {
            "name": APP_NAME,
            "version": "1.0.0",
            "description": "A lepton federation.",
            "license": "BSD-3-Clause",
            "dependencies": [],
        },
        "tool": {
            "hatch": {"build": {"targets": {"wheel": {"packages": ["."]}}}},
            "flwr": {
                "app": {
                    "publisher": "lepton",
                    "components": {
                        "serverapp": f"{APP_MODULE}:server_app",
                        "clientapp": f"{APP_MODULE}:client_app",
                    },
                    "config": run_config,
                }
            },
        },
    }


class LocalFederation:
    """A SuperLink and the organisations' SuperNodes as processes of this machine."""

    def __init__(self, job_dir: Path, plan: FederationPlan, functions: bytes) -> None:
        self.job_dir = job_dir
        self.plan = plan
        self.functions = functions
        self.logs = job_dir / "logs"
        self.flower_home = job_dir / "flower"
        self.processes: dict[str, subprocess.Popen] = {}
        self.link_port = 0
        self.lost: dict[str, int] = {}

    def _env(self, **extra: str) -> dict[str, str]:
        # Flower's processes import the notebook's functions as this rank does: its sys.path.
        path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        # They start each other by name (flower-superexec, flwr-serverapp): this venv's.
        tools = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        return {
            **os.environ,
            **FLOWER_ENV,
            "PATH": tools,
            "PYTHONPATH": path,
            "FLWR_HOME": str(self.flower_home),
            **extra,
        }

    def _start(self, key: str, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{key}.log").open("ab") as log:
            self.processes[key] = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_superlink(self) -> None:
        self.link_port = free_port()
        command = [
            flower_tool("flower-superlink"),
            "--insecure",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.link_port),
            "--disable-runtime-dependency-installation",
        ]
        self._start("superlink", command, self.job_dir, self._env())
        wait_for_port(
            self.link_port,
            self.processes["superlink"],
            "SuperLink",
            60,
            self.logs / "superlink.log",
        )

    def start_node(self, node: NodePlan) -> None:
        """The organisation's SuperNode, in its workspace, as its user, knowing its data."""
        import tomli_w

        state = self.job_dir / "nodes" / node.organisation
        state.mkdir(parents=True, exist_ok=True)
        config = state / "node-config.toml"
        config.write_text(
            tomli_w.dumps(
                {
                    ORGANISATION_KEY: node.organisation,
                    DATA_KEY: node.data_dir,
                    STATE_KEY: str(state),
                }
            )
        )
        command = [
            flower_tool("flower-supernode"),
            "--insecure",
            "--superlink",
            f"127.0.0.1:{self.link_port}",
            "--port",
            str(free_port()),
            "--node-config",
            str(config),
        ]
        env = self._env(FLWR_HOME=str(state / "flower"), OMP_NUM_THREADS="1")
        if node.user:
            env["JUPYTERHUB_USER"] = node.user
        self._start(f"node-{node.organisation}", command, Path(node.workspace), env)

    def write_app(self) -> Path:
        import tomli_w

        app = self.job_dir / "app"
        app.mkdir(exist_ok=True)
        (app / f"{APP_MODULE}.py").write_text(
            '"""The federation\'s Flower app: lepton\'s ServerApp and ClientApp."""\n\n'
            "from lepton_jupyter.federated.flower_app import client_app, server_app\n\n"
            '__all__ = ["client_app", "server_app"]\n'
        )
        run_config = {
            PLAN_KEY: self.plan.aggregator.model_dump_json(),
            FUNCTIONS_KEY: base64.b64encode(self.functions).decode("ascii"),
            OUTPUT_KEY: str(self.job_dir),
        }
        (app / "pyproject.toml").write_text(tomli_w.dumps(app_pyproject(run_config)))
        home = self.flower_home
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            tomli_w.dumps(
                {
                    "superlink": {
                        "default": "local",
                        "local": {"address": f"127.0.0.1:{self.link_port}", "insecure": True},
                    }
                }
            )
        )
        return app

    def _flwr(self, *args: str, timeout: float = 120) -> dict[str, Any]:
        """A ``flwr`` CLI call (Flower offers no Python API for it) and its JSON answer."""
        # A kernel's FORCE_COLOR would colour the JSON; a plain answer is what is parsed.
        env = {k: v for k, v in self._env().items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
        done = subprocess.run(
            [flower_tool("flwr"), *args, "--format", "json"],
            cwd=self.job_dir,
            env={**env, "NO_COLOR": "1", "TERM": "dumb"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        text = ANSI_ESCAPE.sub("", done.stdout)
        start = text.find("{")
        try:
            answer = json.JSONDecoder().raw_decode(text[start:])[0] if start >= 0 else {}
        except json.JSONDecodeError:
            answer = {}
        if done.returncode != 0 or not answer.get("success", False):
            raise FederationFailed(
                f"flwr {args[0]} failed (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )
        return answer

    def run(self) -> dict[str, Any]:
        (self.job_dir / PLAN_FILE).write_text(self.plan.model_dump_json(indent=2))
        shutil.copyfile(self.plan.start["file"], self.job_dir / START_FILE)
        self.start_superlink()
        for node in self.plan.nodes:
            self.start_node(node)
        app = self.write_app()
        run_id = self._flwr("run", str(app), "local")["run-id"]
        (self.job_dir / "flower-run-id").write_text(str(run_id))
        print(f"Flower run {run_id} started on SuperLink 127.0.0.1:{self.link_port}", flush=True)
        self.follow(run_id)
        return self.summary()

    def follow(self, run_id: str) -> None:
        """Wait for the ServerApp's report; fail clearly when the run cannot finish."""
        report = self.job_dir / REPORT_FILE
        error = self.job_dir / ERROR_FILE
        next_status = time.monotonic() + STATUS_EVERY
        needed = self.plan.aggregator.min_organisations
        while not report.exists():
            if error.exists():
                raise FederationFailed(f"The aggregator (ServerApp) failed:\n{error.read_text()}")
            link = self.processes["superlink"]
            if link.poll() is not None:
                raise FederationFailed(f"The SuperLink exited with code {link.returncode}.")
            for node in self.plan.nodes:
                process = self.processes[f"node-{node.organisation}"]
                if node.organisation not in self.lost and process.poll() is not None:
                    self.lost[node.organisation] = process.returncode
                    print(
                        f"Organisation {node.organisation!r}: its SuperNode exited with code "
                        f"{process.returncode}; Flower drops it once its heartbeat lapses.",
                        flush=True,
                    )
            left = len(self.plan.nodes) - len(self.lost)
            if left < needed:
                with contextlib.suppress(FederationFailed, subprocess.TimeoutExpired):
                    self._flwr("stop", run_id, timeout=30)
                lost = ", ".join(f"{o} (exit {c})" for o, c in self.lost.items())
                raise FederationFailed(
                    f"The federation stopped: the nodes of {lost} exited, leaving {left} "
                    f"organisation(s), fewer than min_organisations={needed}."
                )
            if time.monotonic() > next_status:
                next_status = time.monotonic() + STATUS_EVERY
                self._check_run(run_id)
            time.sleep(0.5)

    def _check_run(self, run_id: str) -> None:
        runs = self._flwr("ls", "--run-id", run_id).get("runs", [])
        status = runs[0].get("status", "") if runs else ""
        if status.startswith("finished") and not (self.job_dir / REPORT_FILE).exists():
            time.sleep(1.0)  # the report may be written just as the run is marked finished
            if not (self.job_dir / REPORT_FILE).exists():
                raise FederationFailed(
                    f"Flower run {run_id} ended ({status}) without the aggregator's report; "
                    f"see {self.logs / 'superlink.log'}."
                )

    def summary(self) -> dict[str, Any]:
        report = json.loads((self.job_dir / REPORT_FILE).read_text())
        aggregator = self.plan.aggregator
        if report["aggregate"] is None:
            raise FederationFailed("No round produced an aggregate (every update failed).")
        organisations = [
            OrganisationReport(
                organisation=node.organisation,
                dataset=node.dataset,
                examples=report["examples"].get(node.organisation, 0),
                rounds=report["rounds"].get(node.organisation, []),
                privacy=report["privacy"].get(node.organisation),
            )
            for node in self.plan.nodes
        ]
        summary = FederationSummary(
            rounds=aggregator.rounds,
            strategy=aggregator.strategy,
            metric=aggregator.metric,
            start_metric=report["start_metric"],
            round_metrics={int(k): v for k, v in report["round_metrics"].items()},
            organisations=organisations,
            aggregate=report["aggregate"],
            round_aggregates={int(k): v for k, v in report["round_aggregates"].items()},
            secure_aggregation=aggregator.secure_aggregation is not None,
        )
        return summary.model_dump(mode="json")

    def stop(self, grace: float = 5.0) -> None:
        """End the processes this federation started: politely, then by force, then every
        process Flower started for it (they carry the job's folder in their environment)."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        end_job_processes(self.job_dir)


def run(plan: dict[str, Any], functions: bytes) -> dict[str, Any]:
    """The federation job's entry point (its only rank): returns the FederationSummary."""
    job_dir = Path(os.environ[JOB_DIR_ENV])
    federation = LocalFederation(job_dir, FederationPlan.model_validate(plan), functions)
    try:
        return federation.run()
    finally:
        federation.stop()
