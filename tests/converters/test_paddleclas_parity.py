"""Numerical parity with PaddleClas itself: real ``.pdparams`` files and logits from Paddle, converted and rerun.

``paddle_reference.py`` runs under ``.venv-paddle`` in a subprocess (paddle never enters this process, which
imports torch): it builds each PaddleClas 2.6.0 model with random weights and calibrated-then-perturbed BN
statistics, ``paddle.save``s it and records eval logits for two inputs (224 and 97 pixels). Here each file
is read with the restricted unpickler, converted, loaded strictly into timm, and rerun.

Tolerance: max |timm - paddle| <= 2e-4 x max |paddle logit|. The float32 noise floor is what sets it: for
ResNet101_vd, timm in float32 differs from timm in float64 by 4.7e-5 of the logit scale, and Paddle from
float64 timm by 4.5e-5 (measured); any mapping error (a swapped BN statistic, the slope-1/6 gate, an
unfolded dropout) moves logits by whole percent. A reference whose logits ignore the input would make the
comparison vacuous, so each test also checks that the two images of a batch get different logits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from paddle_fakes import PADDLE_KEY_COUNTS, RESNET_DEPTHS, to_release_2_0

from ssld_eval.converters import (
    PADDLECLAS_ARCHS,
    ConvertedBackbone,
    convert_paddleclas,
    convert_paddleclas_state_dict,
    read_pdparams,
)

ROOT = Path(__file__).resolve().parents[2]
PADDLE_PYTHON = ROOT / ".venv-paddle" / "bin" / "python"
REFERENCE_SCRIPT = Path(__file__).with_name("paddle_reference.py")
RELATIVE_TOLERANCE = 2e-4
HEADS = {
    "fc": {"fc.weight", "fc.bias"},
    "classifier": {"classifier.weight", "classifier.bias"},
    "conv_head": {"conv_head.weight", "classifier.weight", "classifier.bias"},
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder ``paddle_reference.py`` filled for every supported architecture (about 30 s on one core)."""
    if not PADDLE_PYTHON.exists():
        pytest.fail(f"{PADDLE_PYTHON} is missing: run scripts/setup_paddle.sh (PaddlePaddle and PaddleClas in "
                    f"their own environment) before the converter parity tests")
    out = tmp_path_factory.mktemp("paddle_reference")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(
        [str(PADDLE_PYTHON), str(REFERENCE_SCRIPT), str(out), *PADDLECLAS_ARCHS],
        capture_output=True, text=True, timeout=900, env=env, check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"paddle_reference.py exited with {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return out


def _assert_logits_match(model: torch.nn.Module, reference: Path, arch: str) -> None:
    model.eval()
    for input_path in sorted(reference.glob("input.*.npy")):
        size = input_path.name.split(".")[1]
        expected = np.load(reference / f"{arch}.{size}.logits.npy")
        with torch.no_grad():
            actual = model(torch.from_numpy(np.load(input_path))).numpy()
        scale = float(np.abs(expected).max())
        diff = float(np.abs(actual - expected).max())
        print(f"{arch} @ {size}px: max |diff| {diff:.3g}, logit scale {scale:.3g}, relative {diff / scale:.3g}")
        assert np.abs(expected[0] - expected[1]).max() > 0.05 * scale, f"{arch}: reference logits ignore the input"
        assert diff <= RELATIVE_TOLERANCE * scale, f"{arch} @ {size}px: max |diff| {diff:.3g}, scale {scale:.3g}"
        top5 = (np.argsort(-expected, axis=1)[:, :5], np.argsort(-actual, axis=1)[:, :5])
        assert (top5[0] == top5[1]).all(), f"{arch} @ {size}px: top-5 order differs: {top5}"


@pytest.mark.parametrize("arch", PADDLECLAS_ARCHS)
def test_logits_match_paddleclas(reference: Path, arch: str) -> None:
    path = reference / f"{arch}.pdparams"
    assert len(read_pdparams(path)) == PADDLE_KEY_COUNTS[arch]  # the name table dropped, nothing else
    converted = convert_paddleclas(path, arch)
    assert converted.naming == "legendary"
    _assert_logits_match(converted.create_model(), reference, arch)


@pytest.mark.parametrize("arch", sorted(RESNET_DEPTHS))
def test_release_2_0_names_match_paddleclas(reference: Path, arch: str) -> None:
    """The release/2.0 map, on Paddle's real weights renamed as release/2.0's resnet_vd.py names them."""
    state = to_release_2_0(read_pdparams(reference / f"{arch}.pdparams"), RESNET_DEPTHS[arch])
    converted = convert_paddleclas_state_dict(state, arch, f"{arch} (release/2.0 names)")
    assert converted.naming == "release/2.0"
    _assert_logits_match(converted.create_model(), reference, arch)


def _head(converted: ConvertedBackbone) -> set[str]:
    if converted.timm_name.startswith("paddle_mobilenetv3"):
        return HEADS["conv_head"]
    return HEADS["classifier"] if "classifier.weight" in converted.state_dict else HEADS["fc"]


@pytest.mark.parametrize("arch", PADDLECLAS_ARCHS)
def test_features_only_backbone_takes_the_weights(reference: Path, arch: str) -> None:
    """``timm.create_model(name, features_only=True)`` (how detection and segmentation build backbones)."""
    converted = convert_paddleclas(reference / f"{arch}.pdparams", arch)
    classifier = converted.create_model().eval()
    features = timm.create_model(converted.timm_name, features_only=True).eval()
    assert set(converted.load_into(features)) == _head(converted)
    x = torch.from_numpy(np.load(reference / "input.97.npy"))
    with torch.no_grad():
        maps = features(x)
        final = classifier.forward_features(x)
    assert [m.shape[1] for m in maps] == features.feature_info.channels()
    torch.testing.assert_close(maps[-1], final, rtol=0, atol=1e-6)
    three = timm.create_model(converted.timm_name, features_only=True, out_indices=(1, 2, 3))
    assert set(converted.load_into(three)) >= _head(converted)
    assert three.feature_info.reduction() == [4, 8, 16]
    assert sys.modules.get("paddle") is None


@pytest.mark.parametrize("arch", ["MobileNetV3_small_x1_0", "ResNet34_vd"])
def test_a_pdparams_is_a_backbone_and_exports_to_one_that_needs_no_arch(reference: Path, arch: str, tmp_path):
    """``--backbone F.pdparams --arch paddleclas:NAME`` loads through the strict loader; ``export`` writes a
    safetensors whose sidecar names the timm model and PaddleClas's inputs, so it loads with no ``--arch``."""
    from ssld_eval import cli
    from ssld_eval.backbones import load_backbone

    source = reference / f"{arch}.pdparams"
    loaded = load_backbone(str(source), arch=f"paddleclas:{arch}")
    classifier = convert_paddleclas(source, arch).create_model().eval()
    x = torch.from_numpy(np.load(reference / "input.97.npy"))
    with torch.no_grad():
        expected = classifier.forward_head(classifier.forward_features(x), pre_logits=True)
        torch.testing.assert_close(loaded.model.eval()(x), expected, rtol=0, atol=1e-6)
    assert loaded.meta.kind == "converted" and loaded.inputs.source == "converter"
    assert (loaded.inputs.side, loaded.inputs.crop_pct, loaded.inputs.interpolation) == (224, 0.875, "bilinear")
    assert loaded.audit.matched == loaded.audit.expected and loaded.audit.dropped_head
    out = tmp_path / "converted.safetensors"
    assert cli.main(["export", str(source), "--arch", f"paddleclas:{arch}", "--out", str(out)]) == 0
    again = load_backbone(str(out))
    assert again.arch == loaded.arch and again.meta.provenance["source_arch"] == f"paddleclas:{arch}"
    assert again.inputs.to_block() == loaded.inputs.to_block()
    with torch.no_grad():
        torch.testing.assert_close(again.model.eval()(x), expected, rtol=0, atol=1e-6)


def test_a_wrong_paddleclas_name_lists_the_supported_ones(reference: Path):
    from ssld_eval.backbones import BackboneSpecError, load_backbone

    with pytest.raises(BackboneSpecError, match="supported: ResNet34_vd, ResNet50_vd"):
        load_backbone(str(reference / "ResNet50_vd.pdparams"), arch="paddleclas:ResNet50")
    with pytest.raises(BackboneSpecError, match="unknown source 'paddle'"):
        load_backbone(str(reference / "ResNet50_vd.pdparams"), arch="paddle:ResNet50_vd")


@pytest.mark.mm
def test_a_converted_mobilenetv3_runs_detection_segmentation_and_a_probe(reference: Path, builtin_tiny: Path,
                                                                          tmp_path, monkeypatch) -> None:
    """A PaddleClas MobileNetV3 (registered timm model with feature_info) is a backbone like any other: the
    smoke detection and segmentation recipes and the linear probe take it, with every weight loaded."""
    from ssld_eval.commands.transfer_cmd import transfer

    monkeypatch.setenv("SSLD_EVAL_DATA", str(builtin_tiny))
    smoke = {"profile": "smoke", "max_iters": "2", "batch_size": "2"}
    for task, dataset, overrides, primary in (("coco-det", "coco", smoke, "box_AP"),
                                              ("ade20k-seg", "ade20k", smoke, "mIoU"),
                                              ("linear-probe", "digits", {"image_size": "64", "num_l2": "5"}, "top1")):
        record = transfer(str(reference / "MobileNetV3_small_x1_0.pdparams"), task, dataset,
                          arch="paddleclas:MobileNetV3_small_x1_0", results=tmp_path / "r", cache_dir=tmp_path / "c",
                          overrides=overrides)
        assert record.status == "complete", record.reason
        assert primary in record.metrics and record.arch == "paddle_mobilenetv3_small_100"
        assert record.key_audit["matched"] == record.key_audit["expected"] > 0
