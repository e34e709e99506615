"""Glue between a task and mmengine's runner: backbone in, distributed set-up, train, test, metrics out.

The order matters and is the point of this module:
1. the backbone the transfer command loaded strictly is written to safetensors and named in the config
   (the adapter reloads it strictly; ``init_cfg`` stays ``None``);
2. torch.distributed is set up by :mod:`ssld_eval.mm.launch` (CPU-safe), SyncBN becomes BN where it
   cannot run;
3. a hook checks, after mmengine's ``init_weights`` and right before the first iteration, that the
   backbone in the runner holds exactly those weights, so no run trains from weights that were not loaded;
4. training runs without periodic validation, then one test pass gives the numbers.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssld_eval.backbones import LoadedBackbone
from ssld_eval.backbones.loader import read_state_dict
from ssld_eval.config import ConfigError
from ssld_eval.mm.backbone import StrictTimmBackbone, default_out_indices, is_single_stride, pyramid_channels
from ssld_eval.mm.checkpoints import allow_mmengine_checkpoints, export_backbone, resumable_checkpoint
from ssld_eval.mm.launch import DistInfo, init_distributed, runner_settings
from ssld_eval.mm.recipes import load_recipe, recipe_for, replace_sync_bn, schedule_summary
from ssld_eval.tasks.base import TaskContext
from ssld_eval.tasks.configs import MMTaskConfig

#: a task's part: point ``cfg`` at the data, set classes, and give the neck/head the backbone's widths
PrepareData = Callable[[Config, list[int]], dict[str, Any]]

_experiments = itertools.count()


class BackboneWeightsUnloaded(RuntimeError):
    """The runner's backbone does not hold the strictly loaded weights; training must not start."""


class BackboneWeightsCheck(Hook):
    """Before the first training iteration, compare the backbone with the weights file it was given."""

    priority = "HIGHEST"

    def __init__(self, weights: Path, resumed: bool) -> None:
        self.weights = weights
        self.resumed = resumed  # a resumed run continues from its own checkpoint: weights moved on

    def before_train(self, runner: Any) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        backbone = getattr(model, "backbone", None)
        if not isinstance(backbone, StrictTimmBackbone) or backbone.audit is None:
            raise BackboneWeightsUnloaded(
                f"the model's backbone is not a StrictTimmBackbone loaded from {self.weights}"
            )
        if self.resumed:
            return
        reference = read_state_dict(self.weights)
        differing = sorted(key for key, value in backbone.model.state_dict().items()
                           if key not in reference or not torch.equal(value.cpu(), reference[key]))
        if differing:
            raise BackboneWeightsUnloaded(
                f"{len(differing)} backbone tensor(s) differ from {self.weights} after initialisation: "
                f"{differing[:12]}"
            )


def backbone_model_kwargs(model: torch.nn.Module) -> dict[str, Any]:
    """timm arguments that rebuild ``model`` with the same state-dict shapes and accept any input size."""
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and is_single_stride(model) and hasattr(patch_embed, "img_size"):
        return {"img_size": list(patch_embed.img_size), "dynamic_img_size": True, "dynamic_img_pad": True}
    return {}


def normalisation(backbone: LoadedBackbone) -> tuple[list[float], list[float]]:
    """Mean and std on the 0-255 scale: the weights' own (:attr:`LoadedBackbone.inputs`), as every task."""
    return backbone.inputs.mean_std_255()


def install_backbone(cfg: Config, backbone: LoadedBackbone, weights: Path, device: torch.device) -> list[int]:
    """Name the exported weights in ``cfg.model.backbone``; return the widths the neck/head must take.
    On CPU the timm model runs channels-last (1.5-2x faster for MobileNet/EfficientNet-style blocks)."""
    export_backbone(backbone.model, weights)
    kwargs = backbone_model_kwargs(backbone.model)
    node = cfg.model.backbone
    node.update(arch=backbone.arch, weights=str(weights), model_kwargs=kwargs, init_cfg=None,
                channels_last=device.type == "cpu")
    indices = node.get("out_indices") or default_out_indices(backbone.model)
    mean, std = normalisation(backbone)
    cfg.model.data_preprocessor.update(mean=mean, std=std)
    return pyramid_channels(backbone.model, indices)


@dataclass
class MMRun:
    metrics: dict[str, float]
    protocol: dict[str, Any] = field(default_factory=dict)


