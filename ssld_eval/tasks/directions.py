"""Per task and metric, whether a higher or a lower number is the better one.

The report colours a delta green or red by this table, so a wrong entry would paint a regression as a gain;
that is why it is declared here, per task, instead of guessed from a metric's name. The table is the one
declaration: each task module points its ``Task.metric_directions`` at its entry, and :func:`register_task`
refuses a task that has none. It lives in a module of its own, importing nothing but the standard library,
because the report must never import torch and every task module does.

A metric name may hold ``{k}``, which stands for a positive integer: kNN's neighbourhood sizes are a recipe
setting (``--set ks=...``), so its metric names (``knn20_top1``) are not a closed list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Literal

Direction = Literal["higher", "lower"]
HIGHER: Direction = "higher"
LOWER: Direction = "lower"
K = "{k}"

#: the classification metrics of :mod:`ssld_eval.probe.metrics`
_CLASSIFICATION: dict[str, Direction] = {"top1": HIGHER, "mean_per_class": HIGHER, "map11": HIGHER}
#: the COCO metrics of :func:`ssld_eval.tasks.coco_det.coco_metrics`, per IoU type
_COCO: dict[str, Direction] = {f"{iou}_{item}": HIGHER for iou in ("box", "mask")
                               for item in ("AP", "AP50", "AP75", "APs", "APm", "APl")}

METRIC_DIRECTIONS: Mapping[str, Mapping[str, Direction]] = MappingProxyType({
    "linear-probe": MappingProxyType(dict(_CLASSIFICATION)),
    "fine-tune": MappingProxyType(dict(_CLASSIFICATION)),
    "knn": MappingProxyType({f"knn{K}_{name}": way for name, way in _CLASSIFICATION.items()}),
    "coco-det": MappingProxyType(dict(_COCO)),
    "ade20k-seg": MappingProxyType({"mIoU": HIGHER, "mAcc": HIGHER, "aAcc": HIGHER}),
    "imagenet": MappingProxyType({"top1": HIGHER, "top5": HIGHER}),
})


@cache
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile("[1-9][0-9]*".join(re.escape(part) for part in name.split(K)))


def direction_of(task: str, metric: str) -> Direction | None:
    """The declared direction of ``metric`` in ``task``, or ``None`` when the task or metric is undeclared
    (the caller decides what an undeclared one means; it is never guessed)."""
    declared = METRIC_DIRECTIONS.get(task, {})
    if metric in declared:
        return declared[metric]
    for name, way in declared.items():
        if K in name and _pattern(name).fullmatch(metric):
            return way
    return None
