"""One description of a backbone's inputs (timm's data-config shape), read strictly by every task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
from safetensors.torch import save_file

from ssld_core.sidecar import BackboneMeta, SidecarError
from ssld_eval.backbones import BackboneSpecError, load_backbone
from ssld_eval.backbones.inputs import parse_input_spec
from ssld_eval.mm.runner import normalisation

HALF = {"input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3}


def save_student(tmp_path: Path, sidecar: dict) -> Path:
    path = tmp_path / "student.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_resnet", num_classes=0).state_dict().items()},
              str(path))
    path.with_suffix(".json").write_text(json.dumps({"arch": "test_resnet", **sidecar}))
    return path


def test_a_students_half_normalisation_reaches_detection_and_segmentation(tmp_path):
    loaded = load_backbone(str(save_student(tmp_path, {"data_config": HALF})))
    assert normalisation(loaded) == ([127.5] * 3, [127.5] * 3)
    assert loaded.inputs.source == "sidecar" and loaded.inputs.side == 64


def test_without_a_sidecar_block_timm_decides(tmp_path):
    loaded = load_backbone(str(save_student(tmp_path, {})))
    config = timm.data.resolve_data_config({}, model=loaded.model)
    assert loaded.inputs.source == "timm" and loaded.inputs.mean == tuple(config["mean"])
    assert normalisation(loaded)[0] == [round(255 * m, 4) for m in config["mean"]]


def test_a_legacy_student_json_keeps_its_own_statistics(tmp_path):
    old = {"data": {"image_size": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear",
                    "crop_pct": 1.0, "manifest_sha256": "x"}}
    loaded = load_backbone(str(save_student(tmp_path, old)))
    assert normalisation(loaded) == ([127.5] * 3, [127.5] * 3)
    assert loaded.inputs.source == "sidecar (legacy data block)"


@pytest.mark.parametrize(("block", "message"), [
    ({**HALF, "mean_rgb": [0.5] * 3}, r"unknown field\(s\) \['mean_rgb'\]"),
    ({k: v for k, v in HALF.items() if k != "std"}, r"lacks \['std'\]"),
    ({**HALF, "std": [0.5, 0.5]}, "field 'std' must be a list of 3 numbers"),
    ({**HALF, "std": [0.5, 0.0, 0.5]}, "field 'std' must be positive"),
    ({**HALF, "crop_pct": 1.5}, r"field 'crop_pct' must be in \(0, 1\]"),
])
def test_a_bad_block_is_an_error_naming_the_file_and_field(tmp_path, block, message):
    path = save_student(tmp_path, {"data_config": block})
    with pytest.raises(BackboneSpecError, match=message) as info:
        load_backbone(str(path))
    assert str(path.with_suffix(".json")) in str(info.value)


def test_spec_round_trips_through_its_block():
    spec = parse_input_spec(HALF, "x.json")
    assert parse_input_spec(spec.to_block(), "y.json") == spec
    with pytest.raises(SidecarError, match=r"z.json: 'data_config' must be an object"):
        BackboneMeta.from_dict({"arch": "test_resnet", "kind": "student", "format": 2, "data_config": [1, 2]},
                               "z.json")
