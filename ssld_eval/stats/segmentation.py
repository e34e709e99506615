"""Semantic-segmentation metrics (mIoU, mAcc, aAcc) from per-image class histograms, with image weights.

mmseg's ``IoUMetric`` keeps, per image, four class histograms (``intersect_and_union``: intersection,
union, predicted and ground-truth pixel counts) and sums them over the images before dividing
(``compute_metrics``); IoU per class is intersection over union, and mIoU the ``np.nanmean`` over
classes, so a class absent from both prediction and ground truth (union 0) is left out. Because the
metric is a ratio of sums, a weighted image set is just ``W @ H``: the bootstrap of mIoU costs one matrix
product per histogram (the torchgeo-bench approach, but from ``C``-long histograms instead of ``C x C``
confusion matrices). Values are in percent, as mmseg reports them, but unrounded (mmseg rounds to 0.01).

Union is derived as ``pred + label - intersect`` (what ``intersect_and_union`` returns), so the three
stored histograms suffice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssld_eval.stats.bootstrap import DEFAULT_B, DEFAULT_LEVEL, BootstrapResult, WeightedMetric, bootstrap_interval
from ssld_eval.stats.resample import Seed

SEG_STATS = ("mIoU", "mAcc", "aAcc")


@dataclass(frozen=True, eq=False)
class SegHistograms:
    """Per-image pixel counts per class, each ``(n_images, C)``: correctly predicted (intersection),
    predicted, and labelled (ignored pixels already left out)."""

    intersect: np.ndarray
    pred_label: np.ndarray
    label: np.ndarray

    def __post_init__(self) -> None:
        shape = np.shape(self.intersect)
        if len(shape) != 2 or shape[0] == 0:
            raise ValueError(f"intersect must be (n_images, C) with at least one image, got shape {shape}")
        for name in ("pred_label", "label"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, intersect {shape}")
        if min(np.min(self.intersect), np.min(self.pred_label), np.min(self.label)) < 0:
            raise ValueError("pixel counts must be non-negative")
        if (self.intersect > np.minimum(self.pred_label, self.label)).any():
            raise ValueError("intersect exceeds the predicted or labelled count of some class")

    @property
    def union(self) -> np.ndarray:
        return self.pred_label + self.label - self.intersect

    @classmethod
    def from_results(cls, results: Sequence[Sequence[Any]]) -> SegHistograms:
        """From ``IoUMetric.results``: one ``(intersect, union, pred_label, label)`` per image (CPU tensors
        or arrays); the union is re-derived."""
        if not results:
            raise ValueError("no per-image results")
        if any(len(result) != 4 for result in results):
            raise ValueError("each result must be (intersect, union, pred_label, label), as intersect_and_union")
        stacked = [np.stack([np.asarray(result[j], dtype=np.float64) for result in results]) for j in (0, 2, 3)]
        return cls(*stacked)


def seg_metric(histograms: SegHistograms, stat: str = "mIoU") -> WeightedMetric:
    """``mIoU``, ``mAcc`` or ``aAcc`` (percent) of the weighted image set."""
    if stat not in SEG_STATS:
        raise ValueError(f"unknown segmentation statistic {stat!r}; known: {SEG_STATS}")
    intersect = np.asarray(histograms.intersect, dtype=np.float64)
    denominator = np.asarray(histograms.union if stat == "mIoU" else histograms.label, dtype=np.float64)
    n = intersect.shape[0]

    def metric(weights: np.ndarray) -> np.ndarray:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != n:
            raise ValueError(f"image weights must be (b, {n}), got shape {weights.shape}")
        hits, total = weights @ intersect, weights @ denominator
        if stat == "aAcc":
            return 100.0 * hits.sum(axis=1) / total.sum(axis=1)
        present = total > 0
        ratio = np.divide(hits, total, out=np.zeros_like(hits), where=present)
        return 100.0 * ratio.sum(axis=1) / present.sum(axis=1)

    return metric


def seg_interval(
    histograms: SegHistograms, stat: str = "mIoU", *, B: int = DEFAULT_B, seed: Seed = 0,
    level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """A segmentation statistic (percent) with its percentile bootstrap interval over the images."""
    metric = seg_metric(histograms, stat)
    return bootstrap_interval(metric, histograms.intersect.shape[0], B=B, seed=seed, level=level)
