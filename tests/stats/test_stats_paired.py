"""Paired bootstrap of a delta: zero for identical predictions, significant for a clearly better backbone,
seeded, and the two-level (seeds, then samples) form."""

from __future__ import annotations

import numpy as np
import pytest

from ssld_eval.stats.classification import mean_per_class_metric, top1_metric
from ssld_eval.stats.paired import bootstrap_p_value, paired_bootstrap, two_level_bootstrap


def outcomes(accuracy: float, n: int = 500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < accuracy


def test_identical_predictions_give_zero_delta_and_no_significance():
    correct = outcomes(0.7)
    result = paired_bootstrap(top1_metric(correct), top1_metric(correct.copy()), len(correct), B=500, seed=3)
    assert (result.delta, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.p_value == 1.0 and not result.excludes_zero


def test_clearly_better_backbone_is_significant():
    a, b = outcomes(0.6, seed=1), outcomes(0.9, seed=2)
    result = paired_bootstrap(top1_metric(a), top1_metric(b), 500, B=1000, seed=0)
    assert result.delta == pytest.approx(100 * (b.mean() - a.mean()))
    assert 0 < result.low < result.delta < result.high
    assert result.excludes_zero
    assert result.p_value == pytest.approx(2 / 1001)  # no replicate on the other side: the floor 2 / (1 + B)
    reverse = paired_bootstrap(top1_metric(b), top1_metric(a), 500, B=1000, seed=0)
    assert reverse.delta == -result.delta and reverse.high < 0 and reverse.p_value == result.p_value


def test_pairing_narrows_the_interval_of_correlated_backbones():
    """b differs from a on 4% of samples: the paired interval is far narrower than either model's own."""
    a = outcomes(0.8, n=2000, seed=4)
    flip = np.random.default_rng(5).random(2000) < 0.04
    b = np.where(flip, ~a, a)
    paired = paired_bootstrap(top1_metric(a), top1_metric(b), 2000, B=1000, seed=0)
    alone = paired_bootstrap(top1_metric(a), top1_metric(np.ones(2000, bool)), 2000, B=1000, seed=0)
    assert paired.high - paired.low < 0.5 * (alone.high - alone.low)


def test_seeded_and_recorded():
    a, b = outcomes(0.7, seed=1), outcomes(0.75, seed=2)
    first = paired_bootstrap(top1_metric(a), top1_metric(b), 500, B=200, seed=(7, 1))
    assert first == paired_bootstrap(top1_metric(a), top1_metric(b), 500, B=200, seed=(7, 1))
    assert first != paired_bootstrap(top1_metric(a), top1_metric(b), 500, B=200, seed=(7, 2))
    assert first.to_dict()["seed"] == [7, 1] and first.to_dict()["B"] == 200
    assert first.method == "paired percentile bootstrap"


def test_stratified_paired_bootstrap_for_mean_per_class():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 600)
    pred_a = np.where(rng.random(600) < 0.6, labels, (labels + 1) % 10)
    pred_b = np.where(rng.random(600) < 0.8, labels, pred_a)
    result = paired_bootstrap(mean_per_class_metric(labels, pred_a), mean_per_class_metric(labels, pred_b), 600,
                              B=500, seed=0, strata=labels)
    assert result.method == "paired stratified percentile bootstrap"
    assert result.excludes_zero and result.delta > 0


def test_p_value_formula():
    replicates = np.array([-0.5, 0.0, 0.3, 0.4, 0.6, 0.8, 1.0, 1.1, 1.3])  # B = 9, two at or below 0
    assert bootstrap_p_value(0.7, replicates) == pytest.approx(2 * (1 + 2) / 10)
    assert bootstrap_p_value(-0.7, -replicates) == pytest.approx(0.6)
    assert bootstrap_p_value(0.0, replicates) == 1.0
    assert bootstrap_p_value(0.1, -replicates) == 1.0  # capped


def test_two_level_with_one_seed_each_is_the_paired_bootstrap():
    a, b = outcomes(0.7, seed=1), outcomes(0.8, seed=2)
    single = paired_bootstrap(top1_metric(a), top1_metric(b), 500, B=300, seed=5)
    nested = two_level_bootstrap([top1_metric(a)], [top1_metric(b)], 500, B=300, seed=5)
    assert (nested.delta, nested.low, nested.high, nested.p_value) == pytest.approx(
        (single.delta, single.low, single.high, single.p_value))


def test_two_level_widens_the_interval_when_seeds_disagree():
    a = [top1_metric(outcomes(acc, seed=10 + i)) for i, acc in enumerate((0.66, 0.70, 0.74))]
    b = [top1_metric(outcomes(acc, seed=20 + i)) for i, acc in enumerate((0.70, 0.75, 0.80))]
    nested = two_level_bootstrap(a, b, 500, B=500, seed=0)
    single = paired_bootstrap(a[1], b[1], 500, B=500, seed=0)
    assert nested.high - nested.low > single.high - single.low
    assert nested.value_a == pytest.approx(np.mean([m(np.ones((1, 500)))[0] for m in a]))
    assert "3 and 3 seeds" in nested.method
    with pytest.raises(ValueError, match="at least one seed per backbone"):
        two_level_bootstrap([], b, 500)


def test_bad_level_is_refused():
    a = outcomes(0.7)
    with pytest.raises(ValueError, match="level=95"):
        paired_bootstrap(top1_metric(a), top1_metric(a), 500, level=95)
