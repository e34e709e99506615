"""mIoU, mAcc and aAcc from per-image histograms equal mmseg's IoUMetric on the same per-image results."""

from __future__ import annotations

import numpy as np
import pytest

from ssld_eval.stats.segmentation import SegHistograms, seg_interval, seg_metric

CLASSES, IGNORE = 40, 255


def random_maps(seed: int = 0, images: int = 20, side: int = 24):
    """Label and prediction maps: some classes never appear (union 0: left out of the means), some are
    predicted but never labelled (accuracy undefined, IoU 0), and ignored pixels."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(images):
        label = rng.integers(0, CLASSES - 5, (side, side))
        label[rng.random((side, side)) < 0.05] = IGNORE
        prediction = np.where(rng.random((side, side)) < 0.6, label, rng.integers(0, CLASSES - 2, (side, side)))
        prediction[prediction == IGNORE] = 0
        pairs.append((prediction, label))
    return pairs


@pytest.fixture(scope="module")
def mmseg_results():
    import torch
    from mmseg.evaluation.metrics import IoUMetric

    iou = IoUMetric(ignore_index=IGNORE, iou_metrics=["mIoU"])
    iou.dataset_meta = {"classes": [f"c{i}" for i in range(CLASSES)]}
    results = [iou.intersect_and_union(torch.from_numpy(p), torch.from_numpy(label), CLASSES, IGNORE)
               for p, label in random_maps()]
    return iou, results


def test_unit_weights_equal_mmseg_iou_metric(mmseg_results):
    iou, results = mmseg_results
    expected = iou.compute_metrics(results)  # rounded to 0.01, as mmseg reports
    histograms = SegHistograms.from_results(results)
    ones = np.ones((1, len(results)))
    for stat in ("mIoU", "mAcc", "aAcc"):
        assert seg_metric(histograms, stat)(ones)[0] == pytest.approx(expected[stat], abs=0.005 + 1e-9)
    # unrounded: mmseg's own totals (float32 histograms) against ours
    totals = [sum(r[j] for r in results) for j in range(4)]
    raw = iou.total_area_to_metrics(*totals, metrics=["mIoU"])
    assert seg_metric(histograms, "mIoU")(ones)[0] == pytest.approx(100 * np.nanmean(raw["IoU"]), abs=1e-4)
    assert seg_metric(histograms, "mAcc")(ones)[0] == pytest.approx(100 * np.nanmean(raw["Acc"]), abs=1e-4)
    assert np.isnan(raw["IoU"]).sum() >= 2 and np.isnan(raw["Acc"]).sum() > np.isnan(raw["IoU"]).sum()


def test_integer_weights_equal_mmseg_on_repeated_images(mmseg_results):
    iou, results = mmseg_results
    weights = np.random.default_rng(1).multinomial(len(results), np.full(len(results), 1 / len(results)))
    repeated = [r for r, w in zip(results, weights, strict=True) for _ in range(w)]
    totals = [sum(r[j] for r in repeated) for j in range(4)]
    raw = iou.total_area_to_metrics(*totals, metrics=["mIoU"])
    got = seg_metric(SegHistograms.from_results(results), "mIoU")(weights[None, :])[0]
    assert got == pytest.approx(100 * np.nanmean(raw["IoU"]), abs=1e-4)


def histograms_of(pairs) -> SegHistograms:
    rows = []
    for prediction, label in pairs:
        keep = label != IGNORE
        p, t = prediction[keep], label[keep]
        rows.append([np.bincount(p[p == t], minlength=CLASSES), np.bincount(p, minlength=CLASSES),
                     np.bincount(t, minlength=CLASSES)])
    return SegHistograms(*(np.array([r[j] for r in rows]) for j in range(3)))


def test_interval_is_seeded_and_brackets_the_value():
    histograms = histograms_of(random_maps(seed=3))
    result = seg_interval(histograms, "mIoU", B=400, seed=2)
    assert result.low < result.value < result.high
    assert result == seg_interval(histograms, "mIoU", B=400, seed=2)


def test_inconsistent_histograms_are_refused():
    ones = np.ones((2, 3))
    with pytest.raises(ValueError, match="intersect exceeds"):
        SegHistograms(intersect=2 * ones, pred_label=ones, label=ones)
    with pytest.raises(ValueError, match="label has shape"):
        SegHistograms(intersect=ones, pred_label=ones, label=np.ones((2, 4)))
    with pytest.raises(ValueError, match="unknown segmentation statistic"):
        seg_metric(SegHistograms(ones, ones, ones), "mDice")
