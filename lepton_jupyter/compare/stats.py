"""Paired statistics of a comparison: plain functions of per-example results (no I/O).

Every candidate is evaluated on the same examples, so candidates are compared through the
per-example differences ``a - b``: a paired bootstrap confidence interval of their mean
(scipy's BCa bootstrap, seeded so that recomputing gives the same interval) and a paired
test (exact McNemar for 0/1 results, Wilcoxon signed-rank otherwise). A candidate wins
only when the interval excludes zero in its favour. With more than two candidates every
pair is compared at a Bonferroni-adjusted confidence, and the ranking follows the same rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from ..errors import Invalid
from ..registry.schema import PairStat, Standing

NO_DIFFERENCE = "no detectable difference"


def as_examples(name: str, values: Sequence[float]) -> np.ndarray:
    """``values`` as a 1-d float array of finite numbers; Invalid naming ``name`` otherwise."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise Invalid(f"Per-example results of {name} must be a non-empty 1-d list of numbers.")
    if not np.all(np.isfinite(array)):
        raise Invalid(f"Per-example results of {name} contain NaN or infinity.")
    return array


def adjusted_confidence(confidence: float, candidates: int) -> float:
    """Bonferroni: each of the k(k-1)/2 pairwise intervals at ``1 - (1 - confidence) / m``."""
    pairs = max(1, candidates * (candidates - 1) // 2)
    return 1.0 - (1.0 - confidence) / pairs


def bootstrap_interval(
    differences: np.ndarray, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """BCa bootstrap interval of the mean paired difference (percentile where BCa is undefined)."""
    from scipy import stats

    if np.all(differences == differences[0]):
        value = float(differences[0])
        return value, value  # every resample has the same mean
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (differences,),
                np.mean,
                n_resamples=resamples,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    raise AssertionError("the percentile interval of finite data is finite")


def paired_test(a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """(test name, two-sided p-value) of 'a and b come from the same distribution'."""
    from scipy import stats

    differences = a - b
    if not np.any(differences):
        return "identical", 1.0
    if np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(b, (0.0, 1.0))):
        only_a = int(np.sum((a == 1) & (b == 0)))
        only_b = int(np.sum((a == 0) & (b == 1)))
        result = stats.binomtest(only_a, only_a + only_b, 0.5)
        return "exact McNemar", float(result.pvalue)
    result = stats.wilcoxon(a, b, zero_method="wilcox")
    return "Wilcoxon signed-rank", float(result.pvalue)


def compare_pair(
    a_label: str,
    a: np.ndarray,
    b_label: str,
    b: np.ndarray,
    *,
    confidence: float,
    resamples: int,
    seed: int,
    higher_is_better: bool = True,
) -> PairStat:
    """Candidate ``a`` against ``b`` on the same examples; ``better`` only when significant."""
    if a.shape != b.shape:
        raise Invalid(
            f"{a_label} has {a.size} per-example results and {b_label} has {b.size}; a paired "
            "comparison needs one result per example for both."
        )
    differences = a - b
    low, high = bootstrap_interval(differences, confidence, resamples, seed)
    test, p_value = paired_test(a, b)
    better = None
    if low > 0 or high < 0:
        a_ahead = (low > 0) == higher_is_better
        better = a_label if a_ahead else b_label
    return PairStat(
        a=a_label,
        b=b_label,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        difference=float(differences.mean()),
        low=low,
        high=high,
        confidence=confidence,
        test=test,
        p_value=p_value,
        n=int(a.size),
        better=better,
    )


def compare_all(
    examples: Mapping[str, Sequence[float]],
    *,
    confidence: float = 0.95,
    resamples: int = 9999,
    seed: int = 0,
    higher_is_better: bool = True,
) -> tuple[list[PairStat], list[Standing], str | None]:
    """Every pair, the ranking and the winner (None: no candidate beats all others).

    A candidate's rank is one plus the number of candidates significantly better than it,
    so candidates no pair tells apart share a rank.
    """
    if len(examples) < 2:
        raise Invalid("A comparison needs at least two candidates.")
    arrays = {label: as_examples(label, values) for label, values in examples.items()}
    level = adjusted_confidence(confidence, len(arrays))
    pairs = [
        compare_pair(
            a,
            arrays[a],
            b,
            arrays[b],
            confidence=level,
            resamples=resamples,
            seed=seed,
            higher_is_better=higher_is_better,
        )
        for a, b in combinations(arrays, 2)
    ]
    beaten_by = {label: 0 for label in arrays}
    for pair in pairs:
        if pair.better is not None:
            beaten_by[pair.b if pair.better == pair.a else pair.a] += 1
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(arrays, key=lambda label: (beaten_by[label], -sign * arrays[label].mean()))
    ranking = [
        Standing(candidate=label, mean=float(arrays[label].mean()), rank=1 + beaten_by[label])
        for label in order
    ]
    others = len(arrays) - 1
    wins = {label: sum(1 for p in pairs if p.better == label) for label in arrays}
    winner = next((label for label, n in wins.items() if n == others), None)
    return pairs, ranking, winner


def verdict(winner: str | None, pairs: list[PairStat]) -> str:
    """One line for people: the winner, or that the data cannot tell the candidates apart."""
    if winner is not None:
        return f"{winner} is better than every other candidate"
    if any(p.better for p in pairs):
        return "no single winner; " + "; ".join(
            f"{p.better} beats {p.b if p.better == p.a else p.a}" for p in pairs if p.better
        )
    return NO_DIFFERENCE
