"""``kd``: Hinton knowledge distillation, alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE.

Hinton, Vinyals, Dean 2015, "Distilling the Knowledge in a Neural Network", arXiv 1503.02531. Images without
a label (``data.extra_unlabeled``) contribute the KD term only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from distill.losses import hinton_kd, masked_cross_entropy
from distill.methods.base import Batch, MethodParams, SoftTargetMethod, SoftTargetParams
from distill.registry import register_method


@dataclass(frozen=True)
class KDParams(SoftTargetParams):
    alpha: float = 0.9  # weight of the KD term; 1 - alpha weighs the label cross-entropy
    temperature: float = 4.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha: {self.alpha} must be in [0, 1]")
        if self.temperature <= 0:
            raise ValueError(f"temperature: {self.temperature} must be positive")


@register_method("kd")
class KD(SoftTargetMethod):
    Params: ClassVar[type[MethodParams]] = KDParams
    uses_labels: ClassVar[bool] = True
    accepts_unlabeled: ClassVar[bool] = True
    params: KDParams

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student(batch.images)
        teacher_logp = self.teacher_log_probs(batch, logits.shape[-1])
        alpha = self.params.alpha
        return {
            "kd": alpha * hinton_kd(logits, teacher_logp, self.params.temperature),
            "ce": (1.0 - alpha) * masked_cross_entropy(logits, batch.labels),
        }
