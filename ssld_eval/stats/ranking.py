"""Interpolated precision at fixed recall thresholds, for many weighted rankings at once.

Both VOC's 11-point AP (Everingham et al. 2010) and COCO's 101-point AP (pycocotools ``accumulate``)
take, at each recall threshold ``r``, the highest precision reached at any recall ``>= r`` (the monotone
envelope of the precision-recall curve), and 0 where the ranking never reaches ``r``. pycocotools finds the
first position with ``recall >= r`` by ``np.searchsorted(rc, recThrs, side="left")`` ranking by ranking;
here the same positions are found for a whole matrix of rankings with one exact comparison per entry (no
tolerance, no offsets added to the recalls), so ties at a threshold are decided exactly as there.

Layout: ``(L, b)``, the ``L`` ranked entries down the rows and one weight row (replicate) per column, so
that gathering the weights of ranked samples copies whole contiguous rows of the transposed weights.
"""

from __future__ import annotations

import numpy as np


def suffix_max(values: np.ndarray) -> np.ndarray:
    """Down axis 0, the maximum of each entry and everything after it: the precision envelope."""
    return np.maximum.accumulate(values[::-1], axis=0)[::-1]


def first_reaching(recall: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``(R, b)``: per column of the ``(L, b)`` matrix ``recall`` (non-decreasing down each column), the
    first position whose recall is ``>= thresholds[t]``, or ``L`` where none is; ``thresholds`` ascending.

    The position of threshold ``t`` is the number of entries below it. An entry is below exactly the
    thresholds from ``searchsorted(thresholds, value, "right")`` on, so counting the entries by that bin
    and summing the counts up to ``t`` gives the position for every threshold at once.
    """
    _, columns = recall.shape
    bins = len(thresholds) + 1
    bin_of = np.searchsorted(thresholds, recall, side="right")
    bin_of += np.arange(columns) * bins
    counts = np.bincount(bin_of.ravel(), minlength=columns * bins).reshape(columns, bins)
    return np.cumsum(counts[:, :-1], axis=1).T


def interpolated_precision(recall: np.ndarray, precision: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``(R, b)`` envelope precision at each recall threshold (0 where the recall is never reached), from the
    ``(L, b)`` recall (non-decreasing down each column) and precision of the ranked entries."""
    length, columns = recall.shape
    if length == 0:
        return np.zeros((len(thresholds), columns))
    position = first_reaching(recall, thresholds)
    envelope = np.take_along_axis(suffix_max(precision), np.minimum(position, length - 1), axis=0)
    return np.where(position < length, envelope, 0.0)
