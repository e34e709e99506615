"""``coco-det``: COCO detection and instance segmentation through MMDetection (Mask R-CNN FPN recipes).

Recipes (``--set recipe=``): ``mask-rcnn-1x`` (default; ScaleKD's table) and ``moco-ms-1x`` (the MoCo /
mmselfsup protocol); ``--set profile=smoke`` runs either at CPU size. Without ``--data-root`` the built-in
COCO-format set and its own classes are used; with it, the user's COCO 2017 folder
(``annotations/instances_{train,val}2017.json``, ``{train,val}2017/``) and mmdet's 80 COCO classes.
mmdet reports AP as fractions; the record holds percent, as the papers print it. When the detector
predicts nothing, mmdet's COCO metric logs an error and returns no AP: the run is recorded as failed with
that reason, never as a zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from ssld_eval.config import ConfigError
from ssld_eval.tasks import register_task
from ssld_eval.tasks.base import Task, TaskConfig, TaskContext, TaskResult
from ssld_eval.tasks.configs import CocoDetConfig
from ssld_eval.tasks.directions import METRIC_DIRECTIONS

#: mmdet's CocoMetric keys -> record names
_ITEMS = (("mAP", "AP"), ("mAP_50", "AP50"), ("mAP_75", "AP75"), ("mAP_s", "APs"), ("mAP_m", "APm"),
          ("mAP_l", "APl"))
_IOU_TYPES = (("bbox", "box"), ("segm", "mask"))


def coco_metrics(raw: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Percent metrics from mmdet's fractions, and the names COCO left undefined (-1: no such objects)."""
    metrics: dict[str, float] = {}
    undefined: list[str] = []
    for iou_type, prefix in _IOU_TYPES:
        for item, suffix in _ITEMS:
            key = f"coco/{iou_type}_{item}"
            if key in raw:
                name = f"{prefix}_{suffix}"
                if raw[key] < 0:
                    undefined.append(name)
                else:
                    metrics[name] = round(100.0 * raw[key], 2)
    return metrics, undefined


def coco_result(raw: dict[str, float], protocol: dict[str, Any]) -> TaskResult:
    metrics, undefined = coco_metrics(raw)
    protocol = {**protocol, "undefined_metrics": undefined}
    if "box_AP" not in metrics:
        return TaskResult(
            metrics=metrics, primary_metric="box_AP", protocol=protocol, status="failed",
            reason="mmdet's COCO metric returned no box AP: the detector predicted nothing on the validation "
                   f"images (raw metrics: {sorted(raw)})",
        )
    return TaskResult(metrics=metrics, primary_metric="box_AP", protocol=protocol)


def coco_classes(data_root: Path | None) -> tuple[Path, list[str], str]:
    """(root, classes, source): the built-in set's own classes, or mmdet's 80 for a user's COCO 2017."""
    from ssld_eval.data_identity import DATA_FOLDERS, locate_root
    from ssld_eval.mm.data import builtin_classes

    root, builtin = locate_root(data_root, DATA_FOLDERS["coco"])
    if builtin:
        return root, builtin_classes(root), "builtin"
    from mmdet.datasets import CocoDataset

    return root, list(CocoDataset.METAINFO["classes"]), "user"


@register_task("coco-det")
class CocoDetection(Task):
    Config = CocoDetConfig
    metric_directions = METRIC_DIRECTIONS["coco-det"]  # all higher-is-better; declared there
    kind = "detection"

    def run(self, ctx: TaskContext, config: TaskConfig) -> TaskResult:
        from ssld_eval.mm.data import validate_coco_split
        from ssld_eval.mm.runner import run_recipe

        if ctx.dataset != "coco":
            raise ConfigError(f"coco-det: --dataset {ctx.dataset!r}; expected 'coco'")
        root, classes, source = coco_classes(ctx.data_root)

        def prepare(cfg: Any, channels: list[int]) -> dict[str, Any]:
            counts = {}
            for loader in ("train_dataloader", "test_dataloader"):
                dataset = cfg[loader].dataset
                split = validate_coco_split(root / dataset.ann_file, root / dataset.data_prefix.img, classes)
                counts[loader.split("_")[0]] = {"images": split.images, "annotations": split.annotations}
                dataset.data_root = str(root)
                dataset.metainfo = {"classes": tuple(classes)}
                if loader == "test_dataloader":
                    cfg.test_evaluator.ann_file = str(split.ann_file)
            cfg.model.neck.in_channels = channels
            for head in ("bbox_head", "mask_head"):
                if head in cfg.model.roi_head:
                    cfg.model.roi_head[head].num_classes = len(classes)
            return {"root": str(root), "source": source, "classes": len(classes), **counts}

        run = run_recipe("coco-det", ctx, cast(CocoDetConfig, config), prepare)
        return coco_result(run.metrics, run.protocol)
