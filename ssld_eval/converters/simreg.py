"""Convert a SimReg student checkpoint (UCDvision/simreg ``main.py``) to a timm state dict.

Names (``--arch simreg:NAME``) are SimReg's own ``-a`` / ``--arch_s`` values: ``resnet18``, ``resnet50``,
``mobilenet`` (its MobileNetV2). Design basis: shared/notes/released-checkpoints.md §6.

``main.py`` saves ``{'opt': argparse.Namespace, 'state_dict': simreg.state_dict(), 'optimizer', 'epoch'}``
after ``data_parallel()``, so the student is ``encoder_q.module.*`` (``encoder_q.*`` is accepted too),
beside the prediction MLP ``predict_q.module.*`` and the teacher ``encoder_t.module.*`` (absent with cached
teacher features); only the student is read, the rest is counted in the provenance. The student's ``fc``
is an empty ``nn.Sequential``, so it has no classifier keys: it converts to timm with ``num_classes=0``.

- ``resnet18`` / ``resnet50``: torchvision's architecture and names (``models/resnet.py``: stride on the 3x3
  conv, its fixed ``AvgPool2d(7)`` is the global mean at 224 px) -> timm ``resnet18`` / ``resnet50``, keys
  unchanged. (SimReg's linear evaluation builds torchvision's own models, ``eval_linear.py::get_model``.)
- ``mobilenet``: torchvision's MobileNetV2 (``models/mobilenet.py``, ``features.*``, ReLU6) -> timm
  ``mobilenetv2_100``: ``features.0`` -> ``conv_stem`` / ``bn1``; ``features.1.conv.{0.0,0.1,1,2}`` ->
  ``blocks.0.0.{conv_dw,bn1,conv_pw,bn2}``; ``features.k.conv.{0.0,0.1,1.0,1.1,2,3}`` ->
  ``{conv_pw,bn1,conv_dw,bn2,conv_pwl,bn3}`` for k = 2..17, grouped [2, 3, 4, 3, 3, 1] as timm's stages 1-6;
  ``features.18`` -> ``conv_head`` / ``bn2``.

Inputs: SimReg evaluates with torchvision ``Resize(256)`` (bilinear) + ``CenterCrop(224)`` and ImageNet
mean / std (``eval_linear.py``, ``eval_knn.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from ssld_eval.converters.scalekd_timm import RESIZE_256_BILINEAR
from ssld_eval.converters.torch_keymap import (
    BN,
    CONV,
    ConvertedTorchBackbone,
    ModuleMap,
    Renamed,
    check_against_timm,
    rename_modules,
)
from ssld_eval.converters.torch_pickles import (
    SIMREG_GLOBALS,
    TorchCheckpointError,
    listing,
    read_torch_checkpoint,
    tensor_dict,
)

STUDENT_PREFIXES = ("encoder_q.module.", "encoder_q.")
NESTING_KEYS = ("state_dict", "model")  # what eval_linear.py::load_weights reads

# MobileNetV2's inverted residuals 2..17 by timm stage (blocks.1 .. blocks.6).
MOBILENETV2_STAGES = (2, 3, 4, 3, 3, 1)


def _conv_bn(conv_source: str, bn_source: str, conv: str, bn: str) -> list[ModuleMap]:
    return [ModuleMap(conv_source, conv, CONV), ModuleMap(bn_source, bn, BN)]


def mobilenetv2_maps() -> list[ModuleMap]:
    maps = _conv_bn("features.0.0", "features.0.1", "conv_stem", "bn1")
    maps += _conv_bn("features.1.conv.0.0", "features.1.conv.0.1", "blocks.0.0.conv_dw", "blocks.0.0.bn1")
    maps += _conv_bn("features.1.conv.1", "features.1.conv.2", "blocks.0.0.conv_pw", "blocks.0.0.bn2")
    k = 2
    for stage, depth in enumerate(MOBILENETV2_STAGES, start=1):
        for j in range(depth):
            mm, tm = f"features.{k}.conv", f"blocks.{stage}.{j}"
            maps += _conv_bn(f"{mm}.0.0", f"{mm}.0.1", f"{tm}.conv_pw", f"{tm}.bn1")
            maps += _conv_bn(f"{mm}.1.0", f"{mm}.1.1", f"{tm}.conv_dw", f"{tm}.bn2")
            maps += _conv_bn(f"{mm}.2", f"{mm}.3", f"{tm}.conv_pwl", f"{tm}.bn3")
            k += 1
    maps += _conv_bn(f"features.{k}.0", f"features.{k}.1", "conv_head", "bn2")
    return maps


def _same_names(state: Mapping[str, torch.Tensor], _source: str) -> Renamed:
    """torchvision ResNet names are timm's: the timm check alone audits them."""
    return Renamed(dict(state), {k: k for k in state})


