"""COCO AP and AR re-accumulated from :class:`CocoEvalArrays` with per-image weights.

This is pycocotools' ``COCOeval.accumulate()`` + ``summarize()`` for a ``(b, I)`` matrix of image weights,
the dfouhey/coco way: an image of weight ``w`` counts its detections' true and false positives and its
non-ignored ground truth ``w`` times, so integer weights give AP on the image list with each image
repeated ``w`` times (up to the order among exactly tied scores), and unit weights give pycocotools'
numbers. What is reproduced, per (category, area range, maxDet):

- detections are the first ``maxDet`` of each image's (already score-sorted) list, concatenated in image
  order and ranked by a stable mergesort on ``-score``, as pycocotools does;
- at each IoU threshold a detection is a true positive if matched and not ignored, a false positive if
  unmatched and not ignored; ``recall = tp / npig``, ``precision = tp / (tp + fp + eps)``;
- precision at each recall threshold is the monotone envelope at the first rank with
  ``recall >= threshold`` (``searchsorted(..., "left")``), 0 past the last recall reached;
- a category without non-ignored ground truth is -1 and left out of the mean; a mean over nothing is -1.

Speed: the ranking is fixed, only the weights change, so everything that does not depend on them is
computed once. The envelope's maximum is always reached at a true positive (precision only drops at a
false positive, and an ignored detection changes nothing), so precision is evaluated at true positives
only: the weighted count of detections ranked up to each of them is a cumulative sum over segment sums
(a sparse ``(segments, I)`` matrix of per-image counts times the weights, one multiply-add per detection
and replicate), and the weighted true positives a cumulative sum over their images' weights. A B=1000
paired bootstrap of box AP at COCO-val size takes about 20 s of one core (benchmarks/bootstrap.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ssld_eval.stats.coco_arrays import CocoEvalArrays
from ssld_eval.stats.ranking import interpolated_precision

_EPS = np.spacing(1)  # pycocotools' ``np.spacing(1)`` in the precision's denominator
_BLOCK_ELEMENTS = 1 << 22  # ranked entries x weight rows per category block


@dataclass(frozen=True)
class _Ranking:
    """One category's weight-independent accumulation. ``kept`` sums, per image, the detections counted at
    some IoU threshold between consecutive *positions* (the ranks of true positives at any threshold);
    per threshold ``t``: the image of every true positive, its position, and the same segment sums of the
    detections counted elsewhere but ignored at ``t``, which must be taken off again."""

    kept: sparse.csr_array
    tp_img: tuple[np.ndarray, ...]
    tp_at: tuple[np.ndarray, ...]
    skipped: tuple[sparse.csr_array | None, ...]


def _selected_rows(arrays: CocoEvalArrays, k: int, a: int, max_det: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of category ``k``, area ``a`` within each image's first ``max_det``, and their image index."""
    _, n_area, n_img = arrays.shape
    first = (k * n_area + a) * n_img
    ptr = arrays.det_ptr[first:first + n_img + 1]
    sizes = np.diff(ptr)
    img = np.repeat(np.arange(n_img), sizes)
    rows = np.arange(ptr[0], ptr[-1])
    within = rows - np.repeat(ptr[:-1], sizes)
    keep = within < max_det
    return rows[keep], img[keep]


def _segment_sums(ranks: np.ndarray, img: np.ndarray, ends: np.ndarray, n_img: int) -> sparse.csr_array:
    """``(len(ends), I)`` counts per image of the entries ranked in ``(ends[p - 1], ends[p]]``; entries past
    the last end are dropped."""
    segment = np.searchsorted(ends, ranks, side="left")
    inside = segment < len(ends)
    return sparse.csr_array((np.ones(np.count_nonzero(inside)), (segment[inside], img[inside])),
                            shape=(len(ends), n_img))


def _ranking(arrays: CocoEvalArrays, k: int, a: int, max_det: int) -> _Ranking:
    rows, img = _selected_rows(arrays, k, a, max_det)
    order = np.argsort(-arrays.det_score[rows], kind="mergesort")
    rows, img = rows[order], img[order]
    counted = ~arrays.det_ignored[rows]  # (D, T)
    tp = arrays.det_matched[rows] & counted
    n_img, kept = arrays.shape[2], counted.any(axis=1)
    positions = np.flatnonzero(tp.any(axis=1))
    tp_img, tp_at, skipped = [], [], []
    for t in range(tp.shape[1]):
        ranks = np.flatnonzero(tp[:, t])
        tp_img.append(img[ranks])
        tp_at.append(np.searchsorted(positions, ranks))
        off = np.flatnonzero(kept & ~counted[:, t])
        skipped.append(_segment_sums(off, img[off], ranks, n_img) if len(off) and len(ranks) else None)
    ranks = np.flatnonzero(kept)
    return _Ranking(_segment_sums(ranks, img[ranks], positions, n_img), tuple(tp_img), tuple(tp_at),
                    tuple(skipped))


