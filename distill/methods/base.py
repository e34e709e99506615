"""The contract between the training loop and a distillation method.

A method is an ``nn.Module`` that owns the student and every distillation-only part (projection heads,
projectors); the teacher is held frozen (``requires_grad_(False)``) and registered so that ``.to(device)``
moves it, but it is never part of the student's exported weights. The loop calls :meth:`loss_terms` and
sums the returned, already weighted terms; it checks each term for NaN/Inf by name.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from distill.typed import RecipeError, coerce


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
            raise RecipeError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()})

    def with_training_size(self, image_size: int) -> MethodParams:
        """These parameters once the recipe's training resolution (``data.image_size``) is known; methods whose
        modules depend on it fill their unset size from it."""
        return self


class DistillMethod(nn.Module):
    """Base class; subclasses set the class attributes and implement :meth:`loss_terms`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[MethodParams]] = MethodParams
    #: whether labels are used at all (SSLD is label-free: False)
    uses_labels: ClassVar[bool] = True
    #: whether a teacher is required
    needs_teacher: ClassVar[bool] = True
    #: whether images without a label (label -1, ``data.extra_unlabeled``) may reach a label-using method;
    #: label-free methods (``uses_labels = False``) always accept them
    accepts_unlabeled: ClassVar[bool] = False
    #: whether the method trains the student's classifier (SimReg regresses features only: its exported
    #: classifier is the random init, so no top-1 is reported for it)
    trains_classifier: ClassVar[bool] = True
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

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """:meth:`loss_terms`; the loop calls the module (so that DistributedDataParallel syncs gradients)."""
        return self.loss_terms(batch)

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Weighted scalar loss terms by name; the loop sums them."""
        raise NotImplementedError

    def cache_signature(self) -> dict[str, Any]:
        """What the cached teacher outputs depend on besides the teacher, the data and the crops.

        A cache built under another signature is refused. The default (kind, method and all its parameters)
        is always safe; methods whose targets depend on fewer parameters narrow it so that runs share caches.
        """
        return {"kind": self.cache_kind, "method": self.name, "params": dataclasses.asdict(self.params)}

    def teacher_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the cache stores for ``images`` (only for methods with a ``cache_kind``)."""
        raise NotImplementedError(f"method {self.name!r} has no cacheable teacher output")


@dataclass(frozen=True)
class SoftTargetParams(MethodParams):
    """Parameters shared by the methods that learn from the teacher's class probabilities."""

    topk: int = 10  # probabilities kept per crop in the teacher-output cache

    def __post_init__(self) -> None:
        if self.topk <= 0:
            raise ValueError(f"topk: {self.topk} must be positive")


class SoftTargetMethod(DistillMethod):
    """A method whose teacher signal is the teacher's class distribution (KD, SSLD).

    The cache stores the teacher's top-k probabilities at temperature 1 (fp16) and their class indices, so
    one cache serves every temperature and both KD and SSLD. Replayed, the mass the top-k leave out is spread
    uniformly over the other classes rather than renormalised away: that keeps the teacher's confidence
    (renormalising would sharpen every target) and is exact when ``topk`` equals the class count.
    """

    cache_kind: ClassVar[str | None] = "logits"
    params: SoftTargetParams

    def __init__(self, student: nn.Module, teacher: nn.Module | None, params: MethodParams) -> None:
        if isinstance(teacher, nn.ModuleList):
            raise ValueError(f"method {self.name!r} takes one teacher; the recipe lists {len(teacher)}")
        super().__init__(student, teacher, params)

    def cache_signature(self) -> dict[str, Any]:
        return {"kind": self.cache_kind, "topk": self.params.topk}

    @torch.no_grad()
    def teacher_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        probs = self.teacher(images).float().softmax(dim=-1)
        values, indices = probs.topk(min(self.params.topk, probs.shape[-1]), dim=-1)
        return {"topk_values": values.half(), "topk_indices": indices.int()}

    def teacher_log_probs(self, batch: Batch, num_classes: int) -> torch.Tensor:
        """The teacher's log-probabilities at temperature 1: replayed from the cache, else computed."""
        if batch.cached is not None:
            return log_probs_from_topk(batch.cached["topk_values"], batch.cached["topk_indices"], num_classes)
        with torch.no_grad():
            return self.teacher(batch.images).float().log_softmax(dim=-1)


def log_probs_from_topk(values: torch.Tensor, indices: torch.Tensor, num_classes: int,
                        floor: float = 1e-8) -> torch.Tensor:
    """Dense log-probabilities from top-k probabilities; the left-out mass is spread uniformly.

    ``floor`` keeps log(0) out of KL terms when the top-k hold all the mass in fp16.
    """
    values = values.float()
    rest = num_classes - values.shape[-1]
    left_out = (1.0 - values.sum(dim=-1, keepdim=True)).clamp_min(0.0)
    fill = left_out / rest if rest > 0 else torch.zeros_like(left_out)
    dense = fill.expand(values.shape[0], num_classes).clone()
    dense.scatter_(-1, indices.long(), values)
    dense = dense.clamp_min(floor)
    return (dense / dense.sum(dim=-1, keepdim=True)).log()
