"""The sidecar beside a backbone's weights: one typed description, strict, and older files still read."""

from __future__ import annotations

import json

import pytest

from ssld_core.atomic import atomic_write
from ssld_core.sidecar import BackboneMeta, SidecarError, TeacherEntry

HALF = {"input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3}


def test_round_trip(tmp_path):
    meta = BackboneMeta.from_dict({"format": 2, "kind": "student", "arch": "resnet18", "data_config": HALF,
                                   "method": "ssld", "teachers": [{"arch": "resnet50", "weights_sha256": "ab"}],
                                   "final_metrics": {"top1": 71.5}, "provenance": {"steps": 3}}, "a.json")
    meta.write(tmp_path / "student.json")
    again = BackboneMeta.read(tmp_path / "student.json")
    assert again == meta and again.teachers == (TeacherEntry("resnet50", "ab"),) and again.teacher_archs == "resnet50"
    assert again.data_config.mean_std_255() == ([127.5] * 3, [127.5] * 3)


@pytest.mark.parametrize(("data", "message"), [
    ({"format": 2, "kind": "student", "arch": "r", "colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ({"format": 2, "kind": "student"}, "field 'arch' must be a non-empty string"),
    ({"format": 2, "kind": "teacher", "arch": "r", "num_classes": "10"}, "field 'num_classes'"),
    ({"format": 2, "kind": "robot", "arch": "r"}, "field 'kind' is 'robot'"),
    ({"format": 2, "kind": "student", "arch": "r", "teachers": [{"arch": "t", "size": 3}]}, r"teachers\[0\]"),
    ({"format": 2, "kind": "student", "arch": "r", "data_config": {**HALF, "crop_pct": 2}}, "crop_pct"),
    ({"format": 3, "kind": "student", "arch": "r"}, "field 'format' is 3"),
])
def test_a_bad_sidecar_names_the_file_and_the_field(tmp_path, data, message):
    path = tmp_path / "student.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SidecarError, match=message) as info:
        BackboneMeta.read(path)
    assert str(path) in str(info.value)


def test_format_1_student_json_is_read_with_its_legacy_blocks():
    old = {"format": 1, "arch": "mobilenetv3_small_050", "method": "kd", "num_classes": 10,
           "teacher": {"arch": "tf_efficientnet_lite2", "weights_sha256": "cd", "num_classes": 1000, "source": "x"},
           "data": {"image_size": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "manifest_sha256": "m"},
           "final_metrics": {"top1": 60.0}, "steps": 300, "git_sha": "abc"}
    meta = BackboneMeta.from_dict(old, "old/student.json")
    assert (meta.kind, meta.method, meta.num_classes) == ("student", "kd", 10)
    assert meta.teacher_archs == "tf_efficientnet_lite2"
    assert meta.data_config.side == 64 and meta.data_config.source == "sidecar (legacy data block)"
    assert meta.provenance["steps"] == 300 and meta.provenance["data"]["manifest_sha256"] == "m"
    assert BackboneMeta.from_dict({"arch": "resnet50"}, "user.json").kind == "checkpoint"


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old")

    def half_written(tmp):
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_written)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new" and oct(target.stat().st_mode & 0o777) == "0o644"
