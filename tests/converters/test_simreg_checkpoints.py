"""SimReg checkpoints -> timm: the student encoder of a ``main.py`` checkpoint, with parity against torchvision.

SimReg's students are torchvision's networks (``models/resnet.py`` and ``models/mobilenet.py`` have
torchvision's architecture and parameter names; its linear evaluation builds torchvision's own models), so
torchvision is the reference: a model with random weights (BatchNorm statistics calibrated on random images,
then perturbed; affines random), its ``fc`` emptied as SimReg does, wrapped as SimReg saves it
(``{'opt': argparse.Namespace, 'state_dict': {encoder_q.module.*, predict_q.module.*, encoder_t.module.*},
'optimizer', 'epoch'}``), loaded with ``load_backbone(path, arch="simreg:NAME")`` and compared in float64:
max |timm - torchvision| <= 1e-9 x max |torchvision| (measured: 0 for the ResNets, ~1e-15 for MobileNetV2).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from ssld_eval.backbones import load_backbone
from ssld_eval.converters import SIMREG_ARCHS, TorchCheckpointError, convert_simreg, convert_simreg_state_dict

TOLERANCE = 1e-9


def _randomised(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(1 + 0.3 * torch.randn(bn.weight.shape, generator=g))
            bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=g))
            bn.momentum = 1.0
        model.train()
        model(torch.randn(4, 3, 64, 64, generator=g))
        for bn in bns:
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.2 * std * torch.randn(std.shape, generator=g))
            bn.running_var.mul_(torch.empty(std.shape).uniform_(0.7, 1.4, generator=g))
    return model.eval()


def _student(arch: str) -> nn.Module:
    """SimReg's student: torchvision's network, ``fc`` (``classifier`` for MobileNetV2) emptied."""
    torch.manual_seed(len(arch))  # torchvision's constructors draw from the global generator
    if arch == "mobilenet":
        model = torchvision.models.mobilenet_v2()
        model.classifier = nn.Sequential()
    else:
        model = getattr(torchvision.models, arch)()
        model.fc = nn.Sequential()
    return _randomised(model, seed=len(arch))


def simreg_checkpoint(student: dict[str, torch.Tensor], prefix: str = "encoder_q.module.") -> dict[str, Any]:
    """What SimReg's ``main.py`` saves: the options, the whole SimReg module's state, the optimizer, the epoch."""
    state: dict[str, torch.Tensor] = {f"{prefix}{k}": v for k, v in student.items()}
    for i, (n_in, n_out) in enumerate([(512, 1024), (1024, 512), (512, 1024), (1024, 2048)]):
        state[f"predict_q.module.{(0, 3, 4, 7)[i]}.weight"] = torch.randn(n_out, n_in) * 0.01
    state["predict_q.module.1.weight"] = torch.ones(1024)
    state["encoder_t.module.conv1.weight"] = torch.randn(64, 3, 7, 7)
    state["encoder_t.module.bn1.running_mean"] = torch.zeros(64)
    opt = argparse.Namespace(arch_s="resnet18", arch_t="resnet50", n_mlp_layers=4, lr=0.05, epochs=130,
                             use_cache=False, save_freq=10, data="/data/imagenet", gpu=[0, 1])
    optimizer = {"state": {0: {"momentum_buffer": torch.zeros(3)}},
                 "param_groups": [{"lr": 0.05, "momentum": 0.9, "params": [0]}]}
    return {"opt": opt, "state_dict": state, "optimizer": optimizer, "epoch": 130}


def _features(model: nn.Module, arch: str, x: torch.Tensor) -> torch.Tensor:
    if arch == "mobilenet":  # SimReg's MobileNetV2._forward_impl: features, global mean, (empty) fc
        return nn.functional.adaptive_avg_pool2d(model.features(x), 1).flatten(1)
    return model(x)


@pytest.mark.parametrize("arch", [pytest.param("resnet18"), pytest.param("mobilenet"),
                                  pytest.param("resnet50", marks=pytest.mark.slow)])
def test_parity_with_torchvision_through_the_loader(tmp_path: Path, arch: str) -> None:
    student = _student(arch)
    path = tmp_path / f"simreg_{arch}.pth"
    torch.save(simreg_checkpoint(student.state_dict()), path)
    loaded = load_backbone(str(path), arch=f"simreg:{arch}")
    assert loaded.audit.matched == loaded.audit.expected
    assert loaded.meta is not None and loaded.meta.provenance["student_prefix"] == "encoder_q.module."
    assert loaded.meta.provenance["ignored_keys"] == {"encoder_t": 2, "predict_q": 5}
    assert loaded.inputs.interpolation == "bilinear" and loaded.inputs.crop_pct == 0.875
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = _features(student.double(), arch, x)
        actual = loaded.model.eval().double()(x)
    scale = float(expected.abs().max())
    diff = float((expected - actual).abs().max())
    print(f"simreg:{arch}: max |diff| {diff:.3g}, feature scale {scale:.3g}, relative {diff / scale:.3g}")
    assert float((expected[0] - expected[1]).abs().max()) > 0.01 * scale, "features ignore the input"
    assert diff <= TOLERANCE * scale


def test_student_without_data_parallel_prefix() -> None:
    student = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if not k.startswith("fc.")}
    converted = convert_simreg_state_dict(simreg_checkpoint(student, prefix="encoder_q.")["state_dict"],
                                          "resnet18", "x.pth")
    assert converted.timm_name == "resnet18" and converted.num_classes == 0
    assert converted.details["student_prefix"] == "encoder_q."


def test_classifier_keys_are_named() -> None:
    student = torchvision.models.resnet18().state_dict()  # fc not emptied: not what SimReg saves
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: the converted state dict does not match timm "
                       r"'resnet18': 2 key\(s\) timm has no place for: 'fc\.weight' \(from 'fc\.weight'\), 'fc\.bias'"):
        convert_simreg_state_dict(simreg_checkpoint(student)["state_dict"], "resnet18", "x.pth")


def test_mobilenet_missing_key_is_named() -> None:
    student = {k: v for k, v in torchvision.models.mobilenet_v2().state_dict().items() if k.startswith("features.")}
    del student["features.5.conv.1.1.running_var"]
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: 1 expected key\(s\) missing: "
                       r"'features\.5\.conv\.1\.1\.running_var'"):
        convert_simreg_state_dict(simreg_checkpoint(student)["state_dict"], "mobilenet", "x.pth")


def test_wrong_student_is_refused() -> None:
    student = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if not k.startswith("fc.")}
    with pytest.raises(TorchCheckpointError, match=r"r18\.pth: the converted state dict does not match timm "
                       r"'resnet50': \d+ timm key\(s\) missing: 'layer1\.0\.conv3\.weight'"):
        convert_simreg_state_dict(simreg_checkpoint(student)["state_dict"], "resnet50", "r18.pth")


def test_no_student_encoder_is_refused() -> None:
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: no SimReg student encoder .*'conv1\.weight'"):
        convert_simreg_state_dict({"conv1.weight": torch.ones(1)}, "resnet18", "x.pth")
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: unknown SimReg student 'mobilenet_v2'; "
                       r"supported: resnet18, resnet50, mobilenet"):
        convert_simreg_state_dict({}, "mobilenet_v2", "x.pth")
    assert SIMREG_ARCHS == ("resnet18", "resnet50", "mobilenet")


def test_namespace_is_allowed_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "opt.pth"
    checkpoint = simreg_checkpoint({"conv1.weight": torch.ones(1)})
    torch.save(checkpoint, path)
    with pytest.raises(pickle.UnpicklingError, match=r"argparse\.Namespace"):
        torch.load(path, weights_only=True)  # why SimReg files need the allow-list
    with pytest.raises(TorchCheckpointError, match="does not match timm 'resnet18'"):  # read, then converted
        convert_simreg(path, "resnet18")
    checkpoint["opt"].data = Path("/data/imagenet")  # an object the allow-list does not name
    torch.save(checkpoint, path)
    with pytest.raises(TorchCheckpointError, match=r"opt\.pth: refusing to load global pathlib\.\S*Path"):
        convert_simreg(path, "resnet18")
