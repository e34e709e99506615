"""ScaleKD: strong vision transformers as teachers for any student backbone.

Fan, Li, Liu, Yao, "ScaleKD: Strong Vision Transformers Could Be Excellent Teachers", NeurIPS 2024,
arXiv 2411.06786. Three coupled parts at the student's last two stages, plus logit KD and the label loss:

* Cross-attention projectors (:mod:`distill.methods.scalekd_projector`) turn student maps into teacher-style
  tokens, bridging the difference in feature computing paradigm (local convolution vs global attention).
* Dual-view feature mimicking (DFM): each projected feature is matched to the teacher's stage-4 features in
  the spatial view and, by a separate projector, in a frequency view with the DC component removed. The DC
  term dominates ViT feature energy; removing it makes the student also mimic the weaker alternative
  (non-mean) components the spatial view under-weights.
* Teacher parameter perception (TPP): the student's stage-3 features, projected into the teacher's stage-3
  output space, are run through the teacher's own frozen last stage and the result is matched to the
  teacher's stage-4 features, so the student learns features the teacher's parameters can use. As in the
  authors' code, the outputs of this path are also the queries of the stage-4 projectors (the coupling).

Why ``cache_kind = None``: TPP runs the teacher's last stage on the student's projected features at every
step, so the live teacher is needed anyway (the cache's contract is that a cached batch never runs the
teacher), and the targets are whole stage-4 maps (e.g. 49 x 1536 values per image for Swin-L) rather than a
few logits.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from distill.losses import hinton_kd
from distill.methods.base import Batch, DistillMethod, MethodParams
from distill.methods.scalekd_projector import CrossAttentionProjector
from distill.methods.scalekd_stages import StageAdapter, StageOutputs, stage_adapter
from distill.methods.simreg import probe_size
from distill.registry import register_method

VIEWS = ("spatial", "frequency")
STAGE4_QUERIES = ("tpp", "learned")


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """The orthonormal DCT-II matrix ``D`` (n x n): ``D @ x`` is the DCT of ``x``, ``D.T @ X`` its inverse."""
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(dtype=dtype, device=device)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions (per channel of a (B, C, H, W) map)."""
    rows = dct_matrix(x.shape[-2], x.dtype, x.device)
    cols = dct_matrix(x.shape[-1], x.dtype, x.device)
    return rows @ x @ cols.T


