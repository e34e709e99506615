"""Classification metrics as weighted metrics over stored per-sample outcomes, in percent.

The same three metrics as :mod:`ssld_eval.probe.metrics` (top-1, mean per-class accuracy, VOC2007
11-point mAP), computed from what a run stores per test sample rather than from logits, and for a whole
``(b, n)`` matrix of per-sample weights at once. At unit weights each equals the probe's metric; at
bootstrap counts each equals that metric on the resampled test set (a sample drawn ``w`` times counts
``w`` times), which is what makes the percentile bootstrap of :mod:`ssld_eval.stats.bootstrap` apply.

VOC's mAP is re-accumulated the dfouhey/coco way: each class's images are ranked once by score, and the
weights only rescale the cumulative true and false positives along that fixed ranking.
"""

from __future__ import annotations

import numpy as np

from ssld_eval.stats.bootstrap import DEFAULT_B, DEFAULT_LEVEL, BootstrapResult, WeightedMetric, bootstrap_interval
from ssld_eval.stats.ranking import interpolated_precision
from ssld_eval.stats.resample import Seed

VOC_POINTS = np.linspace(0.0, 1.0, 11)
VOC_TOLERANCE = 1e-12  # the probe's ``recall >= point - 1e-12``


def row_totals(weights: np.ndarray, n: int) -> np.ndarray:
    """Total weight of each row; a zero row (an empty resample) has no metric and is refused."""
    if weights.ndim != 2 or weights.shape[1] != n:
        raise ValueError(f"weights must be (b, {n}), got shape {weights.shape}")
    totals = weights.sum(axis=1, dtype=np.float64)
    if (totals <= 0).any():
        raise ValueError("a weight row sums to zero: the metric of an empty resample is undefined")
    return totals


def _vector(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty vector, got shape {values.shape}")
    return values


def top1_metric(correct: np.ndarray) -> WeightedMetric:
    """Weighted top-1 accuracy (percent) from ``correct`` (n,) bools: whether the arg-max was the label."""
    correct = _vector("correct", correct)
    if correct.dtype != np.bool_:
        raise ValueError(f"correct must be a boolean vector, got dtype {correct.dtype}")
    hits = correct.astype(np.float64)

    def metric(weights: np.ndarray) -> np.ndarray:
        totals = row_totals(weights, len(hits))
        return 100.0 * (weights @ hits) / totals

    return metric


def mean_per_class_metric(labels: np.ndarray, predictions: np.ndarray) -> WeightedMetric:
    """Weighted mean per-class accuracy (percent): each class present (weight > 0) counts once."""
    labels, predictions = _vector("labels", labels), _vector("predictions", predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in length")
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
    hit = (labels == predictions)[order].astype(np.float64)

    def metric(weights: np.ndarray) -> np.ndarray:
        row_totals(weights, len(labels))
        ranked = weights[:, order].astype(np.float64)
        counts = np.add.reduceat(ranked, starts, axis=1)
        hits = np.add.reduceat(ranked * hit, starts, axis=1)
        present = counts > 0
        accuracy = np.divide(hits, counts, out=np.zeros_like(hits), where=present)
        return 100.0 * accuracy.sum(axis=1) / present.sum(axis=1)

    return metric


def _voc_class_ranking(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the non-difficult images ranked by score (stable, as the probe's torch sort), and
    whether each is a positive."""
    kept = np.flatnonzero(targets >= 0)
    ranked = kept[np.argsort(-scores[kept], kind="stable")]
    return ranked, targets[ranked] > 0


def map11_metric(scores: np.ndarray, targets: np.ndarray) -> WeightedMetric:
    """Weighted VOC2007 11-point mAP (percent) from ``scores`` (n, C) and ``targets`` (n, C) in {+1 present,
    0 absent, -1 difficult: ignored for that class}; a class without positive weight is left out."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} must be the same (n, C) shape")
    if not np.isfinite(scores).all():
        raise ValueError("map11 scores contain NaN or Inf")
    if not np.isin(targets, (-1, 0, 1)).all():
        raise ValueError("map11 targets must be +1 (present), 0 (absent) or -1 (difficult)")
    classes = [c for c in range(targets.shape[1]) if (targets[:, c] > 0).any()]
    if not classes:
        raise ValueError("mAP of a set without any positive label")
    rankings = [_voc_class_ranking(scores[:, c], targets[:, c]) for c in classes]
    n = scores.shape[0]

    def metric(weights: np.ndarray) -> np.ndarray:
        row_totals(weights, n)
        columns = np.ascontiguousarray(weights.T, dtype=np.float64)  # (n, b): ranked gathers copy rows
        total = np.zeros(columns.shape[1])
        counted = np.zeros(columns.shape[1])
        for ranked, positive in rankings:
            w = columns[ranked]
            tp = np.cumsum(w * positive[:, None], axis=0)
            seen = np.cumsum(w, axis=0)
            npos = tp[-1]
            valid = npos > 0
            recall = np.divide(tp, npos, out=np.zeros_like(tp), where=valid)
            precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
            ap = interpolated_precision(recall, precision, VOC_POINTS - VOC_TOLERANCE).mean(axis=0)
            total += np.where(valid, ap, 0.0)
            counted += valid
        return 100.0 * total / counted

    return metric


def top1_interval(
    correct: np.ndarray, *, B: int = DEFAULT_B, seed: Seed = 0, level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """Top-1 accuracy (percent) with its percentile bootstrap interval over the test samples."""
    metric = top1_metric(correct)
    return bootstrap_interval(metric, len(correct), B=B, seed=seed, level=level)


def mean_per_class_interval(
    labels: np.ndarray, predictions: np.ndarray, *, B: int = DEFAULT_B, seed: Seed = 0,
    level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """Mean per-class accuracy (percent), bootstrapped within each class: every resample keeps each
    class's size, as the metric weighs classes equally by design."""
    metric = mean_per_class_metric(labels, predictions)
    return bootstrap_interval(metric, len(labels), B=B, seed=seed, level=level, strata=np.asarray(labels))


def map11_interval(
    scores: np.ndarray, targets: np.ndarray, *, B: int = DEFAULT_B, seed: Seed = 0, level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """VOC2007 11-point mAP (percent) with its percentile bootstrap interval over the test images."""
    metric = map11_metric(scores, targets)
    return bootstrap_interval(metric, len(scores), B=B, seed=seed, level=level)
