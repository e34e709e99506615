"""Benchmark: B=1000 paired bootstraps at real test-set sizes (goals: COCO box AP under 60 s, top-1 under 2 s).

- COCO: box AP (area all, maxDets 100) of two synthetic detectors on COCO-val-sized data: 5,000 images,
  80 categories (Zipf-like frequencies), about 36,000 ground-truth boxes (1% crowd) and 100 detections
  per image. The :class:`~ssld_eval.stats.coco_arrays.CocoEvalArrays` are generated directly, as
  ``evaluate()`` would leave them (a detection on a box matches it at the IoU thresholds its drawn IoU
  reaches, is ignored there if the box is crowd, and duplicates and background detections are false
  positives), rather than by running pycocotools' matching on 500,000 boxes; the equality with
  pycocotools is the job of tests/stats, not of this script. Only the "all" area range is generated.
- Classification: top-1 of two backbones on ImageNet-val-sized outcomes (50,000 samples, 1,000 classes),
  the second right on 90% of the same samples as the first; and, without a goal, the class-stratified
  paired bootstrap of mean per-class accuracy on the same outcomes.

Times cover the whole :func:`~ssld_eval.stats.paired.paired_bootstrap` call (building the weighted
metrics, drawing the counts, both metrics on every replicate). Prints one JSON line.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bootstrap.py
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from ssld_eval.stats.classification import mean_per_class_metric, top1_metric
from ssld_eval.stats.coco_arrays import CocoEvalArrays
from ssld_eval.stats.coco_stats import coco_metric
from ssld_eval.stats.paired import PairedResult, paired_bootstrap

B, SEED = 1000, 0
IMAGES, CATEGORIES, GT_PER_IMAGE, DETS_PER_IMAGE = 5000, 80, 7.2, 100
SAMPLES, CLASSES = 50_000, 1000
IOU_THRS = np.linspace(0.5, 0.95, 10)
REC_THRS = np.linspace(0.0, 1.0, 101)


def synthetic_ground_truth(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, category, crowd) of every ground-truth box."""
    per_image = rng.poisson(GT_PER_IMAGE, IMAGES)
    frequency = 1.0 / np.arange(1, CATEGORIES + 1) ** 0.8
    image = np.repeat(np.arange(IMAGES), per_image)
    category = rng.choice(CATEGORIES, size=len(image), p=frequency / frequency.sum())
    return image, category, rng.random(len(image)) < 0.01


def synthetic_detector(gt: tuple[np.ndarray, np.ndarray, np.ndarray], quality: float, seed: int) -> CocoEvalArrays:
    """Evaluation arrays of a detector whose IoU with the boxes it finds is Beta(quality, 2)-distributed."""
    rng = np.random.default_rng(seed)
    gt_image, gt_category, crowd = gt
    on_box = np.concatenate([np.arange(len(gt_image)), np.flatnonzero(rng.random(len(gt_image)) < 0.3)])
    primary = np.arange(len(on_box)) < len(gt_image)
    iou = rng.beta(quality, 2.0, len(on_box))
    reached = iou[:, None] >= IOU_THRS[None, :]
    matched = reached & (primary | crowd[on_box])[:, None]  # a crowd box matches every detection on it
    ignored = matched & crowd[on_box][:, None]
    box_score = np.where(primary, rng.beta(2.0 + 3.0 * iou, 2.0), rng.beta(2.0, 3.0, len(on_box)))
    background = np.maximum(0, DETS_PER_IMAGE - np.bincount(gt_image[on_box], minlength=IMAGES))
    bg_image = np.repeat(np.arange(IMAGES), background)
    frequency = 1.0 / np.arange(1, CATEGORIES + 1) ** 0.8
    bg_category = rng.choice(CATEGORIES, size=len(bg_image), p=frequency / frequency.sum())
    image = np.concatenate([gt_image[on_box], bg_image])
    category = np.concatenate([gt_category[on_box], bg_category])
    score = np.concatenate([box_score, rng.beta(1.5, 4.0, len(bg_image))])
    no_outcome = np.zeros((len(bg_image), len(IOU_THRS)), dtype=bool)
    order = np.lexsort((-score, image, category))  # evalImgs order: category, image, score descending
    entries = np.bincount(category * IMAGES + image, minlength=CATEGORIES * IMAGES)
    gt_count = np.bincount(gt_category[~crowd] * IMAGES + gt_image[~crowd], minlength=CATEGORIES * IMAGES)
    return CocoEvalArrays(
        img_ids=np.arange(1, IMAGES + 1), cat_ids=np.arange(1, CATEGORIES + 1), area_labels=("all",),
        iou_thrs=IOU_THRS, rec_thrs=REC_THRS, max_dets=(1, 10, 100),
        det_ptr=np.concatenate([[0], np.cumsum(entries)]), det_score=score[order],
        det_matched=np.concatenate([matched, no_outcome])[order],
        det_ignored=np.concatenate([ignored, no_outcome])[order],
        gt_count=gt_count.reshape(CATEGORIES, 1, IMAGES),
    )


