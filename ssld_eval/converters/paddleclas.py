"""Convert a PaddleClas ``.pdparams`` (SSLD or any other weights of the same architecture) to a timm state dict.

``arch`` is PaddleClas's own builder name (``ppcls.arch.backbone``), which is how its model lists and URLs
name the files (``<arch>_ssld_pretrained.pdparams``; design basis: shared/notes/released-checkpoints.md §1-3).
Each supported architecture maps to a timm model that ``timm.create_model(timm_name)`` alone rebuilds,
``features_only`` included: plain timm where timm's network is Paddle's (``resnet50d``, ``resnet101d``), a
model registered by this package where it is not (``paddle_resnet34_vd``, ``paddle_mobilenetv1_100``,
``paddle_mobilenetv3_{large,small}_100``). Conversion is strict: every Paddle key consumed, every timm key
filled with its shape, or a :class:`PaddleCheckpointError` naming the file and the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import timm
import torch
from torch import nn

from ssld_eval.converters import paddleclas_maps as maps
from ssld_eval.converters.keymap import ModuleMap, check_against_timm, rename_modules
from ssld_eval.converters.paddle_timm import PADDLECLAS_EVAL_INPUT
from ssld_eval.converters.pdparams import PaddleCheckpointError, read_pdparams

Layout = Callable[[Collection[str], str], tuple[str, list[ModuleMap]]]


def _fixed(module_maps: Callable[[], list[ModuleMap]]) -> Layout:
    """A layout for architectures with one naming generation (the ``legendary_models`` one)."""
    return lambda _keys, _source: (maps.LEGENDARY, module_maps())


@dataclass(frozen=True)
class _Arch:
    timm_name: str
    layout: Layout


_ARCHS: Mapping[str, _Arch] = MappingProxyType(
    {
        "ResNet34_vd": _Arch("paddle_resnet34_vd", partial(maps.resnet_vd_layout, maps.RESNET34_VD)),
        "ResNet50_vd": _Arch("resnet50d", partial(maps.resnet_vd_layout, maps.RESNET50_VD)),
        "ResNet101_vd": _Arch("resnet101d", partial(maps.resnet_vd_layout, maps.RESNET101_VD)),
        "MobileNetV1": _Arch("paddle_mobilenetv1_100", _fixed(maps.mobilenetv1_maps)),
        "MobileNetV3_large_x1_0": _Arch(
            "paddle_mobilenetv3_large_100", _fixed(partial(maps.mobilenetv3_maps, maps.MOBILENETV3_LARGE))
        ),
        "MobileNetV3_small_x1_0": _Arch(
            "paddle_mobilenetv3_small_100", _fixed(partial(maps.mobilenetv3_maps, maps.MOBILENETV3_SMALL))
        ),
    }
)
PADDLECLAS_ARCHS: tuple[str, ...] = tuple(_ARCHS)


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor dicts field-wise is not meaningful
class ConvertedBackbone:
    """A converted PaddleClas checkpoint: what to build in timm, its weights, and the inputs they expect.

    ``timm_kwargs`` is empty for every supported architecture (each is a registered name); it is kept so
    that callers build with ``timm.create_model(timm_name, **timm_kwargs)`` whatever a later one needs.
    ``data_config`` is in timm ``pretrained_cfg`` shape (PaddleClas's eval pipeline, see
    :mod:`ssld_eval.converters.paddle_timm`).
    """

    arch: str  # PaddleClas's builder name
    naming: str  # "legendary" or "release/2.0": which PaddleClas naming generation the file used
    timm_name: str
    state_dict: Mapping[str, torch.Tensor]
    data_config: Mapping[str, Any]
    source: str
    timm_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def create_model(self) -> nn.Module:
        """The timm classifier with these weights loaded strictly (in train mode, as timm returns it)."""
        model = timm.create_model(self.timm_name, **self.timm_kwargs)
        model.load_state_dict(self.state_dict, strict=True)
        return model

    def load_into(self, model: nn.Module) -> tuple[str, ...]:
        """Fill every weight of ``model`` (e.g. a ``features_only=True`` build of ``timm_name``) strictly.

        Every key of ``model`` must be in the converted state dict with its shape; returns the converted keys
        ``model`` has no place for (the classifier head, and stages past the last ``out_indices``).
        """
        wanted = model.state_dict()
        missing = [k for k in wanted if k not in self.state_dict]
        misshapen = [k for k in wanted if k in self.state_dict and self.state_dict[k].shape != wanted[k].shape]
        if missing or misshapen:
            raise PaddleCheckpointError(
                f"{self.source}: converted {self.arch} weights do not fill this {type(model).__name__}: "
                f"missing {missing[:8]}, misshapen {misshapen[:8]}"
            )
        model.load_state_dict({k: self.state_dict[k] for k in wanted}, strict=True)
        return tuple(k for k in self.state_dict if k not in wanted)


def _arch(arch: str, source: str) -> _Arch:
    spec = _ARCHS.get(arch)
    if spec is None:
        raise PaddleCheckpointError(
            f"{source}: unknown PaddleClas architecture {arch!r}; supported: {', '.join(PADDLECLAS_ARCHS)}"
        )
    return spec


def convert_paddleclas_state_dict(state: Mapping[str, np.ndarray], arch: str, source: str) -> ConvertedBackbone:
    """Convert an already-read PaddleClas state dict (name -> numpy array); ``source`` names it in errors."""
    spec = _arch(arch, source)
    naming, module_maps = spec.layout(state.keys(), source)
    tensors = check_against_timm(rename_modules(state, module_maps, source), spec.timm_name, source)
    return ConvertedBackbone(
        arch=arch,
        naming=naming,
        timm_name=spec.timm_name,
        state_dict=tensors,
        data_config=PADDLECLAS_EVAL_INPUT,
        source=source,
    )


def convert_paddleclas(path: Path, arch: str) -> ConvertedBackbone:
    """Read a ``.pdparams`` file (restricted unpickling) and convert it for PaddleClas architecture ``arch``."""
    _arch(arch, str(path))  # before reading a file of 100+ MB
    return convert_paddleclas_state_dict(read_pdparams(path), arch, str(path))
