"""timm models that compute exactly what PaddleClas's MobileNetV3_large_x1_0 and MobileNetV3_small_x1_0 compute.

Source: ``ppcls/arch/backbone/legendary_models/mobilenet_v3.py`` (PaddleClas develop and the 2.6.0 wheel).
timm's ``mobilenetv3_large_100`` / ``mobilenetv3_small_100`` differ from it in five ways, all fixed here:

1. Paddle's ``ResidualUnit`` always has ``expand_conv``, even at expansion 1, so the first block is an
   inverted residual (``ir_..._e1``) with a 1x1 16->16 conv, not timm's depthwise-separable ``ds`` block.
2. The SE width is ``channel // 4`` (``SEModule(reduction=4)``); timm rounds it to a multiple of 8.
3. The SE gate is ``hardsigmoid(slope=0.2, offset=0.5)``, i.e. clip(0.2 x + 0.5, 0, 1); timm's hard sigmoid
   has slope 1/6. The SE activation is ReLU in both.
4. ``last_conv`` (the 1x1 head conv) has ``bias_attr=False``; timm's default ``head_bias`` is True.
5. At inference ``Dropout(p=0.2, mode="downscale_in_infer")`` scales the 1280-d head features by 0.8 before
   ``fc``. No module does that here: the converter folds the 0.8 into ``classifier.weight``.

The head is 1280 wide for both sizes (``LAST_CONV``; timm's small uses 1024). Stages group Paddle's blocks
as timm does: large [0], [1-2], [3-5], [6-9], [10-11], [12-14]; small [0], [1-2], [3-5], [6-7], [8-10];
then the 1x1 ``last_second_conv`` (960 or 576 wide) as the last stage. Expansion ratios are Paddle's mid
widths over the input width, which timm's ``make_divisible`` turns back into the same widths (e.g.
24 x 3.67 -> 88). Registered when :mod:`ssld_eval.converters` is imported.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from timm.layers import get_act_layer
from timm.models import generate_default_cfgs, register_model
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.mobilenetv3 import MobileNetV3, MobileNetV3Features
from torch import nn

from ssld_eval.converters.paddle_timm import build_with_features, paddleclas_pretrained_cfg

DROPOUT_P = 0.2  # MobileNetV3(dropout_prob=0.2): what the converter folds into the classifier
HEAD_FEATURES = 1280  # LAST_CONV

# One string per Paddle NET_CONFIG row, in order: k, stride, expansion (exp / input width), out channels,
# SE, and "_nre" where the row's act is "relu" (the rest use hard-swish).
LARGE_ARCH_DEF = [
    ["ir_r1_k3_s1_e1_c16_nre"],
    ["ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"],
    ["ir_r3_k5_s2_e3_c40_se0.25_nre"],
    ["ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"],
    ["ir_r2_k3_s1_e6_c112_se0.25"],
    ["ir_r3_k5_s2_e6_c160_se0.25"],
    ["cn_r1_k1_s1_c960"],
]
SMALL_ARCH_DEF = [
    ["ir_r1_k3_s2_e1_c16_se0.25_nre"],
    ["ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"],
    ["ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"],
    ["ir_r2_k5_s1_e3_c48_se0.25"],
    ["ir_r3_k5_s2_e6_c96_se0.25"],
    ["cn_r1_k1_s1_c576"],
]


class PaddleHardSigmoid(nn.Module):
    """``paddle.nn.functional.hardsigmoid(x, slope=0.2, offset=0.5)``: clip(0.2 x + 0.5, 0, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x * 0.2 + 0.5, 0.0, 1.0)


def _create(variant: str, arch_def: list[list[str]], pretrained: bool, **kwargs: Any) -> nn.Module:
    model_kwargs: dict[str, Any] = {
        "block_args": decode_arch_def(arch_def),
        "num_features": HEAD_FEATURES,
        "stem_size": 16,
        "head_bias": False,
        "act_layer": get_act_layer("hard_swish"),
        # math.floor(c * 0.25) == c // 4 (SEModule's width), where timm's default would round to 8.
        "se_layer": partial(SqueezeExcite, gate_layer=PaddleHardSigmoid, force_act_layer=nn.ReLU,
                            rd_round_fn=math.floor),
        **kwargs,
    }
    return build_with_features(
        MobileNetV3,
        MobileNetV3Features,
        ("num_classes", "num_features", "head_conv", "head_bias", "head_norm", "global_pool"),
        variant,
        pretrained,
        **model_kwargs,
    )


default_cfgs = generate_default_cfgs(
    {
        "paddle_mobilenetv3_large_100": paddleclas_pretrained_cfg("conv_stem", "classifier"),
        "paddle_mobilenetv3_small_100": paddleclas_pretrained_cfg("conv_stem", "classifier"),
    }
)


@register_model
def paddle_mobilenetv3_large_100(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """PaddleClas ``MobileNetV3_large_x1_0``."""
    return _create("paddle_mobilenetv3_large_100", LARGE_ARCH_DEF, pretrained, **kwargs)


@register_model
def paddle_mobilenetv3_small_100(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """PaddleClas ``MobileNetV3_small_x1_0``."""
    return _create("paddle_mobilenetv3_small_100", SMALL_ARCH_DEF, pretrained, **kwargs)
