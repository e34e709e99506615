"""Weighted classification metrics equal the probe's (torch) metrics at unit weights and on repeated
samples at integer weights; the accuracy interval agrees with scipy's percentile bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ssld_eval.stats.classification import (
    map11_interval,
    map11_metric,
    mean_per_class_interval,
    mean_per_class_metric,
    top1_interval,
    top1_metric,
)


def classification_outcomes(seed: int = 0, n: int = 300, classes: int = 7):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    scores = rng.normal(size=(n, classes))
    scores[np.arange(n), labels] += rng.uniform(0, 2.5, n)
    return scores, labels


def voc_outcomes(seed: int = 0, n: int = 120, classes: int = 5):
    """Multi-label targets with difficult entries, and scores rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    targets = np.where(rng.random((n, classes)) < 0.3, 1, 0)
    targets[rng.random((n, classes)) < 0.08] = -1
    targets[:, -1] = 0  # a class without positives: skipped by the probe's map11
    scores = np.round(rng.normal(size=(n, classes)) + 1.2 * (targets > 0), 1)
    return scores, targets


def unit(n: int) -> np.ndarray:
    return np.ones((1, n), dtype=np.int32)


def test_top1_and_mean_per_class_equal_the_probe():
    import torch

    from ssld_eval.probe.metrics import mean_per_class, top1

    scores, labels = classification_outcomes()
    predictions = scores.argmax(1)
    expected_top1 = top1(torch.from_numpy(scores), torch.from_numpy(labels))
    expected_mpc = mean_per_class(torch.from_numpy(scores), torch.from_numpy(labels))
    assert top1_metric(predictions == labels)(unit(len(labels)))[0] == pytest.approx(expected_top1, abs=1e-12)
    got_mpc = mean_per_class_metric(labels, predictions)(unit(len(labels)))[0]
    assert got_mpc == pytest.approx(expected_mpc, abs=1e-12)
    assert abs(expected_mpc - expected_top1) > 0.1  # classes are unbalanced: the two metrics differ


def test_map11_equals_the_probe_at_unit_weights():
    import torch

    from ssld_eval.probe.metrics import map11

    scores, targets = voc_outcomes()
    expected = map11(torch.from_numpy(scores), torch.from_numpy(targets))
    assert map11_metric(scores, targets)(unit(len(scores)))[0] == pytest.approx(expected, abs=1e-9)


def test_weighted_metrics_equal_the_probe_on_repeated_samples():
    import torch

    from ssld_eval.probe.metrics import map11, mean_per_class

    rng = np.random.default_rng(5)
    scores, targets = voc_outcomes(seed=2)
    scores += rng.normal(0, 1e-6, scores.shape)  # distinct scores: repeats then only tie with themselves
    weights = rng.multinomial(len(scores), np.full(len(scores), 1 / len(scores)))
    repeat = np.repeat(np.arange(len(scores)), weights)
    expected = map11(torch.from_numpy(scores[repeat]), torch.from_numpy(targets[repeat]))
    assert map11_metric(scores, targets)(weights[None, :])[0] == pytest.approx(expected, abs=1e-9)

    cls_scores, labels = classification_outcomes(seed=3)
    weights = rng.multinomial(len(labels), np.full(len(labels), 1 / len(labels)))
    repeat = np.repeat(np.arange(len(labels)), weights)
    expected = mean_per_class(torch.from_numpy(cls_scores[repeat]), torch.from_numpy(labels[repeat]))
    got = mean_per_class_metric(labels, cls_scores.argmax(1))(weights[None, :])[0]
    assert got == pytest.approx(expected, abs=1e-9)


def test_top1_interval_agrees_with_scipy_percentile_bootstrap():
    """n=500 at about 80%: the bootstrap SD is 1.8 pp, and the Monte Carlo SD of a 2.5% quantile from
    B=2000 replicates is sqrt(.025 * .975 / 2000) / (phi(1.96) / 1.8) = 0.11 pp; two independent runs
    differ by 0.15 pp SD, so 0.5 pp is more than three SDs (both runs are seeded: the check is exact)."""
    rng = np.random.default_rng(0)
    correct = rng.random(500) < 0.8
    ours = top1_interval(correct, B=2000, seed=1)
    reference = stats.bootstrap((correct.astype(float),), np.mean, n_resamples=2000, method="percentile",
                                confidence_level=0.95, rng=np.random.default_rng(2)).confidence_interval
    assert ours.value == pytest.approx(100 * correct.mean())
    assert ours.low == pytest.approx(100 * reference.low, abs=0.5)
    assert ours.high == pytest.approx(100 * reference.high, abs=0.5)
    assert 5.0 < ours.high - ours.low < 9.0  # about 2 x 1.96 x 1.8 pp
    assert ours.to_dict() == {"value": ours.value, "low": ours.low, "high": ours.high, "B": 2000, "seed": 1,
                              "method": "percentile bootstrap", "level": 0.95}


def test_intervals_are_seeded_and_bracket_the_value():
    scores, labels = classification_outcomes()
    predictions = scores.argmax(1)
    first = mean_per_class_interval(labels, predictions, B=300, seed=9)
    assert first == mean_per_class_interval(labels, predictions, B=300, seed=9)
    assert first.method == "stratified percentile bootstrap"
    assert first.low < first.value < first.high
    voc_scores, targets = voc_outcomes()
    voc = map11_interval(voc_scores, targets, B=300, seed=9)
    assert voc.low < voc.value < voc.high
    assert map11_interval(voc_scores, targets, B=300, seed=10) != voc


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="correct must be a boolean vector"):
        top1_metric(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="differ in length"):
        mean_per_class_metric(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="NaN or Inf"):
        map11_metric(np.array([[np.nan], [1.0]]), np.array([[1], [0]]))
    with pytest.raises(ValueError, match="without any positive"):
        map11_metric(np.zeros((3, 2)), np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match="sums to zero"):
        top1_metric(np.array([True, False]))(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"weights must be \(b, 2\)"):
        top1_metric(np.array([True, False]))(np.ones((1, 3)))
