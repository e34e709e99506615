"""``fine-tune``: the whole network trained on the target data with a new classifier head.

Recipe (Kornblith et al. 2019's fine-tuning setting, with timm's training parts): a new linear head of
the data's class count (``reset_classifier``); timm's training augmentation (``create_transform
(is_training=True)``: random-resized crop, flip, colour jitter), optimiser (``create_optimizer_v2``: SGD
with Nesterov momentum by default, no weight decay on biases and norms) and cosine schedule with warm-up
(``create_scheduler_v2``, stepped per iteration); optional label smoothing. Trained on train + validation
for a fixed number of steps, then evaluated once on test with the probe's evaluation transform (top-1;
mean per-class accuracy or 11-point mAP where the data set uses them). fp32 on CPU, bf16 autocast on CUDA.

Learning rates per depth, two options (not both):
- ``layer_decay`` (ViTs, BEiT-style): timm's layer-wise decay, each block's lr scaled by ``decay^depth``;
- ``stage_lr``: one multiplier per stage of the backbone, stages being timm's ``feature_info`` entries
  (the stem belongs to the first; layers after the last stage to it too; the new head keeps 1.0). SSLD
  (Cui et al. 2021) advises ``[0.1, 0.1, 0.2, 0.2, 0.3]`` for ResNet50_vd classification and
  ``[0.25, 0.25, 0.5, 0.5, 0.75]`` for MobileNetV3-large, with a lower weight decay than pre-training.

Defaults are sized for the built-in data on a CPU: 300 steps of 32 images at the data's native size
when it has one (the built-in sets: 64 px), else the backbone's resolution as in the probe.

A non-finite training loss stops training; non-finite test logits are not scored: either makes the run
``failed`` with the reason (the step, or how many test rows), never a number.
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from timm.data import create_transform
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ssld_core.devices import autocast
from ssld_eval.backbones.loader import head_prefixes
from ssld_eval.datasets import BadImagesError, load_dataset
from ssld_eval.datasets.base import ConcatSource, ImageSource
from ssld_eval.features.extract import DecodedImages, collate_decoded, default_workers, extract_features
from ssld_eval.features.finite import non_finite_reason
from ssld_eval.features.threads import cpu_threads
from ssld_eval.features.transforms import eval_transform
from ssld_eval.probe.metrics import classification_metrics, classification_outcomes
from ssld_eval.tasks import register_task
from ssld_eval.tasks.base import Task, TaskContext, TaskResult
from ssld_eval.tasks.configs import FineTuneConfig
from ssld_eval.tasks.directions import METRIC_DIRECTIONS


def parameter_stages(model: nn.Module) -> tuple[list[str], dict[str, int]]:
    """(stage module names, parameter name -> stage index) from timm's ``feature_info``."""
    info = getattr(model, "feature_info", None)
    if not info:
        raise ValueError(f"{type(model).__name__} has no feature_info: stage_lr cannot be mapped; use layer_decay")
    stages = [entry["module"] for entry in info]
    order = [name for name, _ in model.named_modules()]
    position = {name: i for i, name in enumerate(order)}
    ends = [max(position[n] for n in order if n == stage or n.startswith(stage + ".")) for stage in stages]
    mapping = {}
    for name, _ in model.named_parameters():
        owner = position[name.rsplit(".", 1)[0] if "." in name else ""]
        mapping[name] = next((i for i, end in enumerate(ends) if owner <= end), len(ends) - 1)
    return stages, mapping


def stage_param_groups(model: nn.Module, multipliers: tuple[float, ...], weight_decay: float) -> list[dict]:
    """Parameter groups with timm's ``lr_scale`` per stage; no weight decay on 1-d tensors (biases, norms)."""
    stages, mapping = parameter_stages(model)
    if len(multipliers) != len(stages):
        raise ValueError(f"stage_lr has {len(multipliers)} values; this backbone has {len(stages)} stages {stages}")
    heads = head_prefixes(model)
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            scale = 1.0 if heads and name.startswith(heads) else float(multipliers[mapping[name]])
            groups.setdefault((scale, 0.0 if param.ndim <= 1 else weight_decay), []).append(param)
    return [{"params": params, "lr_scale": scale, "weight_decay": decay} for (scale, decay), params in groups.items()]


def build_optimizer(model: nn.Module, config: FineTuneConfig) -> torch.optim.Optimizer:
    if config.layer_decay is not None and config.stage_lr:
        raise ValueError("give layer_decay or stage_lr, not both")
    common = {"opt": config.opt, "lr": config.lr, "weight_decay": config.weight_decay, "momentum": config.momentum}
    if config.stage_lr:
        return create_optimizer_v2(stage_param_groups(model, config.stage_lr, config.weight_decay), **common)
    return create_optimizer_v2(model, layer_decay=config.layer_decay, **common)


