"""``ssld``: label-free distillation (Cui et al. 2021, "Beyond Self-Supervision: A Simple Yet Effective Network
Distillation Alternative to Improve Backbones", arXiv 2103.05959; PaddleClas).

The student matches only the teacher's class distribution, so unlabeled images (``data.extra_unlabeled``)
count as much as labelled ones; the training loop hands this method every label as -1, so ground truth
cannot leak into the distillation stage. ``loss: dml`` is the symmetric KL PaddleClas ships, ``loss: js``
the Jensen-Shannon divergence its paper names. SSLD's final labelled fine-tune is ``train.finetune_steps``.
The teacher is kept in eval mode (PaddleClas keeps its BN in train mode): per-image targets that do not
depend on the batch are what makes them cacheable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from distill.losses import js_divergence, symmetric_kl
from distill.methods.base import Batch, MethodParams, SoftTargetMethod, SoftTargetParams
from distill.registry import register_method

LOSSES = {"dml": symmetric_kl, "js": js_divergence}


@dataclass(frozen=True)
class SSLDParams(SoftTargetParams):
    loss: str = "dml"  # dml (symmetric KL, PaddleClas code) or js (Jensen-Shannon, the paper)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in LOSSES:
            raise ValueError(f"loss: {self.loss!r} is not one of {sorted(LOSSES)}")


@register_method("ssld")
class SSLD(SoftTargetMethod):
    Params: ClassVar[type[MethodParams]] = SSLDParams
    uses_labels: ClassVar[bool] = False
    params: SSLDParams

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student(batch.images)
        teacher_logp = self.teacher_log_probs(batch, logits.shape[-1])
        student_logp = logits.float().log_softmax(dim=-1)
        return {self.params.loss: LOSSES[self.params.loss](student_logp, teacher_logp)}
