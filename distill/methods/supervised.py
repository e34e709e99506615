"""``supervised``: plain cross-entropy on labels, no teacher.

The baseline every distillation method is compared with, and how the built-in flow fine-tunes its teacher
(EfficientNet-Lite2 from ImageNet weights, ``student.init_checkpoint`` with a re-initialised classifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from distill.methods.base import Batch, DistillMethod, MethodParams
from distill.registry import register_method


@dataclass(frozen=True)
class SupervisedParams(MethodParams):
    label_smoothing: float = 0.0  # Szegedy et al. 2016, "Rethinking the Inception Architecture", arXiv 1512.00567

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing: {self.label_smoothing} must be in [0, 1)")


@register_method("supervised")
class Supervised(DistillMethod):
    Params: ClassVar[type[MethodParams]] = SupervisedParams
    uses_labels: ClassVar[bool] = True
    needs_teacher: ClassVar[bool] = False
    params: SupervisedParams

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student(batch.images)
        return {"ce": F.cross_entropy(logits.float(), batch.labels, label_smoothing=self.params.label_smoothing)}
