"""Registered timm models for PaddleClas architectures timm lacks as-is, and what they share.

Each is a name that ``timm.create_model(name)`` alone rebuilds, ``features_only=True`` / ``out_indices``
included (detection and segmentation build backbones that way), with a ``pretrained_cfg`` carrying
PaddleClas's eval inputs and no weights to download: the weights come from converting a ``.pdparams``.
Registered when :mod:`ssld_eval.converters` is imported. MobileNetV3 is in
:mod:`ssld_eval.converters.paddle_mobilenetv3`.

- ``paddle_resnet34_vd``: PaddleClas's ``ResNet`` (``ppcls/arch/backbone/legendary_models/resnet.py``,
  ``use_first_short_conv=True``; release/2.0's ``ppcls/modeling/architectures/resnet_vd.py`` alike) builds
  the first block of every stage with ``shortcut=False``, so ``blocks.0`` has a 1x1 64->64 conv + BN
  shortcut although its input and output match. timm's ``resnet34d`` has no downsample there, so it cannot
  load those weights; otherwise it is the same network (deep 32-32-64 stem, average-pool shortcut = timm's
  ``avg_down``, stride on the first 3x3 conv). timm's BasicBlock applies ``downsample`` whenever it is set,
  and ``downsample_avg`` at stride 1 is ``Sequential(Identity, conv, bn)``, the layout of every other
  shortcut. ResNet50_vd / ResNet101_vd need no fix (their first block changes width, so timm has the
  shortcut too): they convert to plain ``resnet50d`` / ``resnet101d``.
- ``paddle_mobilenetv1_100``: PaddleClas's ``legendary_models/mobilenet_v1.py`` is timm's ``mobilenetv1_100``
  (the arch def of ``efficientnet.py::_gen_mobilenet_v1``: ``dsa`` blocks, noskip, activation after the
  pointwise conv, no head conv) with ReLU where timm has ReLU6.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._builder import pretrained_cfg_for_features
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet, EfficientNetFeatures
from timm.models.resnet import BasicBlock, ResNet, downsample_avg
from torch import nn

# PaddleClas's eval inputs, the same for every converted architecture: ``ppcls/configs/ImageNet/{ResNet/
# ResNet34_vd, ResNet/ResNet50_vd, ResNet/ResNet101_vd, MobileNetV1/MobileNetV1, MobileNetV3/MobileNetV3_
# large_x1_0, MobileNetV3/MobileNetV3_small_x1_0}.yaml`` all evaluate with ResizeImage(resize_short: 256),
# CropImage(size: 224), NormalizeImage(scale 1/255, ImageNet mean / std). ResizeImage leaves interpolation
# unset, which UnifiedResize turns into OpenCV's INTER_LINEAR (``ppcls/data/preprocess/ops/operators.py``):
# bilinear, crop_pct = 224 / 256. OpenCV's bilinear does not antialias when shrinking and PIL's does, so a
# PIL pipeline is close to PaddleClas's, not identical.
PADDLECLAS_EVAL_INPUT = MappingProxyType(
    {
        "input_size": (3, 224, 224),
        "interpolation": "bilinear",
        "crop_pct": 0.875,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
    }
)


def paddleclas_pretrained_cfg(first_conv: str, classifier: str) -> dict[str, Any]:
    """A timm ``pretrained_cfg``: PaddleClas's eval inputs, no weights, the rest as timm's own ``_cfg``."""
    cfg = {"url": "", "num_classes": 1000, "pool_size": (7, 7), "first_conv": first_conv, "classifier": classifier}
    return {**cfg, "license": "apache-2.0", **PADDLECLAS_EVAL_INPUT}


def build_with_features(
    model_cls: type[nn.Module],
    features_cls: type[nn.Module],
    head_kwargs: tuple[str, ...],
    variant: str,
    pretrained: bool,
    **kwargs: Any,
) -> nn.Module:
    """``build_model_with_cfg`` as timm's private ``_create_mnv3`` / ``_create_effnet`` call it.

    ``features_only=True`` alone builds the dedicated ``features_cls`` with the head arguments filtered out;
    with a ``feature_cfg`` or ``feature_cls`` it lets ``build_model_with_cfg`` wrap the full model.
    """
    features_mode = ""
    kwargs_filter = None
    if kwargs.pop("features_only", False):
        if "feature_cfg" in kwargs or "feature_cls" in kwargs:
            features_mode = "cfg"
        else:
            features_mode = "cls"
            model_cls = features_cls
            kwargs_filter = head_kwargs
    model = build_model_with_cfg(
        model_cls,
        variant,
        pretrained,
        features_only=features_mode == "cfg",
        pretrained_strict=features_mode != "cls",
        kwargs_filter=kwargs_filter,
        **kwargs,
    )
    if features_mode == "cls":
        model.pretrained_cfg = model.default_cfg = pretrained_cfg_for_features(model.pretrained_cfg)
    return model


class PaddleResNet34vd(ResNet):
    """timm ``ResNet`` whose ``layer1[0]`` gets PaddleClas's stride-1 1x1 conv + BN shortcut."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        first = self.layer1[0]
        width = first.conv1.in_channels
        first.downsample = downsample_avg(width, width, kernel_size=1, stride=1)


# Paddle's 13 MobileNetV1 blocks by stage: [0], [1-2], [3-4], [5-10], [11-12]; a stage's first has the stride.
MOBILENETV1_ARCH_DEF = [
    ["dsa_r1_k3_s1_c64"],
    ["dsa_r2_k3_s2_c128"],
    ["dsa_r2_k3_s2_c256"],
    ["dsa_r6_k3_s2_c512"],
    ["dsa_r2_k3_s2_c1024"],
]

default_cfgs = generate_default_cfgs(
    {
        "paddle_resnet34_vd": paddleclas_pretrained_cfg("conv1.0", "fc"),
        "paddle_mobilenetv1_100": paddleclas_pretrained_cfg("conv_stem", "classifier"),
    }
)


@register_model
def paddle_resnet34_vd(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """PaddleClas ``ResNet34_vd``."""
    model_args = dict(block=BasicBlock, layers=(3, 4, 6, 3), stem_width=32, stem_type="deep", avg_down=True)
    return build_model_with_cfg(PaddleResNet34vd, "paddle_resnet34_vd", pretrained, **{**model_args, **kwargs})


@register_model
def paddle_mobilenetv1_100(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """PaddleClas ``MobileNetV1``."""
    model_kwargs: dict[str, Any] = {
        "block_args": decode_arch_def(MOBILENETV1_ARCH_DEF),
        "num_features": 0,  # no head conv: the classifier reads the last block's 1024 channels
        "stem_size": 32,
        "act_layer": nn.ReLU,
        **kwargs,
    }
    return build_with_features(
        EfficientNet,
        EfficientNetFeatures,
        ("num_classes", "num_features", "head_conv", "global_pool"),
        "paddle_mobilenetv1_100",
        pretrained,
        **model_kwargs,
    )