def _ground_truth(arrays: CocoEvalArrays, a: int) -> np.ndarray:
    """(K, I) non-ignored ground truth per category and image, as float for the weighted sums."""
    return np.ascontiguousarray(arrays.gt_count[:, a, :], dtype=np.float64)


def transposed_weights(weights: np.ndarray, n_img: int) -> np.ndarray:
    """``(I, b)`` contiguous float weights: one replicate per column, so that ranked gathers copy rows."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != n_img:
        raise ValueError(f"image weights must be (b, {n_img}), got shape {weights.shape}")
    return np.ascontiguousarray(weights.T, dtype=np.float64)


class PrecisionAccumulator:
    """Interpolated precision of one (area range, maxDet), for any image weights.

    Returns, per weight row, the sum over recall thresholds of the interpolated precision for every
    (IoU threshold, category), and which categories have ground truth under those weights: enough for
    any mean that ``summarize()`` takes, without a ``(b, T, R, K)`` array in memory."""

    def __init__(self, arrays: CocoEvalArrays, area: str, max_det: int) -> None:
        self.arrays = arrays
        a = arrays.area_index(area)
        self.gt = _ground_truth(arrays, a)
        self.rankings = [_ranking(arrays, k, a, max_det) for k in range(arrays.shape[0])]

    def __call__(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        columns = transposed_weights(weights, self.arrays.shape[2])
        n_thr, n_cat, b = len(self.arrays.iou_thrs), len(self.rankings), columns.shape[1]
        npig = self.gt @ columns  # (K, b)
        sums = np.zeros((b, n_thr, n_cat))
        for k, ranking in enumerate(self.rankings):
            step = max(1, _BLOCK_ELEMENTS // max(1, ranking.kept.shape[0]))
            for start in range(0, b, step):
                block = slice(start, start + step)
                part = columns if step >= b else np.ascontiguousarray(columns[:, block])
                sums[block, :, k] = self._category(part, npig[k, block], ranking).T
        return sums, (npig > 0).T

    def _category(self, columns: np.ndarray, npig: np.ndarray, ranking: _Ranking) -> np.ndarray:
        """(T, b) sums over recall thresholds of one category's interpolated precision."""
        out = np.zeros((len(ranking.tp_img), columns.shape[1]))
        if ranking.kept.shape[0] == 0:
            return out
        seen_at = np.cumsum(ranking.kept @ columns, axis=0)  # (positions, b)
        npig = np.where(npig > 0, npig, 1.0)  # columns without ground truth are -1 anyway
        for t, (tp_img, tp_at, skipped) in enumerate(zip(ranking.tp_img, ranking.tp_at, ranking.skipped,
                                                         strict=True)):
            if len(tp_img) == 0:
                continue
            tp = np.cumsum(columns[tp_img], axis=0)
            seen = seen_at[tp_at]
            if skipped is not None:
                seen -= np.cumsum(skipped @ columns, axis=0)
            precision = tp / (seen + _EPS)
            out[t] = interpolated_precision(tp / npig, precision, self.arrays.rec_thrs).sum(axis=0)
        return out


class RecallAccumulator:
    """Maximum recall of one (area range, maxDet) per (IoU threshold, category): weighted true positives
    over weighted non-ignored ground truth, -1 where a category has none."""

    def __init__(self, arrays: CocoEvalArrays, area: str, max_det: int) -> None:
        n_cat, _, n_img = arrays.shape
        n_thr = len(arrays.iou_thrs)
        a = arrays.area_index(area)
        self.shape = (n_thr, n_cat)
        self.gt = _ground_truth(arrays, a)
        img, col, val = [], [], []
        for k in range(n_cat):
            rows, row_img = _selected_rows(arrays, k, a, max_det)
            tp = arrays.det_matched[rows] & ~arrays.det_ignored[rows]  # (D, T)
            det, thr = np.nonzero(tp)
            img.append(row_img[det])
            col.append(thr * n_cat + k)
            val.append(np.ones(len(det)))
        self.tp = sparse.csr_array((np.concatenate(val), (np.concatenate(col), np.concatenate(img))),
                                   shape=(n_thr * n_cat, n_img))

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        columns = transposed_weights(weights, self.tp.shape[1])
        npig = (self.gt @ columns).T[:, None, :]  # (b, 1, K)
        tp = (self.tp @ columns).T.reshape(columns.shape[1], *self.shape)
        recall = np.divide(tp, npig, out=np.zeros_like(tp), where=npig > 0)
        return np.where(npig > 0, recall, -1.0)
