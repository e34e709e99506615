"""Key maps from mmpretrain (mmcls 1.x) backbones, as ScaleKD's students store them, to timm models.

Design basis: shared/notes/released-checkpoints.md §5, checked against ScaleKD's fork
(``mmcls/models/backbones/*.py``, ``configs/{deit,swin_transformer,convnext,mlp_mixer,resnet}/``) and
mmpretrain 1.2.0. Source names are the backbone's own (the ``backbone.`` prefix is added by the caller); each
function returns the :class:`~ssld_eval.converters.torch_keymap.ModuleMap` list and the source keys dropped.

- ResNetV1d-50 (advanced strategy) -> timm ``resnet50d``: ``stem.{0,1,2}.{conv,bn}`` -> ``conv1.{0,1,3,4,6}`` /
  ``bn1``; blocks keep their names except ``layer1.0.downsample.{0,1}`` -> ``downsample.{1,2}`` (mmpretrain's
  ``ResLayer`` adds the average pool only at stride != 1, timm keeps an ``Identity`` at index 0; layers 2-4
  are ``(pool, conv, bn)`` in both).
- ResNet-50 (traditional strategy, v1b) -> timm ``resnet50``: the names are timm's.
- ViT-S/16, ViT-B/16 (``with_cls_token=False`` + ``GlobalAveragePooling`` neck) -> timm ViT with
  ``class_token=False, global_pool='avg', fc_norm=False``: the fork still creates ``cls_token`` and a
  ``[1, 197, C]`` ``pos_embed`` and removes the class token before the blocks, so ``pos_embed[:, 1:]`` is
  what the patches get and ``cls_token`` is dropped; mmpretrain 1.2.0 stores neither (``[1, 196, C]``).
  ``layers.i.ln1/ln2`` -> ``blocks.i.norm1/norm2``, ``attn.{qkv,proj}`` keep their names (same qkv order),
  ``ffn.layers.0.0`` / ``ffn.layers.1`` -> ``mlp.fc1`` / ``mlp.fc2``, final ``ln1`` -> ``norm`` (applied to all
  tokens before the pooling in both).
- Swin-T -> timm ``swin_tiny_patch4_window7_224``: ``stages.i.blocks.j.attn.w_msa.*`` -> ``layers.i.blocks.j.
  attn.*`` (``relative_position_index`` is persistent in mm and recomputed by timm: dropped); mm downsamples
  at the end of stage i, timm at the start of stage i+1: ``stages.i.downsample`` -> ``layers.{i+1}.
  downsample``, with the 4C channels reordered (:func:`unfold_to_timm_order`); ``norm3`` -> ``norm`` (the fork
  builds only ``norm3``; ``norm0-2`` are ``Identity``).
- ConvNeXt-T (``gap_before_final_norm=False``: the final norm runs on the feature map, then the pooling) ->
  timm ConvNeXt with ``head_norm_first=True``: ``norm3`` -> ``norm_pre``; ``downsample_layers.0`` -> ``stem``,
  ``downsample_layers.i`` -> ``stages.i.downsample``; ``stages.i.j.{depthwise_conv,norm,pointwise_conv1,
  pointwise_conv2,gamma}`` -> ``stages.i.blocks.j.{conv_dw,norm,mlp.fc1,mlp.fc2,gamma}``.
- Mixer-S/16, Mixer-B/16 -> timm Mixer with LayerNorm eps 1e-5 (mm's ``dict(type='LN')``; timm's default is
  1e-6): ``patch_embed.projection`` -> ``stem.proj``, ``layers.i.{ln1,ln2}`` -> ``blocks.i.{norm1,norm2}``,
  ``token_mix`` / ``channel_mix`` ``.layers.0.0`` / ``.layers.1`` -> ``mlp_tokens`` / ``mlp_channels``
  ``.fc1`` / ``.fc2``, final ``ln1`` -> ``norm``.

The heads (``LinearClsHead``, ``MultiLabelLinearClsHead``: ``head.fc``) map to timm's classifier.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

import torch

from ssld_eval.converters.torch_keymap import BN, CONV, CONV_BIAS, LINEAR, LINEAR_NO_BIAS, NORM, ModuleMap


@dataclass(frozen=True)
class MMLayout:
    """A backbone's maps, the source keys dropped, and a name for the layout (recorded in provenance)."""

    name: str
    timm_name: str
    maps: list[ModuleMap]
    dropped: frozenset[str] = frozenset()


def prefixed(maps: list[ModuleMap], prefix: str) -> list[ModuleMap]:
    """``maps`` with ``prefix`` (e.g. ``backbone.``) in front of every source module name."""
    return [replace(m, source=f"{prefix}{m.source}" if m.source else prefix.rstrip(".")) for m in maps]


