"""``imagenet``: the backbone's *own* ImageNet-1k classifier on ImageNet's validation images, top-1 and top-5.

What the SSLD and ScaleKD headline cells report (a classifier's ImageNet top-1), measured as the weights
were made to be measured:

1. The backbone is loaded with its classifier (``keep_head=True``; ``transfer`` does it for this task, as
   :attr:`ImagenetTask.keeps_head` asks): a checkpoint without one is an error naming the missing keys, and
   a head over another label space than ImageNet-1k's 1,000 classes is :class:`~ssld_eval.backbones.classifier.
   ClassifierError`. A timm name gets timm's head (random unless ``--pretrained``).
2. Preprocessing is the weights' own input description (:attr:`LoadedBackbone.inputs`: their sidecar's,
   a converter's, else timm's ``pretrained_cfg``): resize the short side to ``side / crop_pct`` with their
   interpolation, centre-crop ``side``, normalise with their mean and std. ``--set image_size=N`` changes
   the side only.
3. The data set must have ImageNet-1k's classes in their canonical order (``--dataset imagenet``,
   :mod:`ssld_eval.datasets.imagenet`); its test split is ``val/``. Logits in fp32 (``--set precision=bf16``:
   autocast on CUDA), arg-max for top-1, the 5 largest for top-5, in percent. Images that cannot be decoded
   are excluded and listed, never replaced; non-finite logits make the run ``failed``.

Per test sample, :attr:`TaskResult.outcomes` holds the sample id (path relative to ``--data-root``), the
label, the arg-max prediction and the top-5 predictions (class indices).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ssld_eval.backbones.classifier import IMAGENET_CLASSES, head_classes, require_classifier
from ssld_eval.config import ConfigError
from ssld_eval.datasets import BadImagesError, DatasetLayoutError, load_dataset
from ssld_eval.datasets.imagenet import imagenet_wnids
from ssld_eval.features.extract import default_workers, extract_features
from ssld_eval.features.finite import non_finite_reason
from ssld_eval.features.transforms import EvalTransform
from ssld_eval.probe.metrics import classification_outcomes, top1
from ssld_eval.tasks import register_task
from ssld_eval.tasks.base import Task, TaskContext, TaskResult
from ssld_eval.tasks.configs import ImagenetConfig
from ssld_eval.tasks.directions import METRIC_DIRECTIONS

PRECISIONS = ("fp32", "bf16")
TOP_K = 5


class FullPrecision(nn.Module):
    """``model`` run outside any autocast region (the shared extraction loop autocasts to bf16 on CUDA)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(images.device.type, enabled=False):
            return self.model(images.float())


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Percent of rows whose label is among their ``k`` largest logits."""
    if labels.numel() == 0:
        raise ValueError(f"top{k} of an empty set")
    hits = (logits.topk(min(k, logits.shape[1]), dim=1).indices == labels[:, None]).any(1)
    return 100.0 * hits.double().mean().item()


def classifier_transform(ctx: TaskContext, image_size: int | None) -> EvalTransform:
    """The weights' own preprocessing (their interpolation included), at ``image_size`` when given."""
    inputs = ctx.backbone.inputs
    side = image_size or inputs.side
    if side < 8:
        raise ConfigError(f"image_size {side}: too small")
    return EvalTransform(image_size=side, crop_pct=inputs.crop_pct, mean=inputs.mean, std=inputs.std,
                         source=inputs.source, interpolation=inputs.interpolation)


@register_task("imagenet")
class ImagenetTask(Task):
    Config = ImagenetConfig
    metric_directions = METRIC_DIRECTIONS["imagenet"]  # top1, top5: higher is better; declared there
    keeps_head = True

    def run(self, ctx: TaskContext, config: ImagenetConfig) -> TaskResult:  # type: ignore[override]
        if config.precision not in PRECISIONS:
            raise ConfigError(f"precision={config.precision!r}: expected one of {PRECISIONS}")
        require_classifier(ctx.backbone, IMAGENET_CLASSES, task=self.name)
        data = load_dataset(ctx.dataset, ctx.data_root)
        if data.classes != imagenet_wnids():
            raise DatasetLayoutError(
                f"task {self.name} scores the backbone's ImageNet-1k classifier: data set {data.name} has "
                f"{data.num_classes} classes ({', '.join(data.classes[:3])} ...), not ImageNet-1k's "
                f"{IMAGENET_CLASSES} wnids in their canonical order; use --dataset imagenet")
        if "test" not in data.splits:
            raise DatasetLayoutError(f"task {self.name}: {data.files_root} has no val/ split")
        source = data.splits["test"]
        transform = classifier_transform(ctx, config.image_size)
        bf16 = config.precision == "bf16" and ctx.device.type == "cuda"
        model = ctx.backbone.model if bf16 else FullPrecision(ctx.backbone.model)
        started = time.perf_counter()
        logits = extract_features(model, source, transform.build(), device=ctx.device, batch_size=config.batch_size,
                                  workers=default_workers() if config.workers < 0 else config.workers,
                                  desc=f"{data.name}/val")
        seconds = time.perf_counter() - started
        bad = logits.bad
        if config.fail_on_bad_images and bad:
            raise BadImagesError(f"{len(bad)} image(s) could not be decoded: {list(bad)[:20]}")
        protocol = {
            "transform": transform.describe(), "inputs_source": ctx.backbone.inputs.source,
            "precision": "bf16" if bf16 else "fp32", "split": "val", "n_test": len(logits), "n_bad": len(bad),
            "num_classes": head_classes(ctx.backbone.model), "label_space": "imagenet-1k",
            "classes_present": int(torch.unique(source.targets).numel()), "forward_s": round(seconds, 3),
        }
        reason = non_finite_reason({"logits": logits.features})
        if reason:
            return TaskResult.failed("top1", reason, protocol=protocol, bad_images=bad)
        scores, labels = logits.features, logits.targets
        metrics = {"top1": top1(scores, labels), f"top{TOP_K}": topk_accuracy(scores, labels, TOP_K)}
        outcomes = classification_outcomes(scores, labels, data.idents("test", logits.indices))
        return TaskResult(metrics=metrics, primary_metric="top1", protocol=protocol, bad_images=bad,
                          outcomes=outcomes)
