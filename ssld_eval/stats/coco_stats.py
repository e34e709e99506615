"""The twelve numbers of ``COCOeval.summarize()``, re-accumulated with image weights, and their intervals.

:func:`coco_stats` returns them as pycocotools does (fractions, -1 where undefined), one value per weight
row; with unit weights it equals ``COCOeval.stats`` (to rounding: the means are summed in another order).
:func:`coco_metric` gives one of them in percent as a weighted metric, as the project's records hold COCO
AP, for :func:`~ssld_eval.stats.bootstrap.bootstrap_interval` and the paired comparisons; a resample on
which it is undefined (no ground truth left) makes it NaN, which the interval refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssld_eval.stats.bootstrap import DEFAULT_B, DEFAULT_LEVEL, BootstrapResult, WeightedMetric, bootstrap_interval
from ssld_eval.stats.coco_ap import PrecisionAccumulator, RecallAccumulator
from ssld_eval.stats.coco_arrays import CocoEvalArrays
from ssld_eval.stats.resample import Seed


@dataclass(frozen=True)
class CocoStat:
    """One ``summarize()`` line: AP (precision) or AR (recall), at one IoU threshold or all, one area
    range, one maxDets."""

    average_precision: bool
    iou: float | None
    area: str
    max_det: int


def stat_definitions(max_dets: tuple[int, ...]) -> dict[str, CocoStat]:
    """``summarize()``'s ``_summarizeDets``: note that its first line asks for maxDets=100 literally and the
    others for ``maxDets[2]``; AR1 and AR10 are ``maxDets[0]`` and ``maxDets[1]``."""
    if len(max_dets) != 3:
        raise ValueError(f"summarize() needs three maxDets, this evaluation has {max_dets}")
    small, middle, large = max_dets
    return {
        "AP": CocoStat(True, None, "all", 100), "AP50": CocoStat(True, 0.5, "all", large),
        "AP75": CocoStat(True, 0.75, "all", large), "APs": CocoStat(True, None, "small", large),
        "APm": CocoStat(True, None, "medium", large), "APl": CocoStat(True, None, "large", large),
        "AR1": CocoStat(False, None, "all", small), "AR10": CocoStat(False, None, "all", middle),
        "AR100": CocoStat(False, None, "all", large), "ARs": CocoStat(False, None, "small", large),
        "ARm": CocoStat(False, None, "medium", large), "ARl": CocoStat(False, None, "large", large),
    }


STAT_NAMES = tuple(stat_definitions((1, 10, 100)))


def _thresholds(arrays: CocoEvalArrays, iou: float | None) -> np.ndarray:
    """Indices of the IoU thresholds a line averages over: all, or the one equal to ``iou`` (exact
    equality, as ``np.where(iouThr == p.iouThrs)``)."""
    if iou is None:
        return np.arange(len(arrays.iou_thrs))
    found = np.flatnonzero(arrays.iou_thrs == iou)
    if len(found) == 0:
        raise ValueError(f"IoU threshold {iou} is not among this evaluation's {arrays.iou_thrs.tolist()}")
    return found


def _mean_or_undefined(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.where(count > 0, total / np.maximum(count, 1), -1.0)


class _Summary:
    """The accumulators the requested lines need, each built once and shared by the lines that use it."""

    def __init__(self, arrays: CocoEvalArrays, names: tuple[str, ...]) -> None:
        definitions = stat_definitions(arrays.max_dets)
        unknown = [name for name in names if name not in definitions]
        if unknown:
            raise ValueError(f"unknown COCO statistics {unknown}; known: {list(definitions)}")
        if arrays.shape[2] == 0:
            raise ValueError("the COCO evaluation has no images")
        self.arrays = arrays
        self.lines = {name: definitions[name] for name in names}
        self.accumulators: dict[tuple[bool, str, int], PrecisionAccumulator | RecallAccumulator] = {}
        for line in self.lines.values():
            key = (line.average_precision, line.area, line.max_det)
            if key not in self.accumulators:
                kind = PrecisionAccumulator if line.average_precision else RecallAccumulator
                self.accumulators[key] = kind(arrays, line.area, line.max_det)

    def __call__(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        results = {key: accumulate(weights) for key, accumulate in self.accumulators.items()}
        out = {}
        for name, line in self.lines.items():
            thresholds = _thresholds(self.arrays, line.iou)
            result = results[(line.average_precision, line.area, line.max_det)]
            if line.average_precision:
                sums, valid = result
                total = (sums[:, thresholds, :] * valid[:, None, :]).sum(axis=(1, 2))
                count = valid.sum(axis=1) * len(thresholds) * len(self.arrays.rec_thrs)
            else:
                recall = result[:, thresholds, :]
                total = np.where(recall > -1, recall, 0.0).sum(axis=(1, 2))
                count = (recall > -1).sum(axis=(1, 2))
            out[name] = _mean_or_undefined(total, count)
        return out


def coco_stats(
    arrays: CocoEvalArrays, weights: np.ndarray | None = None, names: tuple[str, ...] = STAT_NAMES,
) -> dict[str, np.ndarray]:
    """``summarize()``'s statistics (fractions, -1 where undefined) per row of ``weights`` ``(b, I)``;
    ``None`` means unit weights (one row: the evaluation as run)."""
    if weights is None:
        weights = np.ones((1, arrays.shape[2]), dtype=np.int32)
    return _Summary(arrays, names)(weights)


def coco_metric(arrays: CocoEvalArrays, stat: str = "AP") -> WeightedMetric:
    """One statistic in percent as a weighted metric over the images (NaN where undefined)."""
    summary = _Summary(arrays, (stat,))

    def metric(weights: np.ndarray) -> np.ndarray:
        value = summary(weights)[stat]
        return np.where(value < 0, np.nan, 100.0 * value)

    return metric


def coco_interval(
    arrays: CocoEvalArrays, stat: str = "AP", *, B: int = DEFAULT_B, seed: Seed = 0, level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """A COCO statistic (percent) with its percentile bootstrap interval over the images."""
    return bootstrap_interval(coco_metric(arrays, stat), arrays.shape[2], B=B, seed=seed, level=level)
