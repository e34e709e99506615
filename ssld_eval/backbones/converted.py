"""``--arch SOURCE:NAME``: checkpoints in another framework's format, converted to timm as they are loaded.

The source architecture is named the source's way, so that a released file's own name or its project's
README tells the user what to pass (``transfer --help`` lists them; a wrong NAME lists the supported ones):

- ``paddleclas:NAME``: PaddleClas's builder name, e.g. ``paddleclas:ResNet50_vd`` for
  ``ResNet50_vd_ssld_pretrained.pdparams`` (:mod:`ssld_eval.converters.paddleclas`).
- ``scalekd:NAME``: ScaleKD's model-zoo column, lower-cased: ``resnet50`` (ResNet-50, either training
  strategy: ResNetV1d -> timm ``resnet50d`` or ResNet -> ``resnet50``, told apart by the stem's keys),
  ``vit_s16``, ``vit_b16``, ``swin_t``, ``convnext_t``, ``mixer_s16``, ``mixer_b16``; the raw distiller
  checkpoint or the output of ScaleKD's ``pth_transfer.py`` (:mod:`ssld_eval.converters.scalekd`).
- ``simreg:NAME``: SimReg's own ``--arch`` values ``resnet18``, ``resnet50``, ``mobilenet`` (MobileNetV2);
  the student encoder of a ``main.py`` checkpoint (:mod:`ssld_eval.converters.simreg`).

The converted weights are loaded into the timm model that reproduces the source network (plain timm or a
name registered by :mod:`ssld_eval.converters`, so that the timm name alone rebuilds it), with the same
strict key audit as every checkpoint, and carry the source's own input pipeline as their ``data_config``.
``ssld-eval export`` writes the converted backbone as safetensors with a sidecar naming the timm model, so
that it then loads with no ``--arch``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ssld_core.inputs import parse_input_spec
from ssld_core.sidecar import BackboneMeta
from ssld_eval.converters import (
    PADDLECLAS_ARCHS,
    SCALEKD_ARCHS,
    SIMREG_ARCHS,
    PaddleCheckpointError,
    TorchCheckpointError,
    convert_paddleclas,
    convert_scalekd,
    convert_simreg,
)

SOURCES = {"paddleclas": PADDLECLAS_ARCHS, "scalekd": SCALEKD_ARCHS, "simreg": SIMREG_ARCHS}


class ConversionError(ValueError):
    """A ``SOURCE:NAME`` architecture that cannot be converted; the message says why."""


@dataclass(frozen=True)
class Converted:
    timm_name: str
    state_dict: dict[str, torch.Tensor]
    meta: BackboneMeta


def source_arch(arch: str | None) -> tuple[str, str] | None:
    """``"paddleclas:ResNet50_vd"`` -> ``("paddleclas", "ResNet50_vd")``; ``None`` for a timm name."""
    if not arch or ":" not in arch:
        return None
    source, _, name = arch.partition(":")
    if source not in SOURCES:
        raise ConversionError(f"--arch {arch}: unknown source {source!r}; known: {sorted(SOURCES)} "
                              "(a plain timm name has no prefix)")
    if name not in SOURCES[source]:
        raise ConversionError(f"--arch {arch}: {source} has no converter for {name!r}; "
                              f"supported: {', '.join(SOURCES[source])}")
    return source, name


# one source's conversion: (timm name, state dict, data config in timm shape, provenance details)
_Result = tuple[str, Mapping[str, torch.Tensor], Mapping[str, Any], Mapping[str, Any]]


def _paddleclas(path: Path, name: str) -> _Result:
    converted = convert_paddleclas(path, name)
    return converted.timm_name, converted.state_dict, converted.data_config, {"naming": converted.naming}


def _torch_source(convert_fn: Callable[[Path, str], Any]) -> Callable[[Path, str], _Result]:
    def run(path: Path, name: str) -> _Result:
        converted = convert_fn(path, name)
        return converted.timm_name, converted.state_dict, converted.data_config, dict(converted.details)
    return run


_CONVERTERS: dict[str, Callable[[Path, str], _Result]] = {
    "paddleclas": _paddleclas,
    "scalekd": _torch_source(convert_scalekd),
    "simreg": _torch_source(convert_simreg),
}


def convert(path: Path, arch: str) -> Converted:
    """Read ``path`` as a checkpoint of ``arch`` (``SOURCE:NAME``) and convert it to a timm state dict."""
    parsed = source_arch(arch)
    if parsed is None:
        raise ConversionError(f"{arch!r} names no source framework")
    source, name = parsed
    try:
        timm_name, state_dict, data_config, details = _CONVERTERS[source](path, name)
    except (PaddleCheckpointError, TorchCheckpointError) as exc:
        raise ConversionError(str(exc)) from exc
    inputs = parse_input_spec(dict(data_config), f"the {arch} converter's input description", source="converter")
    meta = BackboneMeta(arch=timm_name, kind="converted", data_config=inputs,
                        provenance={"source": str(path), "source_arch": arch, **details})
    return Converted(timm_name, dict(state_dict), meta)
