"""Registered timm models for ScaleKD's students where timm's defaults compute something else, and their inputs.

Each is a name that ``timm.create_model(name)`` alone rebuilds, ``features_only=True`` included (built the
way timm builds the base model: ``build_model_with_cfg`` with the same ``feature_cfg``), so that a sidecar's
``arch`` alone rebuilds a converted or exported backbone. Registered when :mod:`ssld_eval.converters` is
imported. Swin-T and the ResNet-50s need no registration: timm's ``swin_tiny_patch4_window7_224``,
``resnet50d`` and ``resnet50`` are ScaleKD's networks.

- ``scalekd_vit_{small,base}_patch16_224``: ScaleKD's DeiT configs (``configs/deit/deit-{small,base}_pt-
  4xb256_in1k.py``) set ``with_cls_token=False`` and a ``GlobalAveragePooling`` neck: no class token in the
  blocks, the final LayerNorm on every token, then the mean. timm: ``class_token=False, global_pool='avg',
  fc_norm=False`` (timm's default for ``avg`` would move the norm after the pooling).
- ``scalekd_convnext_tiny``: ``gap_before_final_norm=False`` normalises the feature map, then pools; timm's
  default pools, then normalises in the head. timm: ``head_norm_first=True`` (the norm is ``norm_pre``).
- ``scalekd_mixer_{s16,b16}_224``: mmpretrain's Mixer uses LayerNorm eps 1e-5, timm's 1e-6.

Inputs (``SCALEKD_EVAL_INPUTS``, the students' test pipelines in ScaleKD's ``configs/_base_/datasets``):
``ResizeEdge(scale=256, edge='short', backend='pillow', interpolation='bicubic')`` + ``CenterCrop(224)`` for
``imagenet_bs64_swin_224`` (ViT-S, Swin-T, ConvNeXt-T), ``imagenet_bs256_resnet_224`` (ResNetV1d-50) and
``imagenet_bs128_mlp_224`` (the Mixers); ``scale=224`` (crop_pct 1.0) for ``imagenet_bs32_swin_224``
(ViT-B); ``imagenet_bs32`` (the traditional-strategy ResNet-50) resizes with mmcv's default, OpenCV bilinear
(which does not antialias when shrinking, unlike PIL: close, not identical). Mean / std are mmpretrain's
``[123.675, 116.28, 103.53]`` / ``[58.395, 57.12, 57.375]``, i.e. timm's ImageNet defaults on the 0-1 scale.
"""

from __future__ import annotations

from functools import partial
from types import MappingProxyType
from typing import Any

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.convnext import ConvNeXt
from timm.models.convnext import checkpoint_filter_fn as convnext_filter
from timm.models.mlp_mixer import MlpMixer
from timm.models.mlp_mixer import checkpoint_filter_fn as mixer_filter
from timm.models.vision_transformer import VisionTransformer
from timm.models.vision_transformer import checkpoint_filter_fn as vit_filter
from torch import nn


def _inputs(interpolation: str, crop_pct: float) -> MappingProxyType:
    return MappingProxyType({
        "input_size": (3, 224, 224),
        "interpolation": interpolation,
        "crop_pct": crop_pct,
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
    })


RESIZE_256_BICUBIC = _inputs("bicubic", 0.875)
RESIZE_224_BICUBIC = _inputs("bicubic", 1.0)
RESIZE_256_BILINEAR = _inputs("bilinear", 0.875)


def _cfg(inputs: MappingProxyType, first_conv: str, classifier: str, **extra: Any) -> dict[str, Any]:
    """A timm ``pretrained_cfg``: ScaleKD's eval inputs, no weights (they come from converting a checkpoint)."""
    return {"url": "", "num_classes": 1000, "first_conv": first_conv, "classifier": classifier,
            "license": "apache-2.0", **inputs, **extra}


default_cfgs = generate_default_cfgs(
    {
        "scalekd_vit_small_patch16_224": _cfg(RESIZE_256_BICUBIC, "patch_embed.proj", "head"),
        "scalekd_vit_base_patch16_224": _cfg(RESIZE_224_BICUBIC, "patch_embed.proj", "head"),
        "scalekd_convnext_tiny": _cfg(RESIZE_256_BICUBIC, "stem.0", "head.fc", pool_size=(7, 7)),
        "scalekd_mixer_s16_224": _cfg(RESIZE_256_BICUBIC, "stem.proj", "head", fixed_input_size=True),
        "scalekd_mixer_b16_224": _cfg(RESIZE_256_BICUBIC, "stem.proj", "head", fixed_input_size=True),
    }
)

_VIT_GAP = {"class_token": False, "global_pool": "avg", "fc_norm": False}


def _vit(variant: str, pretrained: bool, model_args: dict[str, Any], kwargs: dict[str, Any]) -> VisionTransformer:
    kwargs = {**model_args, **_VIT_GAP, **kwargs}
    out_indices = kwargs.pop("out_indices", 3)
    return build_model_with_cfg(VisionTransformer, variant, pretrained, pretrained_filter_fn=vit_filter,
                                feature_cfg={"out_indices": out_indices, "feature_cls": "getter"}, **kwargs)


def _mixer(variant: str, pretrained: bool, model_args: dict[str, Any], kwargs: dict[str, Any]) -> MlpMixer:
    kwargs = {**model_args, "norm_layer": partial(nn.LayerNorm, eps=1e-5), **kwargs}
    out_indices = kwargs.pop("out_indices", 3)
    return build_model_with_cfg(MlpMixer, variant, pretrained, pretrained_filter_fn=mixer_filter,
                                feature_cfg={"out_indices": out_indices, "feature_cls": "getter"}, **kwargs)


@register_model
def scalekd_vit_small_patch16_224(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ScaleKD's ViT-S/16 (DeiT-S without class token, GAP after the final norm)."""
    return _vit("scalekd_vit_small_patch16_224", pretrained,
                {"patch_size": 16, "embed_dim": 384, "depth": 12, "num_heads": 6}, kwargs)


@register_model
def scalekd_vit_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ScaleKD's ViT-B/16 (DeiT-B without class token, GAP after the final norm)."""
    return _vit("scalekd_vit_base_patch16_224", pretrained,
                {"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12}, kwargs)


@register_model
def scalekd_convnext_tiny(pretrained: bool = False, **kwargs: Any) -> ConvNeXt:
    """ScaleKD's ConvNeXt-T (final norm on the feature map, before the pooling)."""
    kwargs = {"depths": (3, 3, 9, 3), "dims": (96, 192, 384, 768), "head_norm_first": True, **kwargs}
    return build_model_with_cfg(ConvNeXt, "scalekd_convnext_tiny", pretrained, pretrained_filter_fn=convnext_filter,
                                feature_cfg={"out_indices": (0, 1, 2, 3), "flatten_sequential": True}, **kwargs)


@register_model
def scalekd_mixer_s16_224(pretrained: bool = False, **kwargs: Any) -> MlpMixer:
    """ScaleKD's Mixer-S/16 (mmpretrain's LayerNorm eps 1e-5)."""
    return _mixer("scalekd_mixer_s16_224", pretrained, {"patch_size": 16, "num_blocks": 8, "embed_dim": 512}, kwargs)


@register_model
def scalekd_mixer_b16_224(pretrained: bool = False, **kwargs: Any) -> MlpMixer:
    """ScaleKD's Mixer-B/16 (mmpretrain's LayerNorm eps 1e-5)."""
    return _mixer("scalekd_mixer_b16_224", pretrained, {"patch_size": 16, "num_blocks": 12, "embed_dim": 768}, kwargs)
