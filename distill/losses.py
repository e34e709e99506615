"""Distillation losses as pure functions of log-probabilities (batch-mean over the first dimension).

Working in log space keeps every divergence finite when a probability underflows, and lets a teacher
distribution replayed from the top-k cache and one computed online go through the same code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kl_divergence(target_logp: torch.Tensor, input_logp: torch.Tensor) -> torch.Tensor:
    """KL(target || input) = sum_c p_target (log p_target - log p_input), averaged over the batch."""
    return (target_logp.exp() * (target_logp - input_logp)).sum(dim=-1).mean()


def hinton_kd(student_logits: torch.Tensor, teacher_logp: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)) (Hinton, Vinyals, Dean 2015, "Distilling the Knowledge in a
    Neural Network", arXiv 1503.02531). The T^2 factor keeps the gradient scale independent of T.

    ``teacher_logp`` are the teacher's log-probabilities at T = 1; softmax(log p / T) equals softmax(t / T)
    because log p and the logits t differ by a per-sample constant.
    """
    t_logp = F.log_softmax(teacher_logp / temperature, dim=-1)
    s_logp = F.log_softmax(student_logits.float() / temperature, dim=-1)
    return temperature**2 * kl_divergence(t_logp, s_logp)


def symmetric_kl(student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
    """(KL(s||t) + KL(t||s)) / 2: what PaddleClas ships as SSLD's ``DistillationDMLLoss`` (Cui et al. 2021,
    "Beyond Self-Supervision: A Simple Yet Effective Network Distillation Alternative...", arXiv 2103.05959)."""
    return 0.5 * (kl_divergence(student_logp, teacher_logp) + kl_divergence(teacher_logp, student_logp))


def js_divergence(student_logp: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (KL(s||m) + KL(t||m)) / 2 with m = (s + t) / 2: the loss SSLD's paper and docs
    name (Cui et al. 2021, arXiv 2103.05959). Bounded by log 2, unlike the symmetric KL."""
    mixture_logp = torch.logaddexp(student_logp, teacher_logp) - math.log(2.0)
    return 0.5 * (kl_divergence(student_logp, mixture_logp) + kl_divergence(teacher_logp, mixture_logp))


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy over the labelled samples only (label -1 = unlabeled); 0 for a batch without labels."""
    labelled = labels >= 0
    if not bool(labelled.any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) intact
    return F.cross_entropy(logits[labelled].float(), labels[labelled], label_smoothing=label_smoothing)
