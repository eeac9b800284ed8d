"""Scheduled runs: what happens after jupyter-scheduler's job ran a notebook under the
lepton engine, and the series of one job definition's runs. No tornado, no jupyter-scheduler:
the execution manager, the CLI and the REST handlers call it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..runs.diff import compare_runs
from ..runs.outcome import EXIT_FAILED, RunFailure
from ..runs.schema import Manifest
from ..runs.store import RunStore
from ..settings import Settings
from .checks import failure_text, judge_all, parse_checks
from .schema import DefinitionChecks, SchedulerStatus, Series, SeriesPoint
from .store import CheckStore, check_definition_id

CHECK_FAILED = "CheckFailed"
EXECUTION_MANAGER = "lepton_jupyter.scheduler.LeptonExecutionManager"
INSTALL = "pip install 'lepton_jupyter[scheduler]'"


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ScheduledRunService:
    """Scheduled runs recorded in one run store, and the checks of their definitions."""

    def __init__(self, runs: RunStore, checks: CheckStore) -> None:
        self.runs = runs
        self.checks = checks

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ScheduledRunService:
        return cls(RunStore.from_settings(settings), CheckStore.from_settings(settings))

    def get_checks(self, definition_id: str) -> DefinitionChecks:
        return self.checks.get(definition_id)

    def set_checks(self, definition_id: str, checks: list[str]) -> DefinitionChecks:
        """Replace the definition's checks; Invalid naming the first check not understood."""
        parsed = parse_checks(checks)
        return self.checks.put(
            DefinitionChecks(
                job_definition_id=check_definition_id(definition_id),
                checks=[c.text for c in parsed],
            )
        )

    def runs_of(self, definition_id: str) -> list[Manifest]:
        """The runs the definition's jobs recorded (reruns of them aside), oldest first."""
        check_definition_id(definition_id)
        return [
            m
            for m in reversed(self.runs.list(limit=None))
            if m.scheduled is not None
            and m.scheduled.job_definition_id == definition_id
            and m.rerun_of is None
        ]

    def previous_successful(self, manifest: Manifest) -> Manifest | None:
        """The latest run of the same definition that started before ``manifest`` and
        completed (its checks passed); None for a one-off job or a first run."""
        definition = manifest.scheduled.job_definition_id if manifest.scheduled else None
        if definition is None:
            return None
        earlier = [m for m in self.runs_of(definition) if m.id < manifest.id]
        return next((m for m in reversed(earlier) if m.status == "completed"), None)

    def conclude(self, run_id: str) -> Manifest:
        """Link the finished run ``run_id`` to its predecessor and judge the definition's
        checks: a failing check records the run as failed, naming the check and the values.
        """
        manifest = self.runs.get(run_id)
        scheduled = manifest.scheduled
        if scheduled is None or manifest.status != "completed":
            return manifest
        previous = self.previous_successful(manifest)
        checks = (
            parse_checks(self.checks.get(scheduled.job_definition_id).checks)
            if scheduled.job_definition_id
            else []
        )
        results = judge_all(
            checks,
            manifest.metrics,
            previous.metrics if previous else None,
            previous.id if previous else None,
        )
        update: dict[str, Any] = {
            "scheduled": scheduled.model_copy(
                update={"previous_run": previous.id if previous else None, "checks": results}
            )
        }
        if not all(r.passed for r in results):
            text = failure_text(results)
            update.update(
                status="failed",
                error=text,
                failure=RunFailure(ename=CHECK_FAILED, evalue=text),
                exit_code=EXIT_FAILED,
            )
        manifest = manifest.model_copy(update=update)
        self.runs.save(manifest)
        return manifest

    def series(self, definition_id: str) -> Series:
        """Every run of the definition with what moved since its previous successful run:
        changed pins and parameters in words, metric deltas."""
        manifests = self.runs_of(definition_id)
        points: list[SeriesPoint] = []
        previous: Manifest | None = None
        for m in manifests:
            points.append(_point(m, previous))
            if m.status == "completed":
                previous = m
        metrics = sorted({name for m in manifests for name in m.metrics})
        return Series(
            job_definition_id=definition_id,
            job_name=manifests[-1].scheduled.job_name if manifests else "",  # type: ignore[union-attr]
            metrics=metrics,
            checks=self.checks.get(definition_id).checks,
            points=points,
        )


def _point(run: Manifest, previous: Manifest | None) -> SeriesPoint:
    scheduled = run.scheduled
    assert scheduled is not None  # runs_of keeps scheduled runs only
    changes: list[str] = []
    deltas: dict[str, float] = {}
    if previous is not None:
        diff = compare_runs(previous, run, None, None)
        changes = [p.describe() for p in diff.parameters]
        changes += [p.describe() for p in diff.pins if p.status != "held"]
        deltas = {
            m.name: float(m.after) - float(m.before)
            for m in diff.metrics
            if _numeric(m.before) and _numeric(m.after)
        }
    return SeriesPoint(
        run_id=run.id,
        job_id=scheduled.job_id,
        status=run.status,
        started_at=run.started_at,
        metrics=run.metrics,
        error=run.error,
        previous_run=previous.id if previous else None,
        changes=changes,
        deltas=deltas,
        checks=scheduled.checks,
    )


def scheduler_status(execution_manager: type | None) -> SchedulerStatus:
    """What a server whose jupyter-scheduler uses ``execution_manager`` (None: not loaded)
    lacks for scheduled runs to be recorded, in one line."""
    installed = importlib.util.find_spec("jupyter_scheduler") is not None
    enabled = execution_manager is not None and any(
        k.__module__ == __package__ + ".executor" for k in execution_manager.__mro__
    )
    if not installed:
        message = f"Scheduled runs need jupyter-scheduler: {INSTALL}."
    elif not enabled:
        message = (
            "jupyter-scheduler's jobs are not recorded as lepton runs; enable it in the "
            f'jupyter_server config: c.Scheduler.execution_manager_class = "{EXECUTION_MANAGER}"'
        )
    else:
        message = "jupyter-scheduler's jobs run under the lepton engine."
    return SchedulerStatus(installed=installed, enabled=enabled, message=message)
