"""``ade20k-seg``: ADE20K semantic segmentation through MMSegmentation (UperNet).

Recipe (``--set recipe=``): ``upernet-160k`` (512x512 crops, 160k iterations, batch 16: the ScaleKD
table); ``--set profile=smoke`` runs it at CPU size. Without ``--data-root`` the built-in
ADEChallengeData2016-format set and its own classes are used (label 0 is "other", ``reduce_zero_label``);
with it, the user's ``ADEChallengeData2016`` folder and mmseg's 150 classes. mmseg reports mIoU, mAcc
and aAcc in percent already.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

from ssld_eval.config import ConfigError
from ssld_eval.tasks import register_task
from ssld_eval.tasks.base import Task, TaskConfig, TaskContext, TaskResult
from ssld_eval.tasks.configs import Ade20kSegConfig
from ssld_eval.tasks.directions import METRIC_DIRECTIONS

METRICS = ("mIoU", "mAcc", "aAcc")


def seg_result(raw: dict[str, float], protocol: dict[str, Any]) -> TaskResult:
    metrics = {name: float(raw[name]) for name in METRICS if name in raw and math.isfinite(raw[name])}
    if "mIoU" not in metrics:
        return TaskResult(metrics=metrics, primary_metric="mIoU", protocol=protocol, status="failed",
                          reason=f"mmseg's IoU metric gave no finite mIoU (raw metrics: {raw})")
    return TaskResult(metrics=metrics, primary_metric="mIoU", protocol=protocol)


def builtin_dataset(root: Path) -> dict[str, Any]:
    """Dataset settings of the built-in set: its own classes and palette, ADE's file layout."""
    from ssld_eval.mm.data import builtin_classes

    classes = builtin_classes(root.parent)
    palette = json.loads((root.parent / "classes.json").read_text()).get("palette")
    metainfo: dict[str, Any] = {"classes": tuple(classes)}
    if palette:
        metainfo["palette"] = [list(color) for color in palette]
    return {"type": "BaseSegDataset", "img_suffix": ".jpg", "seg_map_suffix": ".png", "reduce_zero_label": True,
            "metainfo": metainfo}


@register_task("ade20k-seg")
class Ade20kSegmentation(Task):
    Config = Ade20kSegConfig
    metric_directions = METRIC_DIRECTIONS["ade20k-seg"]  # all higher-is-better; declared there
    kind = "segmentation"

    def run(self, ctx: TaskContext, config: TaskConfig) -> TaskResult:
        from ssld_eval.data_identity import DATA_FOLDERS, locate_root
        from ssld_eval.mm.data import validate_seg_split
        from ssld_eval.mm.runner import run_recipe

        if ctx.dataset != "ade20k":
            raise ConfigError(f"ade20k-seg: --dataset {ctx.dataset!r}; expected 'ade20k'")
        root, builtin = locate_root(ctx.data_root, DATA_FOLDERS["ade20k"], classes_folder_up=1)
        overrides = builtin_dataset(root) if builtin else {}

        def prepare(cfg: Any, channels: list[int]) -> dict[str, Any]:
            counts = {}
            for loader in ("train_dataloader", "test_dataloader"):
                dataset = cfg[loader].dataset
                dataset.update(data_root=str(root), **overrides)
                counts[loader.split("_")[0] + "_images"] = validate_seg_split(
                    root / dataset.data_prefix.img_path, root / dataset.data_prefix.seg_map_path,
                    dataset.get("img_suffix", ".jpg"), dataset.get("seg_map_suffix", ".png"))
            num_classes = len(overrides["metainfo"]["classes"]) if builtin else cfg.model.decode_head.num_classes
            cfg.model.decode_head.update(in_channels=channels, num_classes=num_classes)
            if cfg.model.get("auxiliary_head"):
                aux = cfg.model.auxiliary_head
                aux.update(in_channels=channels[aux.in_index], num_classes=num_classes)
            return {"root": str(root), "source": "builtin" if builtin else "user", "classes": num_classes, **counts}

        run = run_recipe("ade20k-seg", ctx, cast(Ade20kSegConfig, config), prepare)
        return seg_result(run.metrics, run.protocol)
