"""Weights: strict loading names the keys; malicious pickles are refused; classifiers reset only on request."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import timm
import torch
from distill_helpers import tiny_recipe
from safetensors.torch import save_file

from distill.models import CheckpointError, build_student, load_strict, read_weights, resolve_teacher
from distill.recipe import StudentConfig, TeacherConfig, recipe_from_dict


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned: this pickle ran code",))


def test_malicious_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": {"w": _Evil()}}, handle, protocol=2)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused or unreadable as a weights-only checkpoint"):
        read_weights(path)
    assert "pwned" not in capsys.readouterr().out


def test_nested_pickle_is_read(tmp_path: Path) -> None:
    state = timm.create_model("test_efficientnet", num_classes=3).state_dict()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pth")
    assert read_weights(tmp_path / "ckpt.pth").keys() == state.keys()


def test_key_mismatch_names_the_keys(tmp_path: Path) -> None:
    model = timm.create_model("test_efficientnet", num_classes=3)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    expected = r"missing keys \['blocks\.0\.0\.bn1\.bias'.*unexpected keys \['module\.blocks\.0"
    with pytest.raises(CheckpointError, match=expected):
        load_strict(model, state, "teacher checkpoint t.safetensors", "test_efficientnet")
    state = dict(model.state_dict())
    state["conv_stem.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"shape mismatches \['conv_stem\.weight \(1,\) vs"):
        load_strict(model, state, "x", "test_efficientnet")


def test_teacher_whose_keys_do_not_match_is_refused_naming_them(tiny_data: Path, tmp_path: Path) -> None:
    from distill.models import build_teacher

    other = timm.create_model("test_resnet", num_classes=3).state_dict()
    save_file({k: v.contiguous() for k, v in other.items()}, tmp_path / "t.safetensors")
    teacher = {"arch": "test_efficientnet", "checkpoint": str(tmp_path / "t.safetensors")}
    recipe = recipe_from_dict(tiny_recipe(tiny_data, method="kd", teacher=teacher))
    info = resolve_teacher(recipe.teacher[0], recipe)
    expected = (r"teacher checkpoint .*t\.safetensors \(arch test_efficientnet, namespace '<none>'\): \d+ missing "
                r"key\(s\): blocks.*unexpected key\(s\): .*conv1\.0\.weight")
    with pytest.raises(CheckpointError, match=expected):
        build_teacher(info)


def test_init_checkpoint_resets_only_a_classifier_of_another_size(tmp_path: Path) -> None:
    source = timm.create_model("test_efficientnet", num_classes=7)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "init.safetensors")
    recipe = recipe_from_dict(tiny_recipe(tmp_path))
    cfg = StudentConfig(arch="test_efficientnet", init_checkpoint=str(tmp_path / "init.safetensors"))
    student = build_student(cfg, 3, recipe)
    assert torch.equal(student.conv_stem.weight, source.conv_stem.weight)
    assert student.classifier.weight.shape == (3, source.classifier.in_features)
    assert not student.classifier.weight.any() and not student.classifier.bias.any()
    with pytest.raises(CheckpointError, match=r"shape mismatches \['classifier\.bias \(7,\) vs \(3,\)"):
        build_student(StudentConfig(arch="test_efficientnet", init_checkpoint=cfg.init_checkpoint,
                                    reset_classifier=False), 3, recipe)


def test_teacher_class_count_is_read_from_its_checkpoint(tmp_path: Path) -> None:
    state = timm.create_model("test_efficientnet", num_classes=5).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "t.safetensors")
    recipe = recipe_from_dict(tiny_recipe(tmp_path))
    info = resolve_teacher(TeacherConfig(arch="test_efficientnet", checkpoint=str(tmp_path / "t.safetensors")), recipe)
    assert info.num_classes == 5 and len(info.weights_sha256) == 64


def test_a_moco_prefixed_teacher_loads_with_the_backbone_loader(tmp_path):
    """``module.encoder_q.*`` with its momentum encoder and queue beside it (MoCo v2, the SimReg teacher):
    it loads as ``--backbone`` loads it, without converting keys by hand."""
    import timm
    import torch

    from distill.models import TeacherInfo, build_teacher

    net = timm.create_model("resnet18", num_classes=0)
    state = {f"module.encoder_q.{k}": v for k, v in net.state_dict().items()}
    state.update({f"module.encoder_k.{k}": torch.zeros_like(v) for k, v in net.state_dict().items()})
    state["module.queue"] = torch.randn(128, 8)
    path = tmp_path / "moco_v2.pth"
    torch.save({"state_dict": state, "epoch": 200}, path)
    teacher = build_teacher(TeacherInfo("resnet18", 0, "x", str(path), False))
    assert torch.equal(teacher.state_dict()["layer4.1.conv2.weight"], net.state_dict()["layer4.1.conv2.weight"])