def idct2(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2`."""
    rows = dct_matrix(coefficients.shape[-2], coefficients.dtype, coefficients.device)
    cols = dct_matrix(coefficients.shape[-1], coefficients.dtype, coefficients.device)
    return rows.T @ coefficients @ cols


def remove_dc(x: torch.Tensor) -> torch.Tensor:
    """DCT, zero the (0, 0) coefficient, inverse DCT: the map without its per-channel spatial mean."""
    keep = torch.ones(x.shape[-2:], dtype=x.dtype, device=x.device)
    keep[0, 0] = 0
    return idct2(dct2(x) * keep)


def spatial_mimic_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DFM spatial view: both (B, C, H, W) maps L2-normalised over channels at each position, then the summed
    squared error divided by the batch size. Computed in fp32 (the sum runs over every element)."""
    diff = F.normalize(pred.float(), dim=1) - F.normalize(target.float(), dim=1)
    return diff.pow(2).sum() / pred.shape[0]


def frequency_mimic_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DFM frequency view: the spatial-view loss on both maps after removing their DC component (the DCTs in
    fp32 even under autocast: in bf16 the removed mean would leave a residue as large as the rest)."""
    with torch.autocast(pred.device.type, enabled=False):
        return spatial_mimic_loss(remove_dc(pred.float()), remove_dc(target.float()))



VIEW_LOSSES = {"spatial": spatial_mimic_loss, "frequency": frequency_mimic_loss}


@dataclass(frozen=True)
class ScaleKDParams(MethodParams):
    """Defaults are the authors' Swin-L -> ResNet-50 setting."""

    #: DFM weight of the spatial view (alpha[0])
    alpha_spatial: float = 0.08
    #: DFM weight of the frequency view (alpha[1])
    alpha_frequency: float = 0.06
    #: extra factor on the two TPP terms (stage 3 through the teacher's last stage); 1.0 in the paper
    tpp_weight: float = 1.0
    #: weight of the logit KD term
    kd_weight: float = 0.5
    #: KD temperature
    kd_temperature: float = 1.0
    #: weight of the label cross-entropy (the authors' KD loss rescales it by 1 - kd alpha = 0.5)
    ce_weight: float = 0.5
    #: attention width of every projector; None = the teacher's width at that stage (as in the paper)
    projector_width: int | None = None
    #: attention heads of the (stage-3, stage-4) projectors; the width must be divisible by them
    num_heads: tuple[int, int] = (16, 24)
    #: queries of the stage-4 projectors: "tpp" = the TPP path's outputs (authors' code), "learned" = own table
    stage4_queries: str = "tpp"
    #: training resolution the projectors' grids are built for; unset: the recipe's data.image_size
    image_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_heads", tuple(int(h) for h in self.num_heads))
        if len(self.num_heads) != 2:
            raise ValueError(f"scalekd: num_heads needs two values (stage 3, stage 4), got {self.num_heads}")
        if self.stage4_queries not in STAGE4_QUERIES:
            raise ValueError(f"scalekd: stage4_queries must be one of {STAGE4_QUERIES}, got {self.stage4_queries!r}")

    def with_training_size(self, image_size: int) -> ScaleKDParams:
        """The projectors' token grids follow the crops the trainer feeds (``data.image_size``)."""
        return self if self.image_size else dataclasses.replace(self, image_size=image_size)


@torch.no_grad()
def _probe(adapter: StageAdapter, model: nn.Module, image_size: tuple[int, int]) -> tuple[torch.Size, torch.Size]:
    """(C, H, W) of the stage-3 and stage-4 maps, from one eval-mode forward at ``image_size``."""
    was_training = model.training
    model.eval()
    try:
        out = adapter.forward(torch.zeros(1, 3, *image_size, device=next(model.parameters()).device))
        return adapter.to_map(out.stage3).shape[1:], adapter.to_map(out.stage4).shape[1:]
    finally:
        model.train(was_training)


@register_method("scalekd")
class ScaleKD(DistillMethod):
    """CAP + DFM + TPP at stages 3 and 4, logit KD and CE. Projectors are distillation-only, never exported."""

    Params = ScaleKDParams
    uses_labels = True
    needs_teacher = True
    cache_kind = None

    def __init__(self, student: nn.Module, teacher: nn.Module | None, params: ScaleKDParams) -> None:
        super().__init__(student, teacher, params)
        if isinstance(teacher, nn.ModuleList):
            raise ValueError("scalekd takes a single teacher")
        self.student_stages = stage_adapter(student)
        self.teacher_stages = stage_adapter(teacher)
        self.image_size = (params.image_size,) * 2 if params.image_size else probe_size(teacher)
        student3, student4 = _probe(self.student_stages, student, self.image_size)
        teacher3, teacher4 = _probe(self.teacher_stages, teacher, self.image_size)
        self.teacher4_grid = tuple(teacher4[1:])

        def projector(student_shape: torch.Size, teacher_shape: torch.Size, heads: int, learned: bool) -> nn.Module:
            return CrossAttentionProjector(
                student_channels=student_shape[0],
                student_grid=tuple(student_shape[1:]),
                teacher_channels=teacher_shape[0],
                teacher_grid=tuple(teacher_shape[1:]),
                width=params.projector_width or teacher_shape[0],
                num_heads=heads,
                learned_queries=learned,
            )

        learned4 = params.stage4_queries == "learned"
        self.projectors = nn.ModuleDict()
        for view in VIEWS:
            self.projectors[f"stage3_{view}"] = projector(student3, teacher3, params.num_heads[0], True)
            self.projectors[f"stage4_{view}"] = projector(student4, teacher4, params.num_heads[1], learned4)

    def _tokens_to_map(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *self.teacher4_grid)

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        images = batch.images
        if tuple(images.shape[-2:]) != tuple(self.image_size):
            raise ValueError(
                f"scalekd projectors are built for {self.image_size} inputs but got {tuple(images.shape[-2:])}; "
                "set method.image_size to the training resolution"
            )
        with torch.no_grad():
            teacher: StageOutputs = self.teacher_stages.forward(images)
        target = self.teacher_stages.to_map(teacher.stage4)
        student = self.student_stages.forward(images)
        student3 = self.student_stages.to_map(student.stage3)
        student4 = self.student_stages.to_map(student.stage4)

        p = self.params
        terms: dict[str, torch.Tensor] = {}
        for view, alpha in zip(VIEWS, (p.alpha_spatial, p.alpha_frequency), strict=True):
            mimic = VIEW_LOSSES[view]
            projected3 = self.projectors[f"stage3_{view}"](student3)
            stage3_native = self.teacher_stages.from_tokens(projected3, teacher.stage3)
            perceived = self.teacher_stages.to_map(self.teacher_stages.run_last_stage(stage3_native))
            terms[f"tpp_{view}"] = p.tpp_weight * alpha * mimic(perceived, target)
            queries = perceived.flatten(2).transpose(1, 2) if p.stage4_queries == "tpp" else None
            projected4 = self._tokens_to_map(self.projectors[f"stage4_{view}"](student4, queries))
            terms[f"stage4_{view}"] = alpha * mimic(projected4, target)
        terms["kd"] = p.kd_weight * hinton_kd(student.logits, teacher.logits.float(), p.kd_temperature)
        terms["ce"] = p.ce_weight * F.cross_entropy(student.logits, batch.labels, ignore_index=-1)
        return terms