def synthetic_outcomes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, and top-1 correctness of two backbones at 76% and about 78%, agreeing on 90% of the samples."""
    labels = rng.integers(0, CLASSES, SAMPLES)
    correct_a = rng.random(SAMPLES) < 0.76
    correct_b = np.where(rng.random(SAMPLES) < 0.9, correct_a, rng.random(SAMPLES) < 0.96)
    return labels, correct_a, correct_b


def predictions(labels: np.ndarray, correct: np.ndarray) -> np.ndarray:
    return np.where(correct, labels, (labels + 1) % CLASSES)


def timed(run) -> tuple[PairedResult, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def summary(result: PairedResult) -> dict[str, float]:
    return {key: round(value, 3) for key, value in
            (("a", result.value_a), ("b", result.value_b), ("delta", result.delta), ("low", result.low),
             ("high", result.high), ("p", result.p_value))}


def main() -> None:
    load_before = os.getloadavg()
    rng = np.random.default_rng(SEED)
    gt = synthetic_ground_truth(rng)
    detector_a, detector_b = synthetic_detector(gt, 4.0, seed=1), synthetic_detector(gt, 4.5, seed=2)
    coco, coco_s = timed(lambda: paired_bootstrap(coco_metric(detector_a, "AP"), coco_metric(detector_b, "AP"),
                                                  IMAGES, B=B, seed=SEED))
    labels, correct_a, correct_b = synthetic_outcomes(rng)
    top1, top1_s = timed(lambda: paired_bootstrap(top1_metric(correct_a), top1_metric(correct_b), SAMPLES,
                                                  B=B, seed=SEED))
    per_class, per_class_s = timed(lambda: paired_bootstrap(
        mean_per_class_metric(labels, predictions(labels, correct_a)),
        mean_per_class_metric(labels, predictions(labels, correct_b)), SAMPLES, B=B, seed=SEED, strata=labels))
    print(json.dumps({
        "coco_box_ap_paired_s": round(coco_s, 2), "top1_paired_s": round(top1_s, 2),
        "mean_per_class_paired_s": round(per_class_s, 2), "B": B,
        "goals_s": {"coco_box_ap_paired": 60, "top1_paired": 2},
        "data": "synthetic: COCO evaluation arrays generated directly (no pycocotools evaluate), "
                "classification outcomes drawn at random",
        "coco": {"images": IMAGES, "categories": CATEGORIES, "gt_boxes": len(gt[0]),
                 "detections_per_model": len(detector_a.det_score), "area": "all", "max_det": 100,
                 "result_percent": summary(coco)},
        "classification": {"samples": SAMPLES, "classes": CLASSES, "top1_percent": summary(top1),
                           "mean_per_class_percent": summary(per_class)},
        "omp_threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
