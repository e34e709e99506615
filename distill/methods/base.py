"""The contract between the training loop and a distillation method.

A method is an ``nn.Module`` that owns the student and every distillation-only part (projection heads,
projectors); the teacher is held frozen (``requires_grad_(False)``) and registered so that ``.to(device)``
moves it, but it is never part of the student's exported weights. The loop calls :meth:`loss_terms` and
sums the returned, already weighted terms; it checks each term for NaN/Inf by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class Batch:
    """What one training step sees.

    ``labels`` holds -1 for unlabeled images (SSLD's extra data). ``cached`` holds teacher outputs replayed
    from the teacher-output cache (``topk_values``/``topk_indices`` fp16/int for logits, ``features`` fp16),
    in which case the method must not run the teacher.
    """

    images: torch.Tensor
    labels: torch.Tensor
    cached: Mapping[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class MethodParams:
    """Base of each method's hyper-parameters (the recipe's ``method:`` section, minus ``name``)."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "method") -> MethodParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**values)


class DistillMethod(nn.Module):
    """Base class; subclasses set the class attributes and implement :meth:`loss_terms`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[MethodParams]] = MethodParams
    #: whether labels are used at all (SSLD is label-free: False)
    uses_labels: ClassVar[bool] = True
    #: whether a teacher is required
    needs_teacher: ClassVar[bool] = True
    #: what the teacher-output cache stores for this method: "logits", "features" or None (not cacheable)
    cache_kind: ClassVar[str | None] = None

    def __init__(self, student: nn.Module, teacher: nn.Module | None, params: MethodParams) -> None:
        super().__init__()
        if self.needs_teacher and teacher is None:
            raise ValueError(f"method {self.name!r} needs a teacher (recipe key teacher.arch)")
        self.student = student
        self.teacher = teacher
        if teacher is not None:
            teacher.requires_grad_(False)
        self.params = params

    def train(self, mode: bool = True) -> DistillMethod:
        """The teacher stays in eval mode unless a method overrides this (SSLD's code keeps BN in train)."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Weighted scalar loss terms by name; the loop sums them."""
        raise NotImplementedError

    def teacher_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the cache stores for ``images`` (only for methods with a ``cache_kind``)."""
        raise NotImplementedError(f"method {self.name!r} has no cacheable teacher output")

    def student_state_dict(self) -> dict[str, torch.Tensor]:
        """The student's weights (no heads, no teacher): load strictly into timm.create_model(arch)."""
        return {k: v.detach().clone() for k, v in self.student.state_dict().items()}
