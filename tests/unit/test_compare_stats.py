"""Comparison statistics as plain functions: intervals, paired tests, winner and ranking."""

from __future__ import annotations

import numpy as np
import pytest

from lepton_jupyter.compare.stats import (
    NO_DIFFERENCE,
    adjusted_confidence,
    compare_all,
    compare_pair,
    paired_test,
    verdict,
)
from lepton_jupyter.errors import Invalid


def binary(n: int, accuracy: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < accuracy).astype(float)


def test_a_clearly_better_candidate_wins_with_an_interval_above_zero():
    # Given 400 examples where b fixes most of a's mistakes and breaks few
    a = binary(400, 0.70, seed=1)
    b = a.copy()
    wrong = np.flatnonzero(a == 0)
    b[wrong[: int(len(wrong) * 0.6)]] = 1
    b[np.flatnonzero(a == 1)[:5]] = 0
    # When they are compared
    pair = compare_pair("b", b, "a", a, confidence=0.95, resamples=2000, seed=0)
    # Then the interval of b - a excludes zero, the exact McNemar test agrees, b wins
    assert pair.low > 0 and pair.high > pair.low
    assert pair.low <= pair.difference <= pair.high
    assert pair.test == "exact McNemar" and pair.p_value < 1e-6
    assert pair.better == "b"


def test_lower_is_better_flips_the_winner():
    loss_a = np.linspace(1.0, 2.0, 200)
    loss_b = loss_a - 0.3
    pair = compare_pair(
        "a", loss_a, "b", loss_b, confidence=0.95, resamples=2000, seed=0, higher_is_better=False
    )
    assert pair.low > 0  # a's loss is higher...
    assert pair.better == "b"  # ...so b is the better one
    assert pair.test == "Wilcoxon signed-rank"


def test_noise_is_no_detectable_difference():
    # Given two candidates that disagree on a few examples, evenly both ways
    a = binary(300, 0.8, seed=3)
    b = a.copy()
    b[np.flatnonzero(a == 1)[:4]] = 0
    b[np.flatnonzero(a == 0)[:4]] = 1
    pairs, ranking, winner = compare_all({"a": a, "b": b}, resamples=2000)
    # Then the interval contains zero: no winner, and both share rank 1
    assert pairs[0].low < 0 < pairs[0].high
    assert winner is None
    assert [s.rank for s in ranking] == [1, 1]
    assert verdict(winner, pairs) == NO_DIFFERENCE


def test_identical_results_have_a_zero_width_interval_and_p_one():
    a = binary(50, 0.5, seed=4)
    pair = compare_pair("a", a, "b", a.copy(), confidence=0.95, resamples=500, seed=0)
    assert (pair.low, pair.high, pair.p_value, pair.better) == (0.0, 0.0, 1.0, None)
    assert paired_test(a, a.copy()) == ("identical", 1.0)


def test_the_interval_is_reproducible_from_its_seed():
    a, b = binary(200, 0.6, seed=5), binary(200, 0.7, seed=6)
    first = compare_pair("a", a, "b", b, confidence=0.95, resamples=1000, seed=7)
    again = compare_pair("a", a, "b", b, confidence=0.95, resamples=1000, seed=7)
    assert first == again


def test_three_candidates_rank_by_significant_wins_at_bonferroni_confidence():
    # Given a weak, a middling and a strong candidate on the same 600 examples
    base = binary(600, 0.5, seed=8)
    middle, strong = base.copy(), base.copy()
    middle[np.flatnonzero(base == 0)[:120]] = 1
    strong[np.flatnonzero(base == 0)[:240]] = 1
    pairs, ranking, winner = compare_all(
        {"weak": base, "middle": middle, "strong": strong}, resamples=2000
    )
    # Then every pair is compared at 1 - 0.05/3, strong beats both and wins
    assert all(p.confidence == pytest.approx(adjusted_confidence(0.95, 3)) for p in pairs)
    assert [s.candidate for s in ranking] == ["strong", "middle", "weak"]
    assert [s.rank for s in ranking] == [1, 2, 3]
    assert winner == "strong"


def test_examples_must_pair_up():
    with pytest.raises(Invalid, match="a has 3 per-example results and b has 2"):
        compare_pair("a", np.ones(3), "b", np.ones(2), confidence=0.95, resamples=100, seed=0)
    with pytest.raises(Invalid, match="NaN or infinity"):
        compare_all({"a": [1.0, float("nan")], "b": [1.0, 0.0]})
    with pytest.raises(Invalid, match="at least two"):
        compare_all({"a": [1.0]})
