"""The evaluation transform of the linear-probe protocol: bicubic resize, centre crop, normalise.

Kornblith et al. (2019) feed each network images at its own resolution, resized (bicubic) and centre
cropped, without augmentation. The resolution and normalisation are the distilled student's own when its
provenance (``student.json``) records them (``data.image_size``, ``data.mean``, ``data.std`` and
optionally ``data.crop_pct``), else timm's pretrained config for the architecture
(``timm.data.resolve_data_config``); ``image_size`` overrides the side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from timm.data import create_transform, resolve_data_config

from ssld_eval.backbones import LoadedBackbone


@dataclass(frozen=True)
class EvalTransform:
    image_size: int
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str  # "provenance" or "timm": where mean / std / size came from
    interpolation: str = "bicubic"

    def build(self) -> Callable[[Any], torch.Tensor]:
        return create_transform(
            input_size=(3, self.image_size, self.image_size), is_training=False, interpolation=self.interpolation,
            mean=self.mean, std=self.std, crop_pct=self.crop_pct,
        )

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _side(value: Any) -> int | None:
    """``224``, ``[224, 224]`` or ``[3, 224, 224]`` -> 224."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, Sequence) and value:
        return int(value[-1])
    raise ValueError(f"image_size {value!r}: expected an int or a [C,] H, W list")


def _triple(value: Sequence[float], what: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{what} {list(value)!r}: expected 3 values (RGB)")
    return values  # type: ignore[return-value]


def eval_transform(backbone: LoadedBackbone, image_size: int | None = None) -> EvalTransform:
    """The probe's transform for ``backbone`` (see the module docstring)."""
    timm_cfg = resolve_data_config({}, model=backbone.model)
    data = backbone.provenance.get("data") if isinstance(backbone.provenance.get("data"), dict) else {}
    recorded = _side(data.get("image_size"))
    side = image_size or recorded or int(timm_cfg["input_size"][-1])
    if side < 8:
        raise ValueError(f"image_size {side}: too small")
    from_provenance = recorded is not None or "mean" in data
    return EvalTransform(
        image_size=side,
        crop_pct=float(data.get("crop_pct", timm_cfg.get("crop_pct", 0.875))),
        mean=_triple(data.get("mean", timm_cfg["mean"]), "mean"),
        std=_triple(data.get("std", timm_cfg["std"]), "std"),
        source="provenance" if from_provenance else "timm",
    )
