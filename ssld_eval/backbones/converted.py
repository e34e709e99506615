"""``--arch SOURCE:NAME``: checkpoints in another framework's format, converted to timm as they are loaded.

The source architecture is named the source's way, so that a released file's own name tells the user what
to pass: ``--arch paddleclas:ResNet50_vd`` for ``ResNet50_vd_ssld_pretrained.pdparams`` (PaddleClas's builder
name; ``transfer --help`` lists them). The converted weights are loaded into the timm model that reproduces
the source network (:mod:`ssld_eval.converters`), with the same strict key audit as every checkpoint, and
carry the source's own input pipeline as their ``data_config``. ``ssld-eval export`` writes the converted
backbone as safetensors with a sidecar naming the timm model, so that it then loads with no ``--arch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ssld_core.inputs import parse_input_spec
from ssld_core.sidecar import BackboneMeta
from ssld_eval.converters import PADDLECLAS_ARCHS, PaddleCheckpointError, convert_paddleclas

SOURCES = {"paddleclas": PADDLECLAS_ARCHS}


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


def convert(path: Path, arch: str) -> Converted:
    """Read ``path`` as a checkpoint of ``arch`` (``SOURCE:NAME``) and convert it to a timm state dict."""
    parsed = source_arch(arch)
    if parsed is None:
        raise ConversionError(f"{arch!r} names no source framework")
    _, name = parsed
    try:
        converted = convert_paddleclas(path, name)
    except PaddleCheckpointError as exc:
        raise ConversionError(str(exc)) from exc
    inputs = parse_input_spec(dict(converted.data_config), f"the {arch} converter's input description",
                              source="converter")
    meta = BackboneMeta(arch=converted.timm_name, kind="converted", data_config=inputs,
                        provenance={"source": str(path), "source_arch": arch, "naming": converted.naming})
    return Converted(converted.timm_name, dict(converted.state_dict), meta)
