"""SimReg: regress a (self-supervised) teacher's pooled features through an MLP head on the student.

Navaneet, Koohpayegani, Tejankar, Pirsiavash, "SimReg: Regression as a Simple Yet Effective Tool for
Self-supervised Knowledge Distillation", BMVC 2021, arXiv 2201.05131.

The student's pooled penultimate features go through a deep MLP head (used only while distilling: the paper
finds that a deeper non-linear head helps the backbone, and that the head can be dropped afterwards) whose
output regresses the teacher's pooled features with the MSE of L2-normalised vectors, ``2 - 2 cos``. Teacher
and student see the same weakly augmented view (the loop's single batch of images), so the teacher's
features for an image are fixed and can be cached (``cache_kind = "features"``). Labels are never used.

Several teachers at once (described in the paper, beyond its released single-teacher code): one independent
head per teacher, each regressing its own teacher, the per-teacher losses weighted and summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from distill.methods.base import Batch, DistillMethod, MethodParams
from distill.registry import register_method


def normalized_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SimReg's loss: the squared distance of the L2-normalised vectors, ``2 - 2 cos(pred, target)``,
    averaged over the batch (``pred``, ``target``: (B, D))."""
    return (2.0 - 2.0 * F.cosine_similarity(pred, target.to(pred.dtype), dim=-1)).mean()


def regression_head(in_dim: int, hidden_dims: tuple[int, ...], out_dim: int) -> nn.Sequential:
    """One Linear-BN-ReLU block per hidden width, then a Linear to ``out_dim`` (the teacher's feature width).
    (The authors' 4-layer head also leaves BN-ReLU out after its second Linear; we keep the uniform blocks.)"""
    blocks: list[nn.Module] = []
    width = in_dim
    for hidden in hidden_dims:
        blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        width = hidden
    blocks.append(nn.Linear(width, out_dim))
    return nn.Sequential(*blocks)


def default_hidden_dims(student_dim: int, layers: int) -> tuple[int, ...]:
    """The authors' hidden widths: alternately twice and once the student's width (2d; 2d, d, 2d; ...)."""
    return tuple(2 * student_dim if i % 2 == 0 else student_dim for i in range(layers - 1))


def pooled_features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A timm model's pooled penultimate features (what its classifier would see), (B, D)."""
    return model.forward_head(model.forward_features(images), pre_logits=True)


def probe_size(model: nn.Module) -> tuple[int, int]:
    """An input size the model accepts: a ViT's fixed ``img_size``, else its pretrained config's."""
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and getattr(patch_embed, "img_size", None) is not None:
        return tuple(patch_embed.img_size)
    return tuple(model.pretrained_cfg["input_size"][-2:])


@torch.no_grad()
def pooled_dim(model: nn.Module) -> int:
    """Width of :func:`pooled_features`, read off one probe forward in eval mode (``num_features`` is not it
    for every timm model: MobileNetV3's head conv widens the pooled vector)."""
    was_training = model.training
    model.eval()
    try:
        probe = torch.zeros(1, 3, *probe_size(model), device=next(model.parameters()).device)
        return pooled_features(model, probe).shape[-1]
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class SimRegParams(MethodParams):
    #: linear layers in each head: ``head_layers - 1`` Linear-BN-ReLU blocks then a Linear (paper: 4 best, 2 also)
    head_layers: int = 4
    #: widths of the head's hidden layers (head_layers - 1 values); None = the authors' 2d, d, 2d, ... for a
    #: student of pooled width d
    head_hidden_dims: tuple[int, ...] | None = None
    #: loss weight per teacher, in the recipe's teacher order; None = 1.0 for each
    teacher_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.head_layers < 1:
            raise ValueError(f"simreg: head_layers must be at least 1, got {self.head_layers}")
        if self.head_hidden_dims is not None:
            object.__setattr__(self, "head_hidden_dims", tuple(int(w) for w in self.head_hidden_dims))
            if len(self.head_hidden_dims) != self.head_layers - 1:
                raise ValueError(f"simreg: head_hidden_dims needs head_layers - 1 = {self.head_layers - 1} widths")
        if self.teacher_weights is not None:
            object.__setattr__(self, "teacher_weights", tuple(float(w) for w in self.teacher_weights))


@register_method("simreg")
class SimReg(DistillMethod):
    """Feature regression with one MLP head per teacher; heads are distillation-only and never exported."""

    Params = SimRegParams
    uses_labels = False
    trains_classifier = False
    needs_teacher = True
    cache_kind = "features"

    def __init__(self, student: nn.Module, teacher: nn.Module | None, params: SimRegParams) -> None:
        super().__init__(student, teacher, params)
        weights = params.teacher_weights or (1.0,) * len(self.teachers)
        if len(weights) != len(self.teachers):
            raise ValueError(f"simreg: {len(weights)} teacher_weights for {len(self.teachers)} teachers")
        self.teacher_weights = weights
        student_dim = pooled_dim(student)
        hidden = params.head_hidden_dims or default_hidden_dims(student_dim, params.head_layers)
        self.heads = nn.ModuleList(regression_head(student_dim, hidden, pooled_dim(t)) for t in self.teachers)

    @property
    def teachers(self) -> list[nn.Module]:
        return list(self.teacher) if isinstance(self.teacher, nn.ModuleList) else [self.teacher]

    def cache_signature(self) -> dict[str, Any]:
        """The cached targets are the teachers' pooled features: no SimReg parameter changes them, so runs that
        differ only in head or weights share one cache."""
        return {"kind": self.cache_kind, "targets": "pooled pre-logits features, one entry per teacher"}

    @torch.no_grad()
    def teacher_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each teacher's pooled features, fp16, keyed ``features.<teacher index>``."""
        return {f"features.{i}": pooled_features(t, images).half() for i, t in enumerate(self.teachers)}

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        targets = batch.cached if batch.cached is not None else self.teacher_targets(batch.images)
        features = pooled_features(self.student, batch.images)
        return {
            f"regression.{i}": weight * normalized_mse(head(features), targets[f"features.{i}"].float())
            for i, (head, weight) in enumerate(zip(self.heads, self.teacher_weights, strict=True))
        }
