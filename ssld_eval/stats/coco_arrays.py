"""What COCO AP needs from one ``COCOeval.evaluate()``, as a handful of flat arrays.

pycocotools' ``evaluate()`` matches detections to ground truth once per (category, area range, image) and
keeps the outcome in ``evalImgs``; ``accumulate()`` only sorts and counts those outcomes. Re-accumulating
them with per-image weights therefore gives AP on any resample of the images without matching again
(the dfouhey/coco bootstrap). Passing resampled ``imgIds`` to the stock ``accumulate`` does not work: it
drops duplicates and indexes ``evalImgs`` by positions in the new list (see shared/notes/uncertainty.md,
section 2c).

:class:`CocoEvalArrays` keeps, per evaluation entry in ``evalImgs`` order (category, then area range,
then image), its detections in the entry's own order (score-descending, at most ``maxDets[-1]``): the
score, whether it matched a ground-truth box at each IoU threshold (``dtMatches != 0``) and whether it
is ignored there (``dtIgnore``), plus the entry's count of non-ignored ground truth (``gtIgnore == 0``).
A ``None`` entry (no ground truth, no detection) is an entry with nothing in it. At COCO-val scale that
is about 2M detection rows (500k detections, 4 area ranges) of 8 + 2 x 10 bytes, under 60 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Fields of :meth:`CocoEvalArrays.to_arrays`, for ``np.savez``.
FIELDS = ("img_ids", "cat_ids", "area_labels", "iou_thrs", "rec_thrs", "max_dets", "det_ptr", "det_score",
          "det_matched", "det_ignored", "gt_count")


@dataclass(frozen=True, eq=False)
class CocoEvalArrays:
    """Per-entry detection outcomes of a COCOeval run. Entry ``e = (k * A + a) * I + i`` holds the
    detection rows ``det_ptr[e]:det_ptr[e + 1]``; ``gt_count[k, a, i]`` is its non-ignored ground truth."""

    img_ids: np.ndarray  # (I,) image ids, in evaluation order
    cat_ids: np.ndarray  # (K,) category ids ([-1] when the evaluation ignored categories)
    area_labels: tuple[str, ...]  # (A,) "all", "small", "medium", "large"
    iou_thrs: np.ndarray  # (T,)
    rec_thrs: np.ndarray  # (R,)
    max_dets: tuple[int, ...]  # (M,) ascending
    det_ptr: np.ndarray  # (K * A * I + 1,) int64 row offsets
    det_score: np.ndarray  # (N,) float64
    det_matched: np.ndarray  # (N, T) bool
    det_ignored: np.ndarray  # (N, T) bool
    gt_count: np.ndarray  # (K, A, I) int64

    def __post_init__(self) -> None:
        shape = (len(self.cat_ids), len(self.area_labels), len(self.img_ids))
        if self.gt_count.shape != shape:
            raise ValueError(f"gt_count has shape {self.gt_count.shape}, expected (K, A, I) = {shape}")
        entries = shape[0] * shape[1] * shape[2]
        if self.det_ptr.shape != (entries + 1,) or self.det_ptr[0] != 0 or (np.diff(self.det_ptr) < 0).any():
            raise ValueError(f"det_ptr must be {entries + 1} non-decreasing offsets from 0")
        rows = int(self.det_ptr[-1])
        outcome_shape = (rows, len(self.iou_thrs))
        if self.det_score.shape != (rows,):
            raise ValueError(f"det_score has shape {self.det_score.shape}, expected ({rows},)")
        for name in ("det_matched", "det_ignored"):
            value = getattr(self, name)
            if value.shape != outcome_shape or value.dtype != np.bool_:
                raise ValueError(f"{name} must be a bool array of shape {outcome_shape}, got {value.dtype} "
                                 f"{value.shape}")
        if list(self.max_dets) != sorted(self.max_dets):
            raise ValueError(f"max_dets {self.max_dets} must be ascending, as evaluate() sorts them")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(K, A, I): categories, area ranges, images."""
        return len(self.cat_ids), len(self.area_labels), len(self.img_ids)

    def area_index(self, area: str) -> int:
        if area not in self.area_labels:
            raise ValueError(f"area range {area!r} is not in this evaluation's {self.area_labels}")
        return self.area_labels.index(area)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays, for ``np.savez_compressed(path, **arrays.to_arrays())``."""
        out = {name: np.asarray(getattr(self, name)) for name in FIELDS}
        out["area_labels"] = np.array(self.area_labels, dtype=np.str_)
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> CocoEvalArrays:
        """Inverse of :meth:`to_arrays`; takes the dict or a loaded ``.npz``."""
        missing = [name for name in FIELDS if name not in arrays]
        if missing:
            raise ValueError(f"COCO evaluation arrays lack {missing}")
        values = {name: np.asarray(arrays[name]) for name in FIELDS}
        values["area_labels"] = tuple(str(label) for label in values["area_labels"])
        values["max_dets"] = tuple(int(m) for m in values["max_dets"])
        return cls(**values)


def coco_eval_arrays(cocoeval: Any) -> CocoEvalArrays:
    """Extract :class:`CocoEvalArrays` from a pycocotools ``COCOeval`` after ``evaluate()``. Only reads
    ``evalImgs`` and ``_paramsEval``, so pycocotools itself is not imported here."""
    params = getattr(cocoeval, "_paramsEval", None)
    entries = getattr(cocoeval, "evalImgs", None)
    if not params or not entries:
        raise ValueError("the COCOeval object has no evaluation results: run evaluate() first")
    cat_ids = list(params.catIds) if params.useCats else [-1]
    n_cat, n_area, n_img = len(cat_ids), len(params.areaRng), len(params.imgIds)
    if len(entries) != n_cat * n_area * n_img:
        raise ValueError(f"evalImgs has {len(entries)} entries, expected {n_cat} x {n_area} x {n_img}")
    n_thr = len(params.iouThrs)
    ptr = np.zeros(len(entries) + 1, dtype=np.int64)
    gt_count = np.zeros(len(entries), dtype=np.int64)
    scores, matched, ignored = [], [], []
    for e, entry in enumerate(entries):
        size = 0
        if entry is not None:
            size = len(entry["dtScores"])
            gt_count[e] = np.count_nonzero(np.asarray(entry["gtIgnore"]) == 0)
            scores.append(np.asarray(entry["dtScores"], dtype=np.float64))
            matched.append(np.asarray(entry["dtMatches"]).reshape(n_thr, size).T != 0)
            ignored.append(np.asarray(entry["dtIgnore"]).reshape(n_thr, size).T.astype(bool))
        ptr[e + 1] = ptr[e] + size
    empty = np.zeros((0, n_thr), dtype=bool)
    return CocoEvalArrays(
        img_ids=np.asarray(params.imgIds), cat_ids=np.asarray(cat_ids),
        area_labels=tuple(params.areaRngLbl), iou_thrs=np.asarray(params.iouThrs, dtype=np.float64),
        rec_thrs=np.asarray(params.recThrs, dtype=np.float64), max_dets=tuple(int(m) for m in params.maxDets),
        det_ptr=ptr, det_score=np.concatenate(scores) if scores else np.zeros(0),
        det_matched=np.concatenate(matched) if matched else empty,
        det_ignored=np.concatenate(ignored) if ignored else empty,
        gt_count=gt_count.reshape(n_cat, n_area, n_img),
    )
