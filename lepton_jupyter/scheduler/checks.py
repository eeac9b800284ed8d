"""Checks on a job definition's runs, as plain functions: parse ``accuracy >= 0.9`` or
``loss <= previous + 5%``, and judge one run's metrics (against the previous successful run
of the same definition for a ``previous`` check).

Grammar: ``METRIC OP BOUND`` with OP one of ``>= > <= < == !=`` and BOUND a number, or
``previous`` optionally followed by ``+ X`` / ``- X`` (an absolute tolerance) or ``+ X%`` /
``- X%`` (relative to the previous value).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from ..runs.schema import CheckResult

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CHECK = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    rf"(?:(?P<number>{_NUMBER})|previous(?:\s*(?P<sign>[-+])\s*(?P<margin>{_NUMBER})"
    rf"\s*(?P<percent>%)?)?)\s*$"
)
SYNTAX = "'METRIC OP NUMBER' or 'METRIC OP previous [+|- X[%]]', e.g. 'accuracy >= 0.9'"


@dataclass(frozen=True)
class Check:
    """One parsed check; ``number`` is None for a check against the previous run."""

    text: str
    metric: str
    op: str
    number: float | None = None
    margin: float = 0.0
    percent: bool = False

    @property
    def against_previous(self) -> bool:
        return self.number is None

    def bound(self, previous: float) -> float:
        """The bound a ``previous`` check sets for a previous value."""
        if self.percent:
            return previous + abs(previous) * self.margin / 100
        return previous + self.margin


def parse_check(text: str) -> Check:
    """A check from its text; Invalid naming the text and the grammar when it is not one."""
    if not isinstance(text, str) or len(text) > 300:
        raise Invalid(f"A check is a short text: {SYNTAX}; got {text!r:.80}.")
    match = _CHECK.match(text)
    if match is None:
        raise Invalid(f"Check {text!r} is not understood; write {SYNTAX}.")
    number = match["number"]
    margin = float(match["margin"] or 0.0)
    if match["sign"] == "-":
        margin = -margin
    if number is not None and not math.isfinite(float(number)):
        raise Invalid(f"Check {text!r} compares with a number that is not finite.")
    return Check(
        text=" ".join(text.split()),
        metric=match["metric"],
        op=match["op"],
        number=float(number) if number is not None else None,
        margin=margin,
        percent=bool(match["percent"]),
    )


def parse_checks(texts: list[str]) -> list[Check]:
    return [parse_check(t) for t in texts]


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def judge(
    check: Check,
    metrics: dict[str, Any],
    previous: dict[str, Any] | None,
    previous_run: str | None = None,
) -> CheckResult:
    """How ``check`` comes out for a run that logged ``metrics``.

    ``previous`` holds the metrics of the previous successful run of the definition (None:
    there is none, so a ``previous`` check has nothing to hold the run to and passes).
    """
    logged = ", ".join(sorted(metrics)) or "none"
    value = metrics.get(check.metric)
    if check.metric not in metrics:
        return CheckResult(
            check=check.text,
            passed=False,
            message=f"the run logged no metric {check.metric!r} (logged: {logged})",
        )
    number = _numeric(value)
    if number is None or math.isnan(number):
        return CheckResult(
            check=check.text,
            passed=False,
            message=f"{check.metric} = {value!r} is not a number",
        )
    if check.number is not None:
        bound, said = check.number, f"{check.number:g}"
    else:
        before = _numeric((previous or {}).get(check.metric))
        if previous is None or before is None:
            why = "no earlier successful run" if previous is None else "no value in it"
            return CheckResult(
                check=check.text, passed=True, message=f"{why} to compare {check.metric} with"
            )
        bound = check.bound(before)
        margin = f" {'+' if check.margin >= 0 else '-'} {abs(check.margin):g}"
        margin = (margin + "%") if check.percent else margin
        tail = f" of run {previous_run}" if previous_run else ""
        said = f"{bound:g} (previous {before:g}{tail}{margin if check.margin else ''})"
    passed = _OPERATORS[check.op](number, bound)
    return CheckResult(
        check=check.text,
        passed=passed,
        message=f"{check.metric} = {number:g}, {'' if passed else 'needs '}{check.op} {said}",
    )


def judge_all(
    checks: list[Check],
    metrics: dict[str, Any],
    previous: dict[str, Any] | None,
    previous_run: str | None = None,
) -> list[CheckResult]:
    return [judge(c, metrics, previous, previous_run) for c in checks]


def failure_text(results: list[CheckResult]) -> str:
    """One line naming every failed check and why: the run's error in both UIs."""
    failed = [r for r in results if not r.passed]
    said = "; ".join(f"{r.check} ({r.message})" for r in failed)
    return f"Check{'s' if len(failed) > 1 else ''} failed: {said}"
