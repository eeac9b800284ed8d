"""What notebooks call: ``compare``, ``compare_runs``, ``get_comparison``, ``comparisons``,
``rerun_comparison``.

``compare(["vision/net@prod", "vision/net:7"], "evaluate.ipynb", metric="correct")``
resolves every candidate to a version, runs the evaluation once per candidate as a
recorded run (the candidate's exact ``ns/model:N`` as the notebook parameter), with every
run after the first pinned to the data commits the first one read, checks that the runs
are comparable, computes their paired statistics (a remote registry's server does) and
records the comparison in the registry. The evaluation logs per-example results with
``log_metric(name, array)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import Invalid
from ..registry.api import resolve
from ..registry.client import get_client
from ..registry.schema import Comparison, PairStat, Standing
from ..runs.schema import Manifest
from ..runs.store import RunStore
from ..settings import Settings, load_settings
from .comparable import assemble
from .evaluate import dataset_pins, function_notebook, run_evaluation
from .render import comparison_html, comparison_text
from .service import recorder


class ComparisonResult:
    """A recorded comparison, as a notebook shows it (an HTML table with intervals)."""

    def __init__(self, record: Comparison) -> None:
        self.record = record

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def winner(self) -> str | None:
        """The candidate (``ns/model:N``) better than every other, or None."""
        return self.record.winner

    @property
    def verdict(self) -> str:
        return self.record.verdict

    @property
    def pairs(self) -> list[PairStat]:
        return self.record.pairs

    @property
    def ranking(self) -> list[Standing]:
        return self.record.ranking

    @property
    def runs(self) -> dict[str, str]:
        """Candidate -> id of its recorded evaluation run."""
        return {c.label: c.run for c in self.record.candidates}

    def pair(self, a: str, b: str) -> PairStat | None:
        return self.record.pair(a, b)

    def rerun(self) -> ComparisonResult:
        """Rerun every evaluation exactly and record the comparison again; see
        :func:`rerun_comparison`."""
        return rerun_comparison(self.id)

    def same_result(self, other: ComparisonResult) -> bool:
        """Whether ``other`` found the same per-example results, intervals and verdict."""
        keys = ("examples", "name", "version", "digest")
        mine = [c.model_dump(include=set(keys)) for c in self.record.candidates]
        theirs = [c.model_dump(include=set(keys)) for c in other.record.candidates]
        return (
            mine == theirs
            and self.record.pairs == other.record.pairs
            and self.record.winner == other.record.winner
            and self.record.datasets == other.record.datasets
        )

    def _repr_html_(self) -> str:
        return comparison_html(self.record)

    def __repr__(self) -> str:
        return comparison_text(self.record)


def _run_store(settings: Settings | None) -> RunStore:
    return RunStore.from_settings(settings or load_settings())


def compare(
    candidates: Sequence[str],
    evaluation: str | Path | Callable[[str], Any],
    *,
    metric: str,
    parameter: str = "candidate",
    parameters: dict[str, Any] | None = None,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: int = 0,
    kernel_name: str | None = None,
    cwd: str | None = None,
    progress: bool = True,
) -> ComparisonResult:
    """Evaluate each candidate on the same pinned data and record the comparison.

    ``evaluation`` is a notebook (declaring ``parameter`` in its 'parameters' cell) or a
    function of the candidate reference. Each evaluation must ``load(candidate)`` (or
    ``load_state_dict``) and ``log_metric(metric, per_example_values)``. Raises Invalid
    for bad arguments, NotComparable when the runs differ in more than the candidate, and
    EvaluationFailed naming the candidate and run whose evaluation raised.
    """
    from tqdm.auto import tqdm

    refs = list(candidates)
    if len(refs) < 2:
        raise Invalid("compare() needs at least two candidates, e.g. ['ns/net@prod', 'ns/net:7'].")
    params = dict(parameters or {})
    if parameter in params:
        raise Invalid(
            f"{parameter!r} is the candidate parameter; do not also pass it in parameters."
        )
    settings = load_settings()
    store = _run_store(settings)
    if callable(evaluation) and not isinstance(evaluation, str | Path):
        notebook = function_notebook(evaluation, settings.state_dir / "compare", parameter)
    else:
        notebook = Path(evaluation).resolve()
    versions = [resolve(ref) for ref in refs]
    exact = [v.ref for v in versions]
    repeated = sorted({r for r in exact if exact.count(r) > 1})
    if repeated:
        raise Invalid(f"{', '.join(repeated)} is named twice; compare distinct versions.")
    runs: list[Manifest] = []
    pinned: list[dict[str, Any]] | None = None
    for ref, exact_ref in tqdm(
        list(zip(refs, exact, strict=True)),
        desc="evaluating",
        unit="candidate",
        disable=not progress,
    ):
        run = run_evaluation(
            store,
            notebook,
            {**params, parameter: exact_ref},
            pinned=pinned,
            kernel_name=kernel_name,
            cwd=cwd,
            label=ref if ref == exact_ref else f"{ref} ({exact_ref})",
        )
        pinned = pinned if pinned is not None else dataset_pins(run)
        runs.append(run)
    options = {"higher_is_better": higher_is_better, "confidence": confidence}
    return _record(
        runs, metric, parameter, asked=refs, settings=settings, resamples=resamples, seed=seed,
        **options,
    )  # fmt: skip


def _record(
    runs: Sequence[Manifest],
    metric: str,
    parameter: str,
    *,
    asked: Sequence[str] | None = None,
    rerun_of: int | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> ComparisonResult:
    """Assemble the runs into a request (refusing what is not comparable) and record it;
    ``asked`` are the references as the user named the candidates."""
    request = assemble(runs, metric=metric, parameter=parameter, **options)
    request.rerun_of = rerun_of
    for candidate, ref in zip(request.candidates, asked or [], strict=False):
        candidate.ref = ref
    client = get_client(settings)
    return ComparisonResult(recorder(client).record(client.principal, request))


def compare_runs(
    runs: Sequence[str | Manifest],
    *,
    metric: str,
    parameter: str = "candidate",
    higher_is_better: bool = True,
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: int = 0,
    settings: Settings | None = None,
) -> ComparisonResult:
    """A comparison of evaluation runs that already exist (``papermill -e lepton`` ones).

    Refused (NotComparable) when they differ in evaluation code, parameters other than the
    candidate, data commits or other models, naming each differing pin.
    """
    store = _run_store(settings)
    manifests = [r if isinstance(r, Manifest) else store.get(r) for r in runs]
    options = {"higher_is_better": higher_is_better, "confidence": confidence}
    return _record(
        manifests, metric, parameter, settings=settings, resamples=resamples, seed=seed,
        **options,
    )  # fmt: skip


def rerun_comparison(comparison_id: int, *, progress: bool = True) -> ComparisonResult:
    """Rerun every evaluation of a comparison exactly (``rerun()``: same notebook, parameters
    and pins) and record the comparison again; ``same_result`` tells whether it reproduced."""
    from tqdm.auto import tqdm

    from ..runs.api import rerun

    original = get_comparison(comparison_id).record
    runs = [
        rerun(c.run).manifest
        for c in tqdm(original.candidates, desc="rerunning", unit="candidate", disable=not progress)
    ]
    options = original.model_dump(include={"higher_is_better", "confidence", "resamples", "seed"})
    return _record(
        runs,
        original.metric,
        original.candidate_parameter,
        asked=[c.ref for c in original.candidates],
        rerun_of=original.id,
        **options,
    )


def get_comparison(comparison_id: int) -> ComparisonResult:
    return ComparisonResult(get_client().comparison(comparison_id))


def comparisons(
    ref: str | None = None, *, name: str | None = None, limit: int = 50
) -> list[ComparisonResult]:
    """Recorded comparisons of a version (``ref``) or a model (``name``), newest first."""
    return [ComparisonResult(c) for c in get_client().comparisons(ref=ref, name=name, limit=limit)]
