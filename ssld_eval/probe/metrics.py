"""Classification metrics of the transfer literature, in percent, as the papers print them.

- ``top1``: accuracy of the arg-max class.
- ``mean_per_class``: accuracy averaged over classes (Kornblith et al. 2019 use it for FGVC Aircraft,
  Oxford-IIIT Pets, Caltech-101 and Oxford 102 Flowers); equals scikit-learn's ``balanced_accuracy_score``.
- ``map11``: the PASCAL VOC2007 11-point interpolated average precision, averaged over classes
  (Everingham et al. 2010): per class, rank the images by score, and average over the recall thresholds
  0, 0.1, ..., 1 the highest precision reached at a recall at least that large. VOC labels are
  multi-label and use three states per (image, class), encoded here as +1 present, 0 absent and -1
  "difficult only"; difficult entries are ignored for that class, as the VOC development kit does.

Scores with NaN/Inf raise :class:`~ssld_eval.features.finite.NonFiniteError`: arg-max and ranking would
pick classes from them anyway and return a believable percentage.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ssld_eval.features.finite import require_finite

Metric = Callable[[torch.Tensor, torch.Tensor], float]
VOC_RECALL_POINTS = 11


def top1(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of rows whose arg-max score is the label. ``scores``: (N, C), ``labels``: (N,) ints."""
    if labels.numel() == 0:
        raise ValueError("top1 of an empty set")
    require_finite({"top1 scores": scores})
    return 100.0 * (scores.argmax(1) == labels).double().mean().item()


def mean_per_class(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of each class present in ``labels``, averaged over those classes (percent)."""
    if labels.numel() == 0:
        raise ValueError("mean_per_class of an empty set")
    require_finite({"mean_per_class scores": scores})
    correct = (scores.argmax(1) == labels).double()
    num_classes = max(int(labels.max()) + 1, scores.shape[1])
    hits = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, labels, correct)
    counts = torch.bincount(labels, minlength=num_classes).double()
    present = counts > 0
    return 100.0 * (hits[present] / counts[present]).mean().item()


def average_precision_11pt(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """VOC2007 11-point AP of one class (fraction); ``targets`` in {+1, 0, -1 (ignored)}."""
    keep = targets >= 0
    scores, positive = scores[keep], (targets[keep] > 0).double()
    if positive.sum() == 0:
        raise ValueError("11-point AP is undefined for a class without positive examples")
    order = torch.argsort(scores, descending=True, stable=True)
    tp = torch.cumsum(positive[order], 0)
    ranks = torch.arange(1, len(order) + 1, dtype=torch.float64)
    recall = tp / positive.sum()
    precision = tp / ranks
    # Interpolation: the best precision at any recall >= r is the suffix maximum of the precision.
    suffix_max = torch.flip(torch.cummax(torch.flip(precision, (0,)), 0).values, (0,))
    total = 0.0
    for point in torch.linspace(0, 1, VOC_RECALL_POINTS, dtype=torch.float64):
        reached = torch.nonzero(recall >= point - 1e-12)
        total += suffix_max[reached[0, 0]].item() if len(reached) else 0.0
    return total / VOC_RECALL_POINTS


def map11(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean over classes of :func:`average_precision_11pt` (percent); classes without positives are skipped."""
    require_finite({"map11 scores": scores})
    aps = [average_precision_11pt(scores[:, c], targets[:, c])
           for c in range(targets.shape[1]) if (targets[:, c] > 0).any()]
    if not aps:
        raise ValueError("mAP of a set without any positive label")
    return 100.0 * sum(aps) / len(aps)


METRICS: dict[str, Metric] = {"top1": top1, "mean_per_class": mean_per_class, "map11": map11}


def classification_metrics(
    scores: torch.Tensor, targets: torch.Tensor, primary: str, prefix: str = "",
) -> dict[str, float]:
    """The metrics a record carries: ``map11`` for multi-label targets, else ``top1`` plus the data set's
    primary metric when it is another one (``mean_per_class``). Names get ``prefix`` (``knn20_``)."""
    if targets.ndim == 2:
        return {f"{prefix}map11": map11(scores, targets)}
    names = ["top1"] if primary == "top1" else ["top1", primary]
    return {f"{prefix}{name}": METRICS[name](scores, targets.long()) for name in names}


def classification_outcomes(
    scores: torch.Tensor, targets: torch.Tensor, idents: list[str], prefix: str = "",
) -> dict[str, np.ndarray]:
    """Per test sample, what re-accumulates :func:`classification_metrics` under any bootstrap weights
    (:mod:`ssld_eval.records.outcomes`): the sample ids, the label, the arg-max prediction (exactly the one
    ``top1`` counts) and the top-5; for multi-label targets the scores and the targets. Names get ``prefix``."""
    if len(idents) != len(scores):
        raise ValueError(f"{len(idents)} sample ids for {len(scores)} score rows")
    out: dict[str, np.ndarray] = {"sample_id": np.asarray(idents, dtype=str)}
    if targets.ndim == 2:
        out[f"{prefix}scores"] = scores.float().numpy()
        out["targets"] = targets.to(torch.int8).numpy()
        return out
    out["label"] = targets.to(torch.int32).numpy()
    out[f"{prefix}pred"] = scores.argmax(1).to(torch.int32).numpy()
    out[f"{prefix}top5"] = scores.topk(min(5, scores.shape[1]), dim=1).indices.to(torch.int32).numpy()
    return out
