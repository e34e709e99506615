"""The detection and segmentation recipes: which mmengine config, which profile, and the task's edits.

Every config that mmengine executes is one of ours (``configs/mm``, by recipe name from :data:`RECIPES`),
inheriting the configs shipped inside the installed mmdet / mmseg packages; a user never hands mmengine a
``.py`` file (it is executed) and never a checkpoint through ``load_from`` (``torch.load``). The ``smoke``
profile is an overlay merged over the recipe (``configs/mm/<task>/smoke.py``), so each recipe keeps its own
augmentation and heads while images, proposals, batch and schedule shrink to CPU size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmengine.config import Config, ConfigDict

from ssld_eval.config import ConfigError
from ssld_eval.tasks.configs import MMTaskConfig

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs" / "mm"
PROFILES = ("full", "smoke")
#: overlay key (not an mmengine key) that multiplies every image size of the pipelines
IMAGE_SCALE_KEY = "ssld_image_scale"


@dataclass(frozen=True)
class Recipe:
    config: str  # path under configs/mm
    summary: str


RECIPES: dict[str, dict[str, Recipe]] = {
    "coco-det": {
        "mask-rcnn-1x": Recipe("coco_det/mask-rcnn_fpn_1x.py",
                               "Mask R-CNN FPN 1x, mmdet's R50 recipe (the ScaleKD COCO table)"),
        "moco-ms-1x": Recipe("coco_det/moco_mask-rcnn_fpn_ms-1x.py",
                             "Mask R-CNN FPN multi-scale 1x, SyncBN in backbone/neck/heads, frozen_stages=-1, "
                             "norm_eval=False, Shared4Conv1FCBBoxHead (the MoCo / mmselfsup protocol)"),
    },
    "ade20k-seg": {
        "upernet-160k": Recipe("ade20k_seg/upernet_512x512_160k.py",
                               "UperNet 512x512 160k, batch 16, mmseg's R50 recipe (the ScaleKD ADE20K table)"),
    },
}
SMOKE_OVERLAYS = {"coco-det": "coco_det/smoke.py", "ade20k-seg": "ade20k_seg/smoke.py"}


def recipe_for(task: str, name: str) -> Recipe:
    recipes = RECIPES[task]
    if name not in recipes:
        raise ConfigError(f"--set recipe={name!r}: unknown for {task}; known: {sorted(recipes)}")
    return recipes[name]


def load_recipe(task: str, config: MMTaskConfig) -> Config:
    """The recipe's mmengine config with the profile and the ``--set`` values applied."""
    if config.profile not in PROFILES:
        raise ConfigError(f"--set profile={config.profile!r}: expected one of {PROFILES}")
    cfg = Config.fromfile(CONFIG_ROOT / recipe_for(task, config.recipe).config)
    scale = 1.0
    if config.profile == "smoke":
        overlay = Config.fromfile(CONFIG_ROOT / SMOKE_OVERLAYS[task]).to_dict()
        scale = float(overlay.pop(IMAGE_SCALE_KEY, 1.0))
        cfg.merge_from_dict(overlay)
    scale *= config.image_scale if config.image_scale is not None else 1.0
    if scale != 1.0:
        scale_image_sizes(cfg, scale)
    if config.max_iters is not None:
        set_max_iters(cfg, config.max_iters)
    if config.batch_size is not None:
        cfg.train_dataloader.batch_size = config.batch_size
    if config.lr is not None:
        cfg.optim_wrapper.optimizer.lr = config.lr
    if config.num_workers is not None:
        for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
            cfg[name].num_workers = config.num_workers
            cfg[name].persistent_workers = config.num_workers > 0
    if config.checkpoint_interval is not None:
        by_epoch = cfg.train_cfg.get("type") == "EpochBasedTrainLoop"
        cfg.default_hooks.checkpoint.update(interval=config.checkpoint_interval, by_epoch=by_epoch, save_last=True)
    if config.vis_backends:
        from mmengine.registry import VISBACKENDS

        unknown = [name for name in config.vis_backends if VISBACKENDS.get(name) is None]
        if unknown:
            raise ConfigError(f"--set vis_backends: unknown mmengine visualiser backend(s) {unknown}; known: "
                              f"{sorted(VISBACKENDS.module_dict)}")
        cfg.visualizer.vis_backends = [dict(type="LocalVisBackend"), *(dict(type=n) for n in config.vis_backends)]
    cfg.auto_scale_lr = ConfigDict(enable=config.auto_scale_lr,
                                   base_batch_size=cfg.get("auto_scale_lr", {}).get("base_batch_size", 16))
    return cfg


