"""The runs service: list, show, diff and rerun runs. No tornado: the public API, the CLI and
the REST handlers all call it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from .._process import process_started
from ..errors import Invalid
from ..settings import Settings
from .diff import RunDiff
from .rerunner import diff_stored, execute_rerun, placeholder, plan_rerun
from .schema import Manifest
from .store import DIFF, LOG, RunStore


class RunService:
    """Runs recorded under one state folder."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RunService:
        return cls(RunStore.from_settings(settings))

    def list(self, notebook: str | None = None, limit: int | None = 50) -> list[Manifest]:
        """Recorded runs, newest first; ``notebook`` keeps only runs of that notebook."""
        if limit is not None and limit < 1:
            raise Invalid(f"limit must be at least 1, got {limit}.")
        return self.store.list(notebook=notebook, limit=limit)

    def get(self, run_id: str) -> Manifest:
        """The manifest of ``run_id``; NotFound (with a did-you-mean) if there is none."""
        return self.store.get(run_id)

    def output_html(self, run_id: str) -> str:
        """The run's executed notebook as a static HTML page (nbconvert, no scripts): a
        read-only view of any run's output, wherever its folder is."""
        from nbconvert import HTMLExporter

        from ..errors import NotFound
        from .rerunner import load_output

        manifest = self.store.get(run_id)
        notebook = load_output(self.store, manifest)
        if notebook is None:
            raise NotFound(f"Run {run_id} wrote no output notebook.")
        exporter = HTMLExporter(template_name="lab", exclude_input_prompt=False)
        html, _ = exporter.from_notebook_node(notebook)
        return html

    def diff(
        self,
        run_id: str,
        against: str | None = None,
        *,
        abs_tol: float = 0.0,
        rel_tol: float = 0.0,
    ) -> RunDiff:
        """How ``run_id`` differs from ``against`` (default: the run it reran)."""
        if abs_tol < 0 or rel_tol < 0:
            raise Invalid(f"Tolerances must be >= 0, got abs_tol={abs_tol}, rel_tol={rel_tol}.")
        after = self.store.get(run_id)
        if against is None:
            if after.rerun_of is None:
                raise Invalid(
                    f"Run {run_id} is not a rerun; name the run to compare it with "
                    "(against=RUN_ID)."
                )
            against = after.rerun_of
        before = self.store.get(against)
        return diff_stored(self.store, before, after, abs_tol=abs_tol, rel_tol=rel_tol)

    def saved_diff(self, run_id: str) -> RunDiff:
        """The diff a rerun wrote against its original (exact comparison), else computed."""
        path = self.store.folder(run_id) / DIFF
        if path.is_file():
            return RunDiff.model_validate_json(path.read_text())
        return self.diff(run_id)

    def rerun(
        self,
        run_id: str,
        parameters: dict[str, Any] | None = None,
        *,
        from_copy: bool = False,
        apply: bool = False,
        output_path: str | None = None,
        into: str | None = None,
        log_output: bool = False,
    ) -> Manifest:
        """Rerun ``run_id`` here and now; the new manifest when it has finished.

        ``into`` is a run id already created for this rerun (by :meth:`start_rerun`).
        """
        plan = plan_rerun(
            self.store, self.store.get(run_id), parameters, from_copy=from_copy, apply=apply
        )
        return execute_rerun(
            self.store, plan, run_id=into, output_path=output_path, log_output=log_output
        )

    def start_rerun(
        self,
        run_id: str,
        parameters: dict[str, Any] | None = None,
        *,
        from_copy: bool = False,
        apply: bool = False,
    ) -> Manifest:
        """Check the rerun, then run it in a background process; its 'running' manifest.

        The server uses this: papermill changes the working directory of the process it runs
        in, and a rerun takes as long as the notebook, so neither belongs in the server.
        Progress: poll :meth:`get`; the process's output goes to ``rerun.log`` in the folder.
        """
        plan = plan_rerun(
            self.store, self.store.get(run_id), parameters, from_copy=from_copy, apply=apply
        )
        new_id = self.store.create()
        manifest = placeholder(self.store, plan, new_id)
        command = [
            sys.executable,
            "-m",
            "lepton_jupyter.cli",
            "runs",
            "rerun",
            run_id,
            "--into",
            new_id,
            "--parameters-json",
            json.dumps(plan.overrides, default=str),
        ]
        if from_copy:
            command.append("--from-copy")
        if apply:
            command.append("--apply")
        env = dict(os.environ)
        env["LEPTON_STATE_DIR"] = str(self.store.root.parent)
        with (self.store.root / new_id / LOG).open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=plan.cwd,
                env=env,
                start_new_session=True,
            )
        # Until its engine records the run, the process is the run's: if it dies first, the
        # next reader sees the run crashed rather than running for ever.
        manifest = manifest.model_copy(
            update={
                "pid": process.pid,
                "pid_started": process_started(process.pid),
                "host": socket.gethostname(),
            }
        )
        if self.store.get(new_id).pid is None:  # the engine has not written its own yet
            self.store.save(manifest)
        # Reap the process when it ends so a long-lived server collects no zombies.
        threading.Thread(target=process.wait, name=f"rerun-{new_id}", daemon=True).start()
        return manifest