def adapt_to_environment(cfg: Config, info: DistInfo, device: torch.device) -> dict[str, Any]:
    """Launcher keys, and SyncBN -> BN where synchronised BN cannot run; returns what was changed."""
    cfg.merge_from_dict(runner_settings(info, device))
    notes: dict[str, Any] = {"world_size": info.world_size, "launcher": cfg.launcher}
    if not (info.distributed and device.type == "cuda"):
        changed = replace_sync_bn(cfg.model)
        if changed:
            notes["sync_bn_replaced_by_bn"] = changed
    return notes


def train_and_test(cfg: Config, mm_work_dir: Path, weights: Path, seed: int, resume: bool) -> MMRun:
    """Build mmengine's runner from ``cfg``, train, test once; return the raw metrics and what ran."""
    from mmengine.runner import Runner

    cfg.work_dir = str(mm_work_dir)
    cfg.experiment_name = f"{mm_work_dir.parent.name}-{next(_experiments)}"
    cfg.randomness = {"seed": seed}
    # one evaluation, at the end, is what the papers report; periodic validation is left to users' configs
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.load_from, cfg.resume = None, False
    checkpoint = resumable_checkpoint(mm_work_dir) if resume else None
    if checkpoint is not None:
        cfg.load_from, cfg.resume = str(checkpoint), True
    runner = Runner.from_cfg(cfg)
    runner.register_hook(BackboneWeightsCheck(weights, resumed=checkpoint is not None))
    loading = allow_mmengine_checkpoints() if checkpoint is not None else contextlib.nullcontext()
    with loading:
        runner.train()
    metrics = runner.test()
    batch = cfg.train_dataloader.batch_size
    protocol = {
        "iterations": runner.iter,
        "batch_per_process": batch,
        "effective_batch": batch * runner.world_size,
        "resumed_from": str(checkpoint) if checkpoint else "",
    }
    return MMRun(metrics={str(k): float(v) for k, v in metrics.items()}, protocol=protocol)


def run_recipe(task: str, ctx: TaskContext, config: MMTaskConfig, prepare: PrepareData) -> MMRun:
    """The whole run of one recipe for ``task``: metrics as mm reports them, and the protocol record."""
    cfg = load_recipe(task, config)
    if ctx.device.type == "cpu" and torch.cuda.is_available():
        raise ConfigError("--device cpu with CUDA present: mmengine would still use CUDA; "
                          "hide the GPUs with CUDA_VISIBLE_DEVICES= to train on CPU")
    info = init_distributed(ctx.launcher, ctx.device)
    weights = ctx.work_dir / f"backbone.rank{info.rank}.safetensors"
    channels = install_backbone(cfg, ctx.backbone, weights, ctx.device)
    data_notes = prepare(cfg, channels)
    env_notes = adapt_to_environment(cfg, info, ctx.device)
    run = train_and_test(cfg, ctx.work_dir / "mm", weights, ctx.seed, config.resume)
    schedule = schedule_summary(cfg)
    protocol: dict[str, Any] = {
        "recipe": config.recipe,
        "recipe_summary": recipe_for(task, config.recipe).summary,
        "profile": config.profile,
        "schedule": schedule,
        **run.protocol,
        **env_notes,
        "backbone": {
            "out_channels": channels,
            "model_kwargs": dict(cfg.model.backbone.model_kwargs),
            "frozen_stages": cfg.model.backbone.get("frozen_stages", -1),
            "norm_eval": cfg.model.backbone.get("norm_eval", False),
            "channels_last": cfg.model.backbone.channels_last,
            "weights_verified_before_training": not run.protocol["resumed_from"],
            "normalisation": {"mean": list(cfg.model.data_preprocessor.mean),
                              "std": list(cfg.model.data_preprocessor.std), "source": ctx.backbone.inputs.source},
        },
        "data": data_notes,
    }
    if run.protocol["effective_batch"] != schedule["recipe_batch"]:
        message = (f"effective batch {run.protocol['effective_batch']} differs from the recipe's "
                   f"{schedule['recipe_batch']}{' (LR scaled linearly)' if config.auto_scale_lr else ''}: "
                   "numbers are not comparable with the published ones")
        warnings.warn(message, stacklevel=2)
        protocol["batch_warning"] = message
    return MMRun(metrics=run.metrics, protocol=protocol)
