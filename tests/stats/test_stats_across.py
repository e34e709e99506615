"""Across data sets: the mean delta, stratified by set, and the probability of improvement."""

from __future__ import annotations

import numpy as np
import pytest

from ssld_eval.stats.across import PairedSet, across_sets
from ssld_eval.stats.classification import top1_metric


def paired_set(name: str, acc_a: float, acc_b: float, n: int, seed: int) -> PairedSet:
    rng = np.random.default_rng(seed)
    a = rng.random(n) < acc_a
    b = np.where(rng.random(n) < 0.5, a, rng.random(n) < acc_b)
    return PairedSet(name, top1_metric(a), top1_metric(b), n)


def test_mean_delta_and_probability_of_improvement():
    sets = [paired_set("pets", 0.6, 0.9, 400, 0), paired_set("cars", 0.5, 0.8, 300, 1),
            paired_set("dtd", 0.7, 0.6, 300, 2)]
    result = across_sets(sets, B=500, seed=0)
    assert result.names == ("pets", "cars", "dtd")
    assert result.mean_delta == pytest.approx(np.mean(result.deltas))
    assert result.deltas[0] > 0 and result.deltas[1] > 0 and result.deltas[2] < 0
    assert result.prob_improvement == pytest.approx(2 / 3)
    assert result.low < result.mean_delta < result.high and result.low > 0
    assert result.prob_improvement_low == pytest.approx(2 / 3) == result.prob_improvement_high  # clear signs


def test_identical_backbones_tie_on_every_set():
    correct = np.random.default_rng(0).random(200) < 0.7
    sets = [PairedSet(f"set{i}", top1_metric(correct), top1_metric(correct), 200) for i in range(3)]
    result = across_sets(sets, B=200, seed=0)
    assert (result.mean_delta, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert result.prob_improvement == 0.5  # a tie counts a half, as in the Mann-Whitney statistic


def test_sets_are_resampled_independently():
    """Two copies of one set: with shared draws their replicate deltas would coincide and the mean's
    interval would be as wide as one set's; independent draws narrow it by about 1/sqrt(2)."""
    one = paired_set("x", 0.6, 0.7, 400, 3)
    twin = PairedSet("y", one.metric_a, one.metric_b, one.n)
    single = across_sets([one], B=1000, seed=0)
    double = across_sets([one, twin], B=1000, seed=0)
    assert double.mean_delta == pytest.approx(single.mean_delta)
    assert (double.high - double.low) < 0.85 * (single.high - single.low)


def test_bad_sets_are_refused():
    with pytest.raises(ValueError, match="at least one data set"):
        across_sets([])
    one = paired_set("x", 0.6, 0.7, 100, 3)
    with pytest.raises(ValueError, match="names repeat"):
        across_sets([one, one])
