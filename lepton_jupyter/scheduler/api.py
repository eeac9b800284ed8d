"""What notebooks call: ``set_checks``, ``get_checks``, ``series``."""

from __future__ import annotations

from .schema import DefinitionChecks, Series
from .service import ScheduledRunService


def set_checks(job_definition_id: str, checks: list[str]) -> DefinitionChecks:
    """Hold every later run of the job definition to ``checks`` (``'accuracy >= 0.9'``,
    ``'loss <= previous + 5%'``): a failing check fails the run and its job."""
    return ScheduledRunService.from_settings().set_checks(job_definition_id, checks)


def get_checks(job_definition_id: str) -> DefinitionChecks:
    return ScheduledRunService.from_settings().get_checks(job_definition_id)


def series(job_definition_id: str) -> Series:
    """The definition's runs, oldest first, with what moved between successful runs."""
    return ScheduledRunService.from_settings().series(job_definition_id)
