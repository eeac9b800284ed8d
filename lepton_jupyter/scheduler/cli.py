"""``lepton scheduler checks|series``: a job definition's checks and its runs, for terminals."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .service import ScheduledRunService


def _checks(args: argparse.Namespace) -> int:
    service = ScheduledRunService.from_settings()
    if args.clear or args.check:
        checks = service.set_checks(args.definition_id, [] if args.clear else args.check)
    else:
        checks = service.get_checks(args.definition_id)
    if args.json:
        print(json.dumps(checks.model_dump(mode="json"), indent=1))
        return 0
    for check in checks.checks:
        print(check)
    if not checks.checks:
        print(f"No checks on job definition {args.definition_id}.")
    return 0


def _value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _series(args: argparse.Namespace) -> int:
    series = ScheduledRunService.from_settings().series(args.definition_id)
    if args.json:
        print(json.dumps(series.model_dump(mode="json"), indent=1))
        return 0
    if not series.points:
        print(f"No run of job definition {args.definition_id} was recorded yet.")
    for point in series.points:
        metrics = " ".join(
            f"{name}={_value(value)}"
            + (f" ({point.deltas[name]:+.6g})" if name in point.deltas else "")
            for name, value in point.metrics.items()
        )
        print(f"{point.run_id}  {point.status:9}  {metrics}".rstrip())
        for change in point.changes:
            print(f"    changed: {change}")
        if point.status != "completed" and point.error:
            print(f"    {point.error}")
    return 0


def add_parser(subparsers: Any) -> None:
    scheduler = subparsers.add_parser(
        "scheduler", help="Scheduled runs (jupyter-scheduler): a definition's checks and series."
    )
    sub = scheduler.add_subparsers(dest="scheduler_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "checks", help="Show or set the checks every run of a job definition must pass."
    )
    p.add_argument("definition_id", help="The job definition's id (jupyter-scheduler's).")
    p.add_argument(
        "check", nargs="*", help="'accuracy >= 0.9', 'loss <= previous + 5%%': replaces them."
    )
    p.add_argument("--clear", action="store_true", help="Remove every check.")
    p.add_argument("--json", action="store_true", help="Print the checks as JSON.")
    p.set_defaults(func=_checks)

    p = sub.add_parser("series", help="A job definition's runs and what moved between them.")
    p.add_argument("definition_id")
    p.add_argument("--json", action="store_true", help="Print the series as JSON.")
    p.set_defaults(func=_series)