def _bottlenecks(depths: tuple[int, ...]) -> list[ModuleMap]:
    """The blocks of a bottleneck ResNet; names are the same in mm and timm (downsample indices aside)."""
    maps: list[ModuleMap] = []
    for s, depth in enumerate(depths, start=1):
        for j in range(depth):
            block = f"layer{s}.{j}"
            for n in (1, 2, 3):
                maps += [ModuleMap(f"{block}.conv{n}", f"{block}.conv{n}", CONV),
                         ModuleMap(f"{block}.bn{n}", f"{block}.bn{n}", BN)]
    return maps


RESNET50_DEPTHS = (3, 4, 6, 3)


def resnet50_v1d_maps() -> list[ModuleMap]:
    maps: list[ModuleMap] = []
    for n, (conv, bn) in enumerate((("conv1.0", "conv1.1"), ("conv1.3", "conv1.4"), ("conv1.6", "bn1"))):
        maps += [ModuleMap(f"stem.{n}.conv", conv, CONV), ModuleMap(f"stem.{n}.bn", bn, BN)]
    maps += _bottlenecks(RESNET50_DEPTHS)
    # layer1: (conv, bn) at stride 1 in mm, (Identity, conv, bn) in timm; layers 2-4: (pool, conv, bn) in both
    maps += [ModuleMap("layer1.0.downsample.0", "layer1.0.downsample.1", CONV),
             ModuleMap("layer1.0.downsample.1", "layer1.0.downsample.2", BN)]
    for s in (2, 3, 4):
        maps += [ModuleMap(f"layer{s}.0.downsample.1", f"layer{s}.0.downsample.1", CONV),
                 ModuleMap(f"layer{s}.0.downsample.2", f"layer{s}.0.downsample.2", BN)]
    return maps


def resnet50_v1b_maps() -> list[ModuleMap]:
    maps = [ModuleMap("conv1", "conv1", CONV), ModuleMap("bn1", "bn1", BN), *_bottlenecks(RESNET50_DEPTHS)]
    for s in (1, 2, 3, 4):
        maps += [ModuleMap(f"layer{s}.0.downsample.0", f"layer{s}.0.downsample.0", CONV),
                 ModuleMap(f"layer{s}.0.downsample.1", f"layer{s}.0.downsample.1", BN)]
    return maps


def _drop_class_position(pos_embed: torch.Tensor) -> torch.Tensor:
    """The fork's ``[1, 1 + N, C]`` pos_embed without the class token's row (the patches get rows 1..N)."""
    return pos_embed[:, 1:]


def vit_maps(depth: int, with_stored_cls_token: bool) -> tuple[list[ModuleMap], frozenset[str]]:
    """mm ``VisionTransformer`` (``with_cls_token=False``) -> timm ViT without class token."""
    transforms = MappingProxyType({"pos_embed": _drop_class_position} if with_stored_cls_token else {})
    maps = [ModuleMap("", "", ("pos_embed",), transforms),
            ModuleMap("patch_embed.projection", "patch_embed.proj", CONV_BIAS)]
    for i in range(depth):
        mm, tm = f"layers.{i}", f"blocks.{i}"
        maps += [
            ModuleMap(f"{mm}.ln1", f"{tm}.norm1", NORM),
            ModuleMap(f"{mm}.attn.qkv", f"{tm}.attn.qkv", LINEAR),
            ModuleMap(f"{mm}.attn.proj", f"{tm}.attn.proj", LINEAR),
            ModuleMap(f"{mm}.ln2", f"{tm}.norm2", NORM),
            ModuleMap(f"{mm}.ffn.layers.0.0", f"{tm}.mlp.fc1", LINEAR),
            ModuleMap(f"{mm}.ffn.layers.1", f"{tm}.mlp.fc2", LINEAR),
        ]
    maps.append(ModuleMap("ln1", "norm", NORM))
    return maps, frozenset({"cls_token"} if with_stored_cls_token else ())


