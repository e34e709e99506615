"""Uncertainty of transfer metrics: per-metric bootstrap intervals and paired comparisons of backbones.

Everything works on what a run stores per test sample (correctness, scores, COCO evaluation outcomes,
segmentation histograms), re-accumulated with per-sample bootstrap counts; the same seeded counts drive
every backbone, which is what makes comparisons paired. The design basis is shared/notes/uncertainty.md.
Only numpy and scipy are used: this package never imports torch, pycocotools or mmseg.

- :mod:`~ssld_eval.stats.resample`: seeded count vectors (plain and stratified);
- :mod:`~ssld_eval.stats.bootstrap`: the percentile interval of one weighted metric;
- :mod:`~ssld_eval.stats.classification`, :mod:`~ssld_eval.stats.coco_stats`,
  :mod:`~ssld_eval.stats.segmentation`: the metrics as weighted metrics;
- :mod:`~ssld_eval.stats.paired`, :mod:`~ssld_eval.stats.significance`, :mod:`~ssld_eval.stats.across`:
  deltas, p-values, McNemar, Holm and comparisons over several data sets;
- :mod:`~ssld_eval.stats.align`: pairing two runs' results by sample id.
"""

from ssld_eval.stats.across import AcrossSetsResult, PairedSet, across_sets
from ssld_eval.stats.align import NotComparableError, align_ids
from ssld_eval.stats.bootstrap import BootstrapResult, WeightedMetric, bootstrap_interval, percentile_interval
from ssld_eval.stats.classification import (
    map11_interval,
    map11_metric,
    mean_per_class_interval,
    mean_per_class_metric,
    top1_interval,
    top1_metric,
)
from ssld_eval.stats.coco_arrays import CocoEvalArrays, coco_eval_arrays
from ssld_eval.stats.coco_stats import coco_interval, coco_metric, coco_stats
from ssld_eval.stats.paired import PairedResult, bootstrap_p_value, paired_bootstrap, two_level_bootstrap
from ssld_eval.stats.resample import iter_counts, resample_counts, stratified_counts
from ssld_eval.stats.segmentation import SegHistograms, seg_interval, seg_metric
from ssld_eval.stats.significance import HolmResult, McNemarResult, holm, mcnemar

__all__ = [
    "AcrossSetsResult", "BootstrapResult", "CocoEvalArrays", "HolmResult", "McNemarResult", "NotComparableError",
    "PairedResult", "PairedSet", "SegHistograms", "WeightedMetric", "across_sets", "align_ids", "bootstrap_interval",
    "bootstrap_p_value", "coco_eval_arrays", "coco_interval", "coco_metric", "coco_stats", "holm", "iter_counts",
    "map11_interval", "map11_metric", "mcnemar", "mean_per_class_interval", "mean_per_class_metric",
    "paired_bootstrap", "percentile_interval", "resample_counts", "seg_interval", "seg_metric",
    "stratified_counts", "top1_interval", "top1_metric", "two_level_bootstrap",
]