def loss_fn(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    if targets.ndim == 2:  # multi-label: per-class BCE, "difficult" entries (-1) ignored
        mask = (targets >= 0).float()
        per_entry = F.binary_cross_entropy_with_logits(logits.float(), (targets > 0).float(), reduction="none")
        return (per_entry * mask).sum() / mask.sum().clamp(min=1.0)
    return F.cross_entropy(logits.float(), targets.long(), label_smoothing=label_smoothing)


def train_steps(model: nn.Module, loader: DataLoader, train: ImageSource, optimizer: torch.optim.Optimizer,
                scheduler: Any, config: FineTuneConfig, device: torch.device, bad: set[str],
                progress: tqdm) -> tuple[int, float, str]:
    """``config.steps`` optimiser steps over ``loader`` (reshuffled each pass); returns (steps done, last
    loss, why training failed or ''). Undecodable images are dropped from their batch and added to ``bad``."""
    step, last_loss = 0, math.nan
    while step < config.steps:
        for indices, images, failed in loader:
            bad.update(train.ident(i) for i in failed)
            if images is None:
                continue
            scheduler.step(step)
            images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with autocast(device):
                logits = model(images)
            loss = loss_fn(logits, train.targets[indices].to(device), config.label_smoothing)
            if not torch.isfinite(loss):
                return step, last_loss, f"training loss became {loss.item()} at step {step}"
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            last_loss, step = loss.item(), step + 1
            progress.update(1)
            progress.set_postfix(loss=f"{last_loss:.3f}", refresh=False)
            if step >= config.steps:
                break
    return step, last_loss, ""


@register_task("fine-tune")
class FineTune(Task):
    Config = FineTuneConfig
    metric_directions = METRIC_DIRECTIONS["fine-tune"]  # all higher-is-better; declared there

    def run(self, ctx: TaskContext, config: FineTuneConfig) -> TaskResult:  # type: ignore[override]
        if config.train_on not in ("train+val", "train"):
            raise ValueError(f"train_on={config.train_on!r}: expected train+val or train")
        data = load_dataset(ctx.dataset, ctx.data_root)
        splits = ["train"] + (["val"] if "val" in data.splits and config.train_on == "train+val" else [])
        train: ImageSource = ConcatSource(tuple(data.splits[s] for s in splits))
        evaluation = eval_transform(ctx.backbone, config.image_size or data.native_size)
        train_tf = create_transform(
            input_size=(3, evaluation.image_size, evaluation.image_size), is_training=True,
            scale=(config.scale_min, 1.0), hflip=config.hflip, interpolation="bicubic",
            mean=evaluation.mean, std=evaluation.std,
        )
        workers = default_workers() if config.workers < 0 else config.workers
        loader = DataLoader(DecodedImages(train, train_tf), batch_size=config.batch_size, shuffle=True,
                            drop_last=len(train) >= config.batch_size, num_workers=workers,
                            collate_fn=collate_decoded, generator=torch.Generator().manual_seed(ctx.seed),
                            persistent_workers=workers > 0)
        model = ctx.backbone.model
        model.reset_classifier(data.num_classes)
        model = model.to(ctx.device, memory_format=torch.channels_last).train()
        optimizer = build_optimizer(model, config)
        scheduler, _ = create_scheduler_v2(optimizer, sched=config.sched, num_epochs=config.steps,
                                           warmup_epochs=config.warmup_steps, warmup_lr=config.lr * 0.01)
        bad: set[str] = set()
        started = time.perf_counter()
        progress = tqdm(total=config.steps, desc=f"fine-tune {data.name}", file=sys.stderr, mininterval=2.0,
                        leave=False)
        with cpu_threads() if ctx.device.type == "cpu" else nullcontext():
            step, last_loss, failure = train_steps(model, loader, train, optimizer, scheduler, config, ctx.device,
                                                   bad, progress)
        progress.close()
        if failure:
            return TaskResult.failed(data.metric, failure, bad_images=tuple(sorted(bad)))
        train_s = time.perf_counter() - started
        test = extract_features(model, data.splits["test"], evaluation.build(), device=ctx.device,
                                batch_size=config.eval_batch_size, workers=workers, desc=f"{data.name}/test eval")
        bad_images = tuple(sorted(bad)) + test.bad
        if config.fail_on_bad_images and bad_images:
            raise BadImagesError(f"{len(bad_images)} image(s) could not be decoded: {list(bad_images)[:20]}")
        reason = non_finite_reason({f"test logits after {step} training steps": test.features})
        if reason:
            return TaskResult.failed(data.metric, reason, bad_images=bad_images)
        metrics = classification_metrics(test.features, test.targets, data.metric)
        protocol = {
            "transform": evaluation.describe(), "train_splits": splits, "n_train": len(train), "n_test": len(test),
            "steps": step, "epochs": round(step * config.batch_size / max(1, len(train)), 2),
            "batch_size": config.batch_size, "final_train_loss": round(last_loss, 4), "train_s": round(train_s, 2),
            "num_classes": data.num_classes, "lr_groups": sorted({round(g.get("lr_scale", 1.0), 6)
                                                                  for g in optimizer.param_groups}),
            "precision": "bf16" if ctx.device.type == "cuda" else "fp32",
        }
        outcomes = classification_outcomes(test.features, test.targets, data.idents("test", test.indices))
        return TaskResult(metrics=metrics, primary_metric=data.metric, protocol=protocol, bad_images=bad_images,
                          outcomes=outcomes)