def unfold_to_timm_order(t: torch.Tensor) -> torch.Tensor:
    """Reorder the last (4C) dim of a patch-merging tensor from mm's ``nn.Unfold`` order to timm's.

    mm (``PatchMerging`` with ``nn.Unfold(2, stride=2)``): channel index ``c * 4 + kh * 2 + kw``. timm
    (``reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5)``): ``(kw * 2 + kh) * C + c``, i.e. blocks
    (h0w0, h1w0, h0w1, h1w1). The inverse of mmseg ``swin2mmseg.py::correct_unfold_*``.
    """
    *lead, n = t.shape
    if n % 4:
        raise ValueError(f"a patch-merging dimension must be a multiple of 4, got {tuple(t.shape)}")
    k = len(lead)
    return t.reshape(*lead, n // 4, 2, 2).permute(*range(k), k + 2, k + 1, k).reshape(*lead, n)


SWIN_T_DEPTHS = (2, 2, 6, 2)
_UNFOLD = MappingProxyType({"weight": unfold_to_timm_order, "bias": unfold_to_timm_order})


def swin_maps(depths: tuple[int, ...]) -> tuple[list[ModuleMap], frozenset[str]]:
    maps = [ModuleMap("patch_embed.projection", "patch_embed.proj", CONV_BIAS),
            ModuleMap("patch_embed.norm", "patch_embed.norm", NORM)]
    dropped: set[str] = set()
    for i, depth in enumerate(depths):
        for j in range(depth):
            mm, tm = f"stages.{i}.blocks.{j}", f"layers.{i}.blocks.{j}"
            maps += [
                ModuleMap(f"{mm}.norm1", f"{tm}.norm1", NORM),
                ModuleMap(f"{mm}.attn.w_msa", f"{tm}.attn", ("relative_position_bias_table",)),
                ModuleMap(f"{mm}.attn.w_msa.qkv", f"{tm}.attn.qkv", LINEAR),
                ModuleMap(f"{mm}.attn.w_msa.proj", f"{tm}.attn.proj", LINEAR),
                ModuleMap(f"{mm}.norm2", f"{tm}.norm2", NORM),
                ModuleMap(f"{mm}.ffn.layers.0.0", f"{tm}.mlp.fc1", LINEAR),
                ModuleMap(f"{mm}.ffn.layers.1", f"{tm}.mlp.fc2", LINEAR),
            ]
            dropped.add(f"{mm}.attn.w_msa.relative_position_index")
        if i + 1 < len(depths):
            maps += [
                ModuleMap(f"stages.{i}.downsample.norm", f"layers.{i + 1}.downsample.norm", NORM, _UNFOLD),
                ModuleMap(f"stages.{i}.downsample.reduction", f"layers.{i + 1}.downsample.reduction",
                          LINEAR_NO_BIAS, _UNFOLD),
            ]
    maps.append(ModuleMap(f"norm{len(depths) - 1}", "norm", NORM))
    return maps, frozenset(dropped)


CONVNEXT_T_DEPTHS = (3, 3, 9, 3)


def convnext_maps(depths: tuple[int, ...]) -> list[ModuleMap]:
    maps = [ModuleMap("downsample_layers.0.0", "stem.0", CONV_BIAS), ModuleMap("downsample_layers.0.1", "stem.1", NORM)]
    for i, depth in enumerate(depths):
        if i:
            maps += [ModuleMap(f"downsample_layers.{i}.0", f"stages.{i}.downsample.0", NORM),
                     ModuleMap(f"downsample_layers.{i}.1", f"stages.{i}.downsample.1", CONV_BIAS)]
        for j in range(depth):
            mm, tm = f"stages.{i}.{j}", f"stages.{i}.blocks.{j}"
            maps += [
                ModuleMap(mm, tm, ("gamma",)),
                ModuleMap(f"{mm}.depthwise_conv", f"{tm}.conv_dw", CONV_BIAS),
                ModuleMap(f"{mm}.norm", f"{tm}.norm", NORM),
                ModuleMap(f"{mm}.pointwise_conv1", f"{tm}.mlp.fc1", LINEAR),
                ModuleMap(f"{mm}.pointwise_conv2", f"{tm}.mlp.fc2", LINEAR),
            ]
    maps.append(ModuleMap(f"norm{len(depths) - 1}", "norm_pre", NORM))
    return maps


def mixer_maps(depth: int) -> list[ModuleMap]:
    maps = [ModuleMap("patch_embed.projection", "stem.proj", CONV_BIAS)]
    for i in range(depth):
        mm, tm = f"layers.{i}", f"blocks.{i}"
        maps += [
            ModuleMap(f"{mm}.ln1", f"{tm}.norm1", NORM),
            ModuleMap(f"{mm}.token_mix.layers.0.0", f"{tm}.mlp_tokens.fc1", LINEAR),
            ModuleMap(f"{mm}.token_mix.layers.1", f"{tm}.mlp_tokens.fc2", LINEAR),
            ModuleMap(f"{mm}.ln2", f"{tm}.norm2", NORM),
            ModuleMap(f"{mm}.channel_mix.layers.0.0", f"{tm}.mlp_channels.fc1", LINEAR),
            ModuleMap(f"{mm}.channel_mix.layers.1", f"{tm}.mlp_channels.fc2", LINEAR),
        ]
    maps.append(ModuleMap("ln1", "norm", NORM))
    return maps
