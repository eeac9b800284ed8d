"""``LeptonExecutionManager``: jupyter-scheduler's jobs executed by papermill under the
lepton engine, so every scheduled run records a manifest.

Enable it with one line of jupyter_server config::

    c.Scheduler.execution_manager_class = "lepton_jupyter.scheduler.LeptonExecutionManager"

jupyter-scheduler runs :meth:`ExecutionManager.process` in a fresh (spawned) process per
job: ``before_start`` -> ``execute`` -> ``on_complete`` / ``on_failure``. Only ``execute``
is ours; the run id goes into the job's status message and the output notebook's metadata
(``metadata.lepton.run_id``), the job id into the run's manifest (``scheduled``).
"""

from __future__ import annotations

import ast
import contextlib
import os
import tempfile
from typing import Any

try:
    from jupyter_scheduler.executors import DefaultExecutionManager
    from jupyter_scheduler.models import JobFeature
    from jupyter_scheduler.orm import Job
except ImportError as e:  # the [scheduler] extra is not installed
    raise ImportError(
        "Scheduled runs need jupyter-scheduler: pip install 'lepton_jupyter[scheduler]' "
        f"(importing it failed: {e})."
    ) from e

import nbformat

from ..errors import NotFound
from ..runs.schema import ScheduledJob
from ..runs.store import OUTPUT, RunStore
from .service import ScheduledRunService


class ScheduledRunFailed(Exception):
    """The notebook failed or a check did not pass; the message is what both UIs show."""


def parameter_value(text: str) -> Any:
    """A job parameter as the notebook gets it: jupyter-scheduler's dialog takes Python
    literals as text ('0.1', "'main'", 'True'); text that is no literal stays a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


class LeptonExecutionManager(DefaultExecutionManager):
    """Executes a job with ``papermill --engine lepton`` and records it as a lepton run."""

    run_id: str | None = None

    def execute(self) -> None:
        import papermill

        job = self.model
        input_path = self.staging_paths["input"]
        staging_dir = os.path.dirname(input_path)
        nb = nbformat.read(input_path, as_version=4)
        store = RunStore.from_settings()
        self.run_id = store.create()
        self._set_status_message(f"lepton run {self.run_id} (running)")
        scheduled = ScheduledJob(
            job_id=job.job_id, job_definition_id=job.job_definition_id, job_name=job.name
        )
        error: BaseException | None = None
        with tempfile.TemporaryDirectory(prefix="lepton-scheduled-") as scratch:
            output_path = os.path.join(scratch, "output.ipynb")
            try:
                papermill.execute_notebook(
                    input_path,
                    output_path,
                    parameters={k: parameter_value(v) for k, v in (job.parameters or {}).items()},
                    engine_name="lepton",
                    kernel_name=nb.metadata.get("kernelspec", {}).get("name"),
                    cwd=staging_dir,
                    progress_bar=False,
                    lepton_run_id=self.run_id,
                    lepton_scheduled=scheduled,
                )
            except Exception as e:  # the manifest says how it ended; judged below
                error = e
            finally:
                self._write_outputs(job, store, output_path)
                self.add_side_effects_files(staging_dir)
        try:
            manifest = ScheduledRunService.from_settings().conclude(self.run_id)
        except NotFound:
            # papermill refused the job before the engine began (no such kernel...).
            with contextlib.suppress(OSError):
                (store.root / self.run_id).rmdir()
            self.run_id = None
            raise ScheduledRunFailed(str(error)) from error
        if manifest.status != "completed":
            raise ScheduledRunFailed(f"{manifest.error} (lepton run {manifest.id})") from error

    def _write_outputs(self, job: Any, store: RunStore, papermill_output: str) -> None:
        """The job's output formats, from the executed notebook (the run's own copy when
        papermill wrote none)."""
        for candidate in (papermill_output, str(store.root / str(self.run_id) / OUTPUT)):
            if os.path.isfile(candidate):
                self.create_output_files(job, nbformat.read(candidate, as_version=4))
                return

    def _set_status_message(self, message: str) -> None:
        with self.db_session() as session:
            session.query(Job).filter(Job.job_id == self.job_id).update({"status_message": message})
            session.commit()

    def on_complete(self) -> None:
        super().on_complete()
        self._set_status_message(f"lepton run {self.run_id}")

    # jupyter-scheduler calls these two on the class as ``cls.f(cls, ...)``, as its own
    # DefaultExecutionManager defines them: plain functions, not classmethods.
    def supported_features(cls) -> dict[JobFeature, bool]:
        return {
            **DefaultExecutionManager.supported_features(cls),
            JobFeature.parameters: True,
            JobFeature.job_definition: True,
        }

    def validate(cls, input_path: str) -> bool:
        """A notebook with a kernel: what papermill needs to run it."""
        try:
            nb = nbformat.read(input_path, as_version=4)
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return bool(nb.metadata.get("kernelspec", {}).get("name"))
