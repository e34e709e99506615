"""Test helpers: synthetic PaddleClas state dicts and an independent release/2.0 renamer (no paddle needed)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import numpy as np
import timm
import torch

from ssld_eval.converters import paddleclas
from ssld_eval.converters.keymap import PARAMS, Kind

# Entries of model.state_dict() for each PaddleClas 2.6.0 builder, as printed by paddle_reference.py (the
# note's §7 gives 277 and 270 for ResNet50_vd and MobileNetV3_large_x1_0).
PADDLE_KEY_COUNTS = {
    "ResNet34_vd": 197,
    "ResNet50_vd": 277,
    "ResNet101_vd": 532,
    "MobileNetV1": 137,
    "MobileNetV3_large_x1_0": 270,
    "MobileNetV3_small_x1_0": 214,
}
RESNET_DEPTHS = {"ResNet34_vd": (3, 4, 6, 3), "ResNet50_vd": (3, 4, 6, 3), "ResNet101_vd": (3, 4, 23, 3)}


def fake_paddle_state(arch: str) -> dict[str, np.ndarray]:
    """Random arrays under the current-generation Paddle names the converter expects, in Paddle's shapes.

    The names come from the converter's own maps, so this fixture checks error handling, not the names
    (the parity tests check those against real PaddleClas models). A new dict each call (shared arrays).
    """
    return dict(_fake_paddle_state(arch))


@functools.cache
def _fake_paddle_state(arch: str) -> dict[str, np.ndarray]:
    spec = paddleclas._ARCHS[arch]
    _, maps = spec.layout((), "fake")
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in timm.create_model(spec.timm_name).state_dict().items()}
    rng = np.random.default_rng(0)
    state = {}
    for m in maps:
        for paddle_param, timm_param in PARAMS[m.kind].items():
            shape = shapes[f"{m.timm}.{timm_param}"]
            if m.kind is Kind.LINEAR and paddle_param == "weight":
                shape = shape[::-1]
            low = 0.5 if paddle_param == "_variance" else -1.0
            state[f"{m.paddle}.{paddle_param}"] = rng.uniform(low, 1.0, shape).astype(np.float32)
    return state


def to_release_2_0(state: Mapping[str, np.ndarray], depths: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Rename current ResNet_vd keys to PaddleClas release/2.0's, as its ``resnet_vd.py`` names them.

    Written from that file, independently of the converter: ``ConvBNLayer`` has ``_conv`` / ``_batch_norm``;
    the stem is ``conv1_1..3``; block ``i`` of stage ``b`` is ``add_sublayer('bb_%d_%d' % (block, i))``; the
    classifier is ``self.out``.
    """
    starts = np.cumsum((0, *depths))
    layer = {"conv": "_conv", "bn": "_batch_norm"}
    out = {}
    for key, value in state.items():
        if m := re.fullmatch(r"stem\.(\d)\.(conv|bn)\.(\w+)", key):
            new = f"conv1_{int(m[1]) + 1}.{layer[m[2]]}.{m[3]}"
        elif m := re.fullmatch(r"blocks\.(\d+)\.(conv[012]|short)\.(conv|bn)\.(\w+)", key):
            k = int(m[1])
            stage = int(np.searchsorted(starts, k, side="right")) - 1
            new = f"bb_{stage}_{k - starts[stage]}.{m[2]}.{layer[m[3]]}.{m[4]}"
        elif m := re.fullmatch(r"fc\.(weight|bias)", key):
            new = f"out.{m[1]}"
        else:
            raise AssertionError(f"no release/2.0 name for {key!r}")
        out[new] = value
    return out
