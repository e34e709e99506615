"""Transfer metrics against scikit-learn and an exact (rational arithmetic) VOC 11-point AP reference."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from ssld_eval.probe.metrics import average_precision_11pt, classification_metrics, map11, mean_per_class, top1


def reference_ap11(scores: np.ndarray, targets: np.ndarray) -> float:
    """VOC devkit procedure, written plainly: rank by score, precision/recall after each rank, and for
    t = 0, 0.1, ..., 1 (exact fractions) the best precision at recall >= t; difficult (-1) entries dropped."""
    keep = targets >= 0
    scores, positive = scores[keep], targets[keep] > 0
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total_pos = int(positive.sum())
    tp, precisions, recalls = 0, [], []
    for rank, i in enumerate(order, start=1):
        tp += int(positive[i])
        precisions.append(Fraction(tp, rank))
        recalls.append(Fraction(tp, total_pos))
    ap = Fraction(0)
    for t in (Fraction(k, 10) for k in range(11)):
        reached = [p for p, r in zip(precisions, recalls, strict=True) if r >= t]
        ap += max(reached) if reached else 0
    return float(ap / 11)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top1_and_mean_per_class_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, 300)
    labels[:7] = np.arange(7)  # every class present
    scores = rng.normal(size=(300, 7)) + 1.5 * np.eye(7)[labels] * rng.random((300, 1))
    predicted = scores.argmax(1)
    s, y = torch.from_numpy(scores), torch.from_numpy(labels)
    assert top1(s, y) == pytest.approx(100 * accuracy_score(labels, predicted), abs=1e-9)
    assert mean_per_class(s, y) == pytest.approx(100 * balanced_accuracy_score(labels, predicted), abs=1e-9)
    assert 0 < top1(s, y) < 100


def test_mean_per_class_differs_from_top1_on_imbalanced_data():
    labels = torch.tensor([0] * 8 + [1] * 2)
    scores = torch.zeros(10, 2)
    scores[:, 0] = 1.0  # always predicts class 0
    assert top1(scores, labels) == pytest.approx(80.0)
    assert mean_per_class(scores, labels) == pytest.approx(50.0)


@pytest.mark.parametrize("seed", range(6))
def test_ap11_matches_exact_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    targets = rng.choice([-1, 0, 1], size=n, p=[0.1, 0.6, 0.3])
    targets[0] = 1
    scores = rng.normal(size=n) + targets
    ours = average_precision_11pt(torch.from_numpy(scores), torch.from_numpy(targets))
    assert ours == pytest.approx(reference_ap11(scores, targets), abs=1e-12)


def test_ap11_known_value():
    # ranks: +, -, +, - with 2 positives: precision 1 up to recall 0.5, then 2/3 up to recall 1
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    targets = torch.tensor([1, 0, 1, 0])
    assert average_precision_11pt(scores, targets) == pytest.approx((6 * 1.0 + 5 * 2 / 3) / 11)


def test_map11_skips_classes_without_positives_and_ignores_difficult():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4], [0.1, 0.05, 0.9]])
    targets = torch.tensor([[1, 0, 0], [0, 1, -1], [0, -1, 0]])  # class 2: no positive -> skipped
    assert map11(scores, targets) == pytest.approx(100.0)
    flipped = targets.clone()
    flipped[2, 1] = 1  # the difficult entry made positive now counts, ranked below a negative
    assert map11(scores, flipped) < 100.0


def test_classification_metrics_names():
    scores, labels = torch.eye(3), torch.tensor([0, 1, 2])
    assert classification_metrics(scores, labels, "top1") == {"top1": 100.0}
    assert set(classification_metrics(scores, labels, "mean_per_class", prefix="knn20_")) == {
        "knn20_top1", "knn20_mean_per_class"}
    assert set(classification_metrics(scores, torch.eye(3, dtype=torch.int8), "map11")) == {"map11"}
