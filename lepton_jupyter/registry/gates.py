"""Promotion gates: moving a gated alias needs a passing comparison of new vs current holder.

Gates are configured per alias (``{"prod": {...}}``, every model) or per model and alias
(``{"vision/net@prod": {...}}``, which wins). The registry calls :func:`check_promotion`
inside the transaction that moves the alias; the verdict (:func:`judge`) is a plain
function of the gate and a recorded comparison. Rollbacks are never gated: they return to
a version that already held the alias. These are the registry's rules over the evidence it
stores; the compare subsystem computes that evidence and records it through the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from ..errors import Conflict, Invalid, NotFound
from .schema import Comparison, GateReport, GateVerdict, PromotionGate


def parse_gates(raw: Mapping[str, Any] | None) -> dict[str, PromotionGate]:
    """The configured gates, validated; Invalid names the gate whose settings are wrong."""
    gates: dict[str, PromotionGate] = {}
    for key, value in (raw or {}).items():
        try:
            gates[key] = PromotionGate.model_validate(value)
        except ValidationError as e:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
                for err in e.errors()
            )
            raise Invalid(
                f"Promotion gate {key!r} is misconfigured ({fields}); a gate looks like "
                '{"dataset": "datasets/eval", "metric": "correct", "min_delta": 0.0}.'
            ) from e
    return gates


def gate_for(
    gates: Mapping[str, PromotionGate], name: str, alias: str
) -> tuple[str, PromotionGate] | None:
    """(key, gate) guarding ``alias`` of model ``name``, the model's own gate first."""
    for key in (f"{name}@{alias}", alias):
        if key in gates:
            return key, gates[key]
    return None


def describe(key: str, gate: PromotionGate) -> str:
    where = f"{gate.url}:{gate.dataset}" if gate.url else gate.dataset
    better = "above" if gate.higher_is_better else "below"
    bound = gate.min_delta if gate.higher_is_better else -gate.min_delta
    return (
        f"gate '{key}': {gate.metric} on {where}, the interval of new - current {better} {bound:g}"
    )


def judge(
    key: str, gate: PromotionGate, comparison: Comparison, new: str, current: str
) -> GateVerdict:
    """Whether ``comparison`` shows ``new`` good enough to take the alias from ``current``."""

    def verdict(passed: bool, reason: str) -> GateVerdict:
        return GateVerdict(
            gate=key,
            new=new,
            current=current,
            comparison=comparison.id,
            passed=passed,
            reason=f"comparison {comparison.id} {reason}",
        )

    labels = {c.label for c in comparison.candidates}
    missing = [label for label in (new, current) if label not in labels]
    if missing:
        return verdict(False, f"does not include {' or '.join(missing)}")
    if comparison.metric != gate.metric:
        return verdict(False, f"compares {comparison.metric!r}, the gate needs {gate.metric!r}")
    if comparison.higher_is_better != gate.higher_is_better:
        return verdict(False, "ranks the metric in the opposite direction to the gate")
    on_dataset = [
        d
        for d in comparison.datasets
        if d.path == gate.dataset and (gate.url is None or d.url == gate.url)
    ]
    if not on_dataset:
        seen = ", ".join(d.path for d in comparison.datasets) or "no dataset"
        return verdict(False, f"evaluated on {seen}, not on the gate's dataset {gate.dataset}")
    pair = comparison.pair(new, current)
    if pair is None:
        return verdict(
            False, f"has no per-example results of {gate.metric!r}, so no interval to check"
        )
    interval = f"[{pair.low:+.4g}, {pair.high:+.4g}] at {pair.confidence:.3g}"
    passed = pair.low > gate.min_delta if gate.higher_is_better else pair.high < -gate.min_delta
    outcome = "passes" if passed else "does not pass"
    return verdict(
        passed,
        f"{outcome}: {new} - {current} on {gate.metric} = {pair.difference:+.4g}, "
        f"interval {interval} (data commit {on_dataset[0].commit[:12]})",
    )


class ComparisonLookup(Protocol):
    """Where recorded comparisons are read (the registry's transaction)."""

    def comparison(self, comparison_id: int) -> Comparison | None: ...

    def comparisons_of(self, version_id: int, limit: int | None = None) -> list[Comparison]: ...


def check_promotion(
    recorded: ComparisonLookup,
    key: str,
    gate: PromotionGate,
    *,
    name: str,
    alias: str,
    new: tuple[int, int],
    current: tuple[int, int] | None,
    comparison_id: int | None = None,
) -> dict[str, Any]:
    """The evidence for moving ``alias`` to ``new`` ((version id, number)); else Conflict.

    ``comparison_id`` names the comparison to use; without it the newest passing one of the
    two versions is found. An alias with no holder yet, or a move to its current holder,
    needs no comparison.
    """
    if current is None:
        return {"gate": key, "first_holder": True}
    if current[0] == new[0]:
        return {"gate": key, "unchanged": True}
    new_label, current_label = f"{name}:{new[1]}", f"{name}:{current[1]}"
    if comparison_id is not None:
        found = recorded.comparison(comparison_id)
        if found is None:
            raise NotFound(f"There is no comparison {comparison_id}.")
        candidates = [found]
    else:
        current_ids = {c.id for c in recorded.comparisons_of(current[0]) if c.id is not None}
        candidates = [c for c in recorded.comparisons_of(new[0]) if c.id in current_ids]
    verdicts = [judge(key, gate, c, new_label, current_label) for c in candidates]
    for v in verdicts:
        if v.passed:
            return {"gate": key, "comparison": v.comparison, "verdict": v.reason}
    why = (
        "; ".join(v.reason for v in verdicts[:3])
        if verdicts
        else f"there is no recorded comparison of {new_label} against {current_label}"
    )
    raise Conflict(
        f"Alias '{alias}' of {name} is gated ({describe(key, gate)}). Moving it from "
        f"version {current[1]} to {new[1]} needs a passing comparison: {why}. Compare them "
        f"(compare(['{new_label}', '{current_label}'], ...) or `lepton compare`), or a "
        "maintainer overrides the gate with a reason."
    )


def gate_reports(
    gates: Mapping[str, PromotionGate],
    name: str,
    holders: Mapping[str, int],
    recent: list[Comparison],
) -> list[GateReport]:
    """Each gated alias of model ``name``: its holder (``holders``: alias -> version) and
    whether each of the ``recent`` comparisons lets another candidate take it."""
    reports = []
    for alias in sorted({k.split("@", 1)[1] if "@" in k else k for k in gates}):
        found = gate_for(gates, name, alias)
        if found is None:
            continue
        key, gate = found
        holder = holders.get(alias)
        current = f"{name}:{holder}"
        verdicts = [
            judge(key, gate, c, other.label, current)
            for c in recent
            if holder is not None and any(x.label == current for x in c.candidates)
            for other in c.candidates
            if other.label != current
        ]
        reports.append(
            GateReport(
                alias=alias,
                gate=key,
                description=describe(key, gate),
                holder=holder,
                verdicts=verdicts,
            )
        )
    return reports
