"""PaddleClas -> timm key conversion on synthetic state dicts (no paddle): strictness and the fixed transforms."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from paddle_fakes import PADDLE_KEY_COUNTS, RESNET_DEPTHS, fake_paddle_state, to_release_2_0

from ssld_eval.converters import (
    PADDLECLAS_ARCHS,
    PaddleCheckpointError,
    convert_paddleclas,
    convert_paddleclas_state_dict,
)
from ssld_eval.converters.paddle_timm import PADDLECLAS_EVAL_INPUT

REGISTERED = ("paddle_resnet34_vd", "paddle_mobilenetv1_100", "paddle_mobilenetv3_large_100",
              "paddle_mobilenetv3_small_100")


@pytest.mark.parametrize("arch", PADDLECLAS_ARCHS)
def test_expected_paddle_keys_match_paddleclas_counts(arch: str) -> None:
    """As many Paddle keys as PaddleClas 2.6.0's model has (a check of the maps that does not need paddle)."""
    assert len(fake_paddle_state(arch)) == PADDLE_KEY_COUNTS[arch]


@pytest.mark.parametrize("arch", PADDLECLAS_ARCHS)
def test_converts_every_key_and_fills_every_timm_key(arch: str) -> None:
    state = fake_paddle_state(arch)
    converted = convert_paddleclas_state_dict(state, arch, "fake.pdparams")
    model = timm.create_model(converted.timm_name)
    assert set(converted.state_dict) == set(model.state_dict())
    model.load_state_dict(converted.state_dict, strict=True)
    assert converted.naming == "legendary"
    assert converted.timm_kwargs == {}
    assert dict(converted.data_config) == dict(PADDLECLAS_EVAL_INPUT)
    tracked = [k for k in converted.state_dict if k.endswith("num_batches_tracked")]
    assert tracked and all(converted.state_dict[k].item() == 0 for k in tracked)


def test_fixed_transforms() -> None:
    """BN statistics renamed, Linear transposed, MobileNetV3's inference dropout folded (x0.8, bias unchanged)."""
    state = fake_paddle_state("MobileNetV3_large_x1_0")
    sd = convert_paddleclas_state_dict(state, "MobileNetV3_large_x1_0", "fake").state_dict
    np.testing.assert_array_equal(sd["bn1.running_mean"].numpy(), state["conv.bn._mean"])
    np.testing.assert_array_equal(sd["bn1.running_var"].numpy(), state["conv.bn._variance"])
    np.testing.assert_array_equal(sd["blocks.2.0.se.conv_reduce.bias"].numpy(), state["blocks.3.mid_se.conv1.bias"])
    np.testing.assert_allclose(sd["classifier.weight"].numpy(), state["fc.weight"].T * 0.8, rtol=1e-7)
    np.testing.assert_array_equal(sd["classifier.bias"].numpy(), state["fc.bias"])
    resnet = fake_paddle_state("ResNet50_vd")
    sd = convert_paddleclas_state_dict(resnet, "ResNet50_vd", "fake").state_dict
    np.testing.assert_array_equal(sd["fc.weight"].numpy(), resnet["fc.weight"].T)
    np.testing.assert_array_equal(sd["layer2.0.downsample.1.weight"].numpy(), resnet["blocks.3.short.conv.weight"])


def test_leftover_key_is_named() -> None:
    state = fake_paddle_state("MobileNetV1")
    state["blocks.0.extra.weight"] = np.ones(3, np.float32)
    with pytest.raises(PaddleCheckpointError, match=r"x\.pdparams: 1 key\(s\) this converter does not consume: "
                       r"'blocks\.0\.extra\.weight'"):
        convert_paddleclas_state_dict(state, "MobileNetV1", "x.pdparams")


def test_missing_key_is_named() -> None:
    state = fake_paddle_state("ResNet34_vd")
    del state["blocks.0.short.bn._variance"]
    with pytest.raises(PaddleCheckpointError, match=r"x\.pdparams: 1 expected key\(s\) missing: "
                       r"'blocks\.0\.short\.bn\._variance'"):
        convert_paddleclas_state_dict(state, "ResNet34_vd", "x.pdparams")


