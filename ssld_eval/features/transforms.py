"""The evaluation transform of the linear-probe protocol: bicubic resize, centre crop, normalise.

Kornblith et al. (2019) feed each network images at its own resolution, resized (bicubic) and centre
cropped, without augmentation. The resolution, crop and normalisation are the weights' own
(:attr:`LoadedBackbone.inputs <ssld_eval.backbones.loader.LoadedBackbone.inputs>`: the sidecar's
``data_config``, else timm's config for the architecture); ``image_size`` overrides the side. The
interpolation is the protocol's (bicubic), whatever the weights were trained with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from timm.data import create_transform

from ssld_eval.backbones import LoadedBackbone


@dataclass(frozen=True)
class EvalTransform:
    image_size: int
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str  # where mean / std / size came from: see ssld_eval.backbones.inputs.InputSpec.source
    interpolation: str = "bicubic"

    def build(self) -> Callable[[Any], torch.Tensor]:
        return create_transform(
            input_size=(3, self.image_size, self.image_size), is_training=False, interpolation=self.interpolation,
            mean=self.mean, std=self.std, crop_pct=self.crop_pct,
        )

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def eval_transform(backbone: LoadedBackbone, image_size: int | None = None) -> EvalTransform:
    """The probe's transform for ``backbone`` (see the module docstring)."""
    inputs = backbone.inputs
    side = image_size or inputs.side
    if side < 8:
        raise ValueError(f"image_size {side}: too small")
    return EvalTransform(image_size=side, crop_pct=inputs.crop_pct, mean=inputs.mean, std=inputs.std,
                         source=inputs.source)