@dataclass(frozen=True)
class _Arch:
    timm_name: str
    rename: Callable[[Mapping[str, torch.Tensor], str], Renamed]


_ARCHS: Mapping[str, _Arch] = MappingProxyType(
    {
        "resnet18": _Arch("resnet18", _same_names),
        "resnet50": _Arch("resnet50", _same_names),
        "mobilenet": _Arch("mobilenetv2_100", lambda state, source: rename_modules(state, mobilenetv2_maps(), source)),
    }
)
SIMREG_ARCHS: tuple[str, ...] = tuple(_ARCHS)


def _arch(arch: str, source: str) -> _Arch:
    spec = _ARCHS.get(arch)
    if spec is None:
        raise TorchCheckpointError(f"{source}: unknown SimReg student {arch!r}; supported: {', '.join(SIMREG_ARCHS)}")
    return spec


def student_state(
    state: Mapping[str, torch.Tensor], source: str
) -> tuple[str, dict[str, torch.Tensor], dict[str, int]]:
    """The student encoder's keys without their prefix: (prefix, state, ignored key counts by top-level name)."""
    prefix = next((p for p in STUDENT_PREFIXES if any(k.startswith(p) for k in state)), None)
    if prefix is None:
        raise TorchCheckpointError(
            f"{source}: no SimReg student encoder ('encoder_q.module.*' keys); the state dict's keys look like "
            f"{listing(list(state)[:5])}"
        )
    student = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    ignored = Counter(k.split(".", 1)[0] for k in state if not k.startswith("encoder_q."))
    return prefix, student, dict(sorted(ignored.items()))


def convert_simreg_state_dict(state: Mapping[str, torch.Tensor], arch: str, source: str) -> ConvertedTorchBackbone:
    """Convert an already-read SimReg ``state_dict``; ``source`` names it in errors."""
    spec = _arch(arch, source)
    prefix, student, ignored = student_state(state, source)
    tensors = check_against_timm(spec.rename(student, source), spec.timm_name, source, num_classes=0)
    details: dict[str, Any] = {"student_prefix": prefix}
    if ignored:
        details["ignored_keys"] = ignored
    return ConvertedTorchBackbone(arch=arch, timm_name=spec.timm_name, state_dict=tensors,
                                  data_config=RESIZE_256_BILINEAR, source=source, num_classes=0, details=details)


def convert_simreg(path: Path, arch: str) -> ConvertedTorchBackbone:
    """Read a SimReg ``.pth`` (restricted unpickling: ``argparse.Namespace`` allowed) and convert its student."""
    source = str(path)
    _arch(arch, source)
    obj = read_torch_checkpoint(path, SIMREG_GLOBALS)
    if isinstance(obj, Mapping):
        nested = next((obj[k] for k in NESTING_KEYS if isinstance(obj.get(k), Mapping)), None)
        if nested is not None:
            obj = nested
    return convert_simreg_state_dict(tensor_dict(obj, source, "the state dict"), arch, source)
