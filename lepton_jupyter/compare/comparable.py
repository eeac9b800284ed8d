"""What makes evaluations comparable, as plain functions of run manifests (no I/O).

Two evaluations are comparable when they ran the same evaluation code, with the same
parameters apart from the candidate, on the same data commits and the same other models.
:func:`assemble` checks all of it and names every pin that differs; it is used both by
``compare()`` after running the evaluations and for comparisons assembled from runs that
already exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import Conflict, Invalid
from ..registry.schema import CandidateResult, ComparisonRequest, DatasetPin, EvaluationInfo
from ..runs.schema import Manifest

FUNCTION_NOTEBOOK_TAG = "lepton-compare-function"


class NotComparable(Conflict):
    """The evaluations differ in something other than the candidate."""


def check_request(request: ComparisonRequest) -> None:
    """Refuse a request whose candidates repeat or whose per-example results do not pair up."""
    labels = [c.label for c in request.candidates]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise Invalid(f"Candidate {', '.join(repeated)} appears twice; compare distinct versions.")
    sizes = {c.label: len(c.examples) for c in request.candidates}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{label}: {n}" for label, n in sizes.items())
        raise NotComparable(
            f"Per-example results of {request.metric!r} differ in length ({listed}); "
            "every candidate must be evaluated on the same examples."
        )


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) == 40 and all(c in "0123456789abcdef" for c in text) else text


def candidate_of(run: Manifest, parameter: str) -> tuple[str, dict[str, Any]]:
    """(ref the run was given, the ledger entry of the version it loaded for it)."""
    ref = run.parameters.get(parameter)
    if not isinstance(ref, str) or not ref:
        given = ", ".join(sorted(run.parameters)) or "none"
        raise Invalid(
            f"Run {run.id} has no candidate parameter {parameter!r} (its parameters: {given})."
        )
    for entry in run.ledger:
        if entry.get("kind") == "model" and entry.get("key") == ref:
            return ref, entry
    raise Invalid(
        f"Run {run.id} was given candidate {ref!r} but never loaded it "
        f"(load({parameter}) or load_state_dict({parameter}) in the evaluation)."
    )


def datasets_of(run: Manifest) -> dict[tuple[str, str], DatasetPin]:
    """Each dataset the run read, by (url, path), with the commit it read."""
    found: dict[tuple[str, str], DatasetPin] = {}
    for entry in run.ledger:
        if entry.get("kind") != "dataset":
            continue
        key = (str(entry.get("url")), str(entry.get("path")))
        pin = DatasetPin(url=key[0], path=key[1], rev=entry.get("rev"), commit=entry["commit"])
        earlier = found.setdefault(key, pin)
        if earlier.commit != pin.commit:
            raise NotComparable(
                f"Run {run.id} read {key[1]} at two commits ({_short(earlier.commit)} and "
                f"{_short(pin.commit)}); an evaluation must read one commit of its data."
            )
    return found


def other_models(run: Manifest, candidate_ref: str) -> dict[str, str]:
    """Models the run loaded besides its candidate: ref -> 'ns/model:N'."""
    return {
        e["key"]: f"{e.get('name')}:{e.get('version')}"
        for e in run.ledger
        if e.get("kind") == "model" and e.get("key") != candidate_ref
    }


def metric_of(run: Manifest, metric: str) -> tuple[dict[str, Any], list[float]]:
    """(the run's scalar metrics with the compared metric's mean, its per-example results)."""
    if metric not in run.metrics:
        logged = ", ".join(sorted(run.metrics)) or "none"
        raise Invalid(f"Run {run.id} logged no metric {metric!r} (it logged: {logged}).")
    value = run.metrics[metric]
    scalars = {k: v for k, v in run.metrics.items() if isinstance(v, int | float)}
    if isinstance(value, list):
        examples = [float(x) for x in value]
        scalars[metric] = sum(examples) / len(examples) if examples else float("nan")
        return scalars, examples
    return scalars, []


def _differences(name: str, values: dict[str, Any], describe: Any = str) -> list[str]:
    """'name: <run a> v1, <run b> v2' when the runs disagree, else []."""
    if len({repr(v) for v in values.values()}) <= 1:
        return []
    return [f"{name}: " + ", ".join(f"{who} {describe(v)}" for who, v in values.items())]


def assemble(
    runs: Sequence[Manifest],
    *,
    metric: str,
    parameter: str = "candidate",
    higher_is_better: bool = True,
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: int = 0,
) -> ComparisonRequest:
    """The comparison request of recorded evaluation runs, or NotComparable naming every
    differing pin (evaluation code, parameters, data commits, other models)."""
    if len(runs) < 2:
        raise Invalid("A comparison needs at least two evaluation runs.")
    unfinished = [f"{r.id} is {r.status}" for r in runs if r.status != "completed"]
    if unfinished:
        raise Invalid(f"Only completed runs can be compared: {'; '.join(unfinished)}.")
    refs = {r.id: candidate_of(r, parameter) for r in runs}
    who = {r.id: f"run {r.id} ({refs[r.id][0]})" for r in runs}
    problems: list[str] = []
    problems += _differences(
        "evaluation code",
        {who[r.id]: (r.notebook.path, r.notebook.digest) for r in runs},
        lambda v: f"{v[0]} {v[1][:19]}",
    )
    names = sorted({k for r in runs for k in r.parameters if k != parameter})
    for name in names:
        problems += _differences(
            f"parameter {name!r}",
            {who[r.id]: r.parameters.get(name, "<unset>") for r in runs},
            repr,
        )
    data = {r.id: datasets_of(r) for r in runs}
    for key in sorted({k for pins in data.values() for k in pins}):
        problems += _differences(
            f"dataset {key[1]} ({key[0]})",
            {who[r.id]: data[r.id].get(key) for r in runs},
            lambda p: (
                "did not read it"
                if p is None
                else f"read commit {_short(p.commit)}" + (f" (rev {p.rev})" if p.rev else "")
            ),
        )
    others = {r.id: other_models(r, refs[r.id][0]) for r in runs}
    for key in sorted({k for m in others.values() for k in m}):
        problems += _differences(
            f"model {key}",
            {who[r.id]: others[r.id].get(key, "not loaded") for r in runs},
        )
    if problems:
        raise NotComparable(
            "These evaluations are not comparable; they differ in more than the candidate: "
            + "; ".join(problems)
            + "."
        )
    first = runs[0]
    kind = "function" if FUNCTION_NOTEBOOK_TAG in first.notebook.path else "notebook"
    candidates = []
    for run in runs:
        ref, entry = refs[run.id]
        scalars, examples = metric_of(run, metric)
        candidates.append(
            CandidateResult(
                ref=ref,
                name=entry["name"],
                version=int(entry["version"]),
                digest=entry["digest"],
                run=run.id,
                metrics=scalars,
                examples=examples,
            )
        )
    return ComparisonRequest(
        metric=metric,
        higher_is_better=higher_is_better,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        candidate_parameter=parameter,
        parameters={k: v for k, v in first.parameters.items() if k != parameter},
        evaluation=EvaluationInfo(
            kind=kind, path=first.notebook.path, digest=first.notebook.digest
        ),
        datasets=list(data[first.id].values()),
        candidates=candidates,
    )