def _pipelines(cfg: Config) -> Iterator[list[dict[str, Any]]]:
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(name)
        if loader:
            yield loader.dataset.pipeline


def _scaled(size: Any, factor: float) -> Any:
    if isinstance(size, (int, float)):
        return max(1, round(size * factor))
    return type(size)(_scaled(s, factor) for s in size)


def scale_image_sizes(cfg: Config, factor: float) -> None:
    """Multiply the ``scale`` / ``scales`` / ``crop_size`` of every transform (and the segmentor's fixed
    input size) by ``factor``: a recipe at CPU size keeps its augmentation's shape (multi-scale stays
    multi-scale, the crop stays a quarter of the resize)."""
    if factor <= 0:
        raise ConfigError(f"image_scale must be positive, got {factor}")
    for pipeline in _pipelines(cfg):
        for transform in pipeline:
            for key in ("scale", "scales", "crop_size"):
                if transform.get(key) is not None:
                    transform[key] = _scaled(transform[key], factor)
    preprocessor = cfg.model.get("data_preprocessor") or {}
    if preprocessor.get("size") is not None:
        preprocessor["size"] = _scaled(preprocessor["size"], factor)


def set_max_iters(cfg: Config, max_iters: int) -> None:
    """Train for ``max_iters`` iterations, stretching every iteration-based LR schedule to match."""
    loop = cfg.train_cfg
    if loop.get("type") != "IterBasedTrainLoop":
        raise ConfigError(
            f"--set max_iters: this recipe trains by epochs ({loop.get('max_epochs')} epochs); "
            "use profile=smoke (iteration-based) or keep the recipe's schedule"
        )
    if max_iters < 1:
        raise ConfigError(f"--set max_iters={max_iters}: must be at least 1")
    old = loop.max_iters
    loop.max_iters = max_iters
    loop.val_interval = max_iters
    schedulers = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    for scheduler in schedulers:
        if scheduler.get("by_epoch", True):
            continue
        for key in ("begin", "end"):
            if key in scheduler:
                scheduler[key] = min(max_iters, round(scheduler[key] * max_iters / old))
        if "milestones" in scheduler:
            scheduler["milestones"] = [max(1, round(m * max_iters / old)) for m in scheduler["milestones"]]
        if scheduler.get("end", 1) <= scheduler.get("begin", 0):
            scheduler["end"] = scheduler.get("begin", 0) + 1


def replace_sync_bn(node: Any) -> int:
    """Turn every ``dict(type='SyncBN')`` under ``node`` into ``BN`` (CPU, or a single process, where
    synchronised BN cannot run); returns how many were changed, for the record."""
    changed = 0
    if isinstance(node, dict):
        if node.get("type") == "SyncBN":
            node["type"] = "BN"
            changed += 1
        for value in node.values():
            changed += replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += replace_sync_bn(value)
    return changed


def schedule_summary(cfg: Config) -> dict[str, Any]:
    loop = cfg.train_cfg
    summary = {"loop": loop.get("type")}
    for key in ("max_epochs", "max_iters"):
        if key in loop:
            summary[key] = loop[key]
    summary["optimizer"] = cfg.optim_wrapper.optimizer.get("type")
    summary["lr"] = cfg.optim_wrapper.optimizer.get("lr")
    summary["recipe_batch"] = cfg.auto_scale_lr.base_batch_size
    return summary
