"""Convert a ScaleKD student checkpoint (mmpretrain / mmcls 1.x, distilled by ScaleKD) to a timm state dict.

Names (``--arch scalekd:NAME``) are the README's model-zoo column, lower-cased: ``resnet50`` (ResNet-50),
``vit_s16`` / ``vit_b16`` (ViT-S/16, ViT-B/16), ``swin_t`` (Swin-T), ``convnext_t`` (ConvNext-T),
``mixer_s16`` / ``mixer_b16`` (Mixer-S/16, Mixer-B/16). ``resnet50`` covers both training strategies: the
advanced one trains mmpretrain's ``ResNetV1d`` (deep stem, average-pool shortcuts: timm ``resnet50d``), the
traditional one ``ResNet`` (timm ``resnet50``); the stem's keys tell them apart. Not supported: the
BEiT-L-taught ViT-B/14 and Mixer-B/14 (patch 14, their input size unverified) and MobileNet-V1 (the fork's
own ``mobilenet_v1.py``, not in mmpretrain, so there is no reference to check a conversion against).

The file (design basis: shared/notes/released-checkpoints.md §5) is read with the restricted unpickler of
:mod:`ssld_eval.converters.torch_pickles` and may be either layout:

- the raw distiller checkpoint ScaleKD's training writes: ``state_dict`` with ``student.*`` (``backbone.*``,
  ``head.fc.*``) beside ``teacher.*``, ``distill_losses.*`` and a stray ``linear.*``; only ``student.*`` is
  read, the rest is counted in the provenance;
- after ScaleKD's ``pth_transfer.py`` (or any mmpretrain classifier checkpoint): ``state_dict`` with
  ``backbone.*`` and ``head.fc.*``; every key must then be consumed.

``state_dict`` is always the one converted, never ``ema_state_dict``: when EMAHook was on (ViT-S/B, Swin-T,
ConvNeXt-T, Mixer-S configs), mmengine's ``EMAHook.before_save_checkpoint`` swaps the averaged weights into
``state_dict`` before saving and leaves the raw training weights, ``module.``-prefixed, in ``ema_state_dict``
(``pth_transfer.py`` rewrites ``state_dict`` only). So ``state_dict`` holds what a deployment loads, and what
``tools/test.py`` evaluates on a transferred file with the baseline config. (The Mixer-S config sets
``evaluate_on_ema=False``: its validation during training ran on the raw weights. **UNVERIFIED** which ones
the README's 78.63 % is for.)

The classifier (``head.fc``) is converted when present; the backbone loader drops it by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from ssld_eval.converters import mmpretrain_maps as maps
from ssld_eval.converters import scalekd_timm as inputs
from ssld_eval.converters.mmpretrain_maps import MMLayout, prefixed
from ssld_eval.converters.torch_keymap import (
    LINEAR,
    ConvertedTorchBackbone,
    ModuleMap,
    check_against_timm,
    rename_modules,
)
from ssld_eval.converters.torch_pickles import (
    TorchCheckpointError,
    listing,
    mmengine_globals,
    read_torch_checkpoint,
    tensor_dict,
)

BACKBONE = "backbone."
HEAD = "head.fc"
DISTILLER_STUDENT = "student."

Layout = Callable[[Collection[str]], MMLayout]


def _resnet50(keys: Collection[str]) -> MMLayout:
    if f"{BACKBONE}conv1.weight" in keys and not any(k.startswith(f"{BACKBONE}stem.") for k in keys):
        return MMLayout("ResNet (traditional strategy)", "resnet50", maps.resnet50_v1b_maps())
    return MMLayout("ResNetV1d (advanced strategy)", "resnet50d", maps.resnet50_v1d_maps())


def _vit(timm_name: str) -> Layout:
    def layout(keys: Collection[str]) -> MMLayout:
        stored = f"{BACKBONE}cls_token" in keys
        module_maps, dropped = maps.vit_maps(12, with_stored_cls_token=stored)
        name = ("ScaleKD fork (unused cls_token and class-token row of pos_embed dropped)" if stored
                else "mmpretrain (no class token stored)")
        return MMLayout(name, timm_name, module_maps, dropped)
    return layout


def _swin_t(_keys: Collection[str]) -> MMLayout:
    module_maps, dropped = maps.swin_maps(maps.SWIN_T_DEPTHS)
    return MMLayout("SwinTransformer tiny", "swin_tiny_patch4_window7_224", module_maps, dropped)


def _fixed(name: str, timm_name: str, module_maps: Callable[[], list[ModuleMap]]) -> Layout:
    return lambda _keys: MMLayout(name, timm_name, module_maps())


@dataclass(frozen=True)
class _Arch:
    readme_name: str
    layout: Layout
    head: str  # timm's classifier module
    data_config: Mapping[str, Any]


_ARCHS: Mapping[str, _Arch] = MappingProxyType(
    {
        "resnet50": _Arch("ResNet-50", _resnet50, "fc", inputs.RESIZE_256_BICUBIC),
        "vit_s16": _Arch("ViT-S/16", _vit("scalekd_vit_small_patch16_224"), "head", inputs.RESIZE_256_BICUBIC),
        "vit_b16": _Arch("ViT-B/16", _vit("scalekd_vit_base_patch16_224"), "head", inputs.RESIZE_224_BICUBIC),
        "swin_t": _Arch("Swin-T", _swin_t, "head.fc", inputs.RESIZE_256_BICUBIC),
        "convnext_t": _Arch(
            "ConvNext-T",
            _fixed("ConvNeXt tiny", "scalekd_convnext_tiny", lambda: maps.convnext_maps(maps.CONVNEXT_T_DEPTHS)),
            "head.fc",
            inputs.RESIZE_256_BICUBIC,
        ),
        "mixer_s16": _Arch("Mixer-S/16", _fixed("MlpMixer s", "scalekd_mixer_s16_224", lambda: maps.mixer_maps(8)),
                           "head", inputs.RESIZE_256_BICUBIC),
        "mixer_b16": _Arch("Mixer-B/16", _fixed("MlpMixer b", "scalekd_mixer_b16_224", lambda: maps.mixer_maps(12)),
                           "head", inputs.RESIZE_256_BICUBIC),
    }
)
SCALEKD_ARCHS: tuple[str, ...] = tuple(_ARCHS)

# The traditional-strategy ResNet-50 is evaluated with mmcv's default resize (OpenCV bilinear).
_TRADITIONAL_RESNET_INPUTS = inputs.RESIZE_256_BILINEAR


def _arch(arch: str, source: str) -> _Arch:
    spec = _ARCHS.get(arch)
    if spec is None:
        raise TorchCheckpointError(
            f"{source}: unknown ScaleKD student {arch!r}; supported: "
            + ", ".join(f"{name} ({spec.readme_name})" for name, spec in _ARCHS.items())
        )
    return spec


def _first_part(key: str) -> str:
    return key.split(".", 1)[0]


def student_state(
    state: Mapping[str, torch.Tensor], source: str
) -> tuple[str, dict[str, torch.Tensor], dict[str, int]]:
    """The student's ``backbone.*`` / ``head.*`` keys: (layout, state, ignored key counts by top-level name)."""
    if any(k.startswith(DISTILLER_STUDENT) for k in state):
        student = {k[len(DISTILLER_STUDENT):]: v for k, v in state.items() if k.startswith(DISTILLER_STUDENT)}
        ignored = Counter(_first_part(k) for k in state if not k.startswith(DISTILLER_STUDENT))
        return "distiller", student, dict(sorted(ignored.items()))
    if any(k.startswith(BACKBONE) for k in state):
        return "transferred", dict(state), {}
    raise TorchCheckpointError(
        f"{source}: neither a ScaleKD distiller checkpoint ('student.*' keys) nor a student one after "
        f"pth_transfer.py ('backbone.*' keys); its state_dict keys look like {listing(list(state)[:5])}"
    )