def test_wrong_shape_names_both_keys() -> None:
    state = fake_paddle_state("MobileNetV3_small_x1_0")
    state["blocks.0.mid_se.conv1.weight"] = np.ones((8, 16, 1, 1), np.float32)  # timm's rounding, not // 4
    with pytest.raises(PaddleCheckpointError, match=r"x\.pdparams: 1 key\(s\) have a shape .*"
                       r"'blocks\.0\.mid_se\.conv1\.weight' -> 'blocks\.0\.0\.se\.conv_reduce\.weight': "
                       r"\(8, 16, 1, 1\) vs \(4, 16, 1, 1\)"):
        convert_paddleclas_state_dict(state, "MobileNetV3_small_x1_0", "x.pdparams")


def test_weights_of_another_arch_are_refused() -> None:
    with pytest.raises(PaddleCheckpointError, match=r"r50\.pdparams: .*expected key\(s\) missing: 'blocks\.16\."):
        convert_paddleclas_state_dict(fake_paddle_state("ResNet50_vd"), "ResNet101_vd", "r50.pdparams")


def test_unknown_arch_lists_the_supported_ones(tmp_path: Path) -> None:
    supported = ", ".join(PADDLECLAS_ARCHS)
    message = rf"x: unknown PaddleClas architecture 'ResNet50'; supported: {supported}$"
    with pytest.raises(PaddleCheckpointError, match=message):
        convert_paddleclas_state_dict({}, "ResNet50", "x")
    with pytest.raises(PaddleCheckpointError, match=r"absent\.pdparams: unknown PaddleClas architecture"):
        convert_paddleclas(tmp_path / "absent.pdparams", "resnet50d")  # the name is checked before reading


@pytest.mark.parametrize("arch", sorted(RESNET_DEPTHS))
def test_release_2_0_names_convert_identically(arch: str) -> None:
    state = fake_paddle_state(arch)
    old = to_release_2_0(state, RESNET_DEPTHS[arch])
    assert {"conv1_1._conv.weight", "conv1_3._batch_norm._variance", "bb_0_0.short._conv.weight",
            "bb_3_2.conv1._batch_norm.weight", "out.weight", "out.bias"} <= set(old)
    current = convert_paddleclas_state_dict(state, arch, "new")
    release = convert_paddleclas_state_dict(old, arch, "old")
    assert release.naming == "release/2.0"
    assert list(release.state_dict) == list(current.state_dict)
    for key, value in current.state_dict.items():
        assert torch.equal(release.state_dict[key], value), key


def test_mixed_naming_generations_are_refused() -> None:
    state = fake_paddle_state("ResNet50_vd")
    mixed = {**to_release_2_0({k: v for k, v in state.items() if k.startswith("stem.")}, (3, 4, 6, 3)),
             **{k: v for k, v in state.items() if not k.startswith("stem.")}}
    with pytest.raises(PaddleCheckpointError, match=r"mix\.pdparams: keys of both PaddleClas naming generations"):
        convert_paddleclas_state_dict(mixed, "ResNet50_vd", "mix.pdparams")


def test_convert_from_file(tmp_path: Path) -> None:
    state = fake_paddle_state("MobileNetV1")
    path = tmp_path / "MobileNetV1_ssld_pretrained.pdparams"
    path.write_bytes(pickle.dumps({**state, "StructuredToParameterName@@": {k: k for k in state}}, protocol=2))
    converted = convert_paddleclas(path, "MobileNetV1")
    assert converted.source == str(path)
    assert converted.timm_name == "paddle_mobilenetv1_100"
    converted.create_model()


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_models_carry_paddleclas_inputs(name: str) -> None:
    assert name in timm.list_models("paddle_*")
    cfg = timm.create_model(name).pretrained_cfg
    for field, value in PADDLECLAS_EVAL_INPUT.items():
        assert tuple(cfg[field]) == value if isinstance(value, tuple) else cfg[field] == value


def test_load_into_names_what_it_cannot_fill() -> None:
    converted = convert_paddleclas_state_dict(fake_paddle_state("MobileNetV1"), "MobileNetV1", "x.pdparams")
    wrong = timm.create_model("paddle_mobilenetv3_small_100", features_only=True)
    with pytest.raises(PaddleCheckpointError, match=r"x\.pdparams: converted MobileNetV1 weights do not fill"):
        converted.load_into(wrong)