def convert_scalekd_state_dict(
    state: Mapping[str, torch.Tensor], arch: str, source: str, extra: Mapping[str, Any] | None = None
) -> ConvertedTorchBackbone:
    """Convert an already-read ScaleKD ``state_dict`` (either layout); ``source`` names it in errors."""
    spec = _arch(arch, source)
    layout_kind, student, ignored = student_state(state, source)
    where = f"{source} (keys under {DISTILLER_STUDENT!r})" if layout_kind == "distiller" else source
    layout = spec.layout(student.keys())
    module_maps = prefixed(layout.maps, BACKBONE)
    dropped = {f"{BACKBONE}{k}" for k in layout.dropped}
    has_head = any(k.startswith(f"{HEAD}.") for k in student)
    if has_head:
        module_maps.append(ModuleMap(HEAD, spec.head, LINEAR))
    num_classes = int(student[f"{HEAD}.weight"].shape[0]) if f"{HEAD}.weight" in student else 0
    tensors = check_against_timm(rename_modules(student, module_maps, where, dropped), layout.timm_name, where,
                                 num_classes=num_classes)
    data_config = _TRADITIONAL_RESNET_INPUTS if layout.timm_name == "resnet50" else spec.data_config
    details = {"layout": layout_kind, "network": layout.name, "weights": "state_dict", **(extra or {})}
    if ignored:
        details["ignored_keys"] = ignored
    return ConvertedTorchBackbone(arch=arch, timm_name=layout.timm_name, state_dict=tensors,
                                  data_config=data_config, source=source, num_classes=num_classes,
                                  details=details)


def convert_scalekd(path: Path, arch: str) -> ConvertedTorchBackbone:
    """Read a ScaleKD ``.pth`` (restricted unpickling) and convert its student for ``arch``."""
    source = str(path)
    _arch(arch, source)  # before reading a file of hundreds of MB
    obj = read_torch_checkpoint(path, mmengine_globals)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state = tensor_dict(obj["state_dict"], source, "'state_dict'")
        extra = {}
        if "ema_state_dict" in obj:
            extra["ema_state_dict"] = "present, not used (state_dict holds the EMA weights)"
    else:
        state = tensor_dict(obj, source, "a checkpoint without 'state_dict'")
        extra = {}
    return convert_scalekd_state_dict(state, arch, source, extra)
