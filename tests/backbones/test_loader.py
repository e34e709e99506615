"""The strict backbone loader, ``inspect`` and ``export``: wrapper prefixes, wrong prefixes, pickles."""

from __future__ import annotations

import json
import os

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from ssld_eval import cli
from ssld_eval.backbones import CheckpointMismatchError, NonFiniteWeightsError, load_backbone, read_state_dict
from ssld_eval.commands.transfer_cmd import TransferError, transfer

ARCH = "test_resnet"


@pytest.fixture(scope="module")
def source_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return timm.create_model(ARCH, num_classes=7).state_dict()  # with its classifier, as a trainer saves it


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v.clone() for k, v in state.items()}


@pytest.mark.parametrize("prefix", ["", "module.", "student.", "module.student."])
def test_wrapper_prefixes_load_strictly(tmp_path, source_state, prefix):
    path = tmp_path / "ckpt.safetensors"
    save_file(prefixed(source_state, prefix), str(path))
    loaded = load_backbone(str(path), arch=ARCH)
    assert loaded.audit.namespace == prefix
    assert loaded.audit.matched == loaded.audit.expected == len(loaded.model.state_dict())
    assert loaded.audit.dropped_head == ("fc.bias", "fc.weight")
    assert torch.equal(loaded.model.state_dict()["conv1.0.weight"], source_state["conv1.0.weight"])


def test_pickled_checkpoint_nested_under_state_dict_loads(tmp_path, source_state):
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": prefixed(source_state, "module.")}, path)
    assert load_backbone(str(path), arch=ARCH).audit.namespace == "module."


def test_wrong_prefix_is_an_error_naming_the_keys(tmp_path, source_state):
    path = tmp_path / "ckpt.safetensors"
    save_file(prefixed(source_state, "foo."), str(path))
    with pytest.raises(CheckpointMismatchError) as exc:
        load_backbone(str(path), arch=ARCH)
    message = str(exc.value)
    assert "missing key(s)" in message and "unexpected key(s)" in message
    assert "foo.conv1.0.weight" in message or "foo.bn1" in message
    assert "no key matched at all" in message


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "payload": Exploit(str(marker))}, path)
    with pytest.raises(CheckpointMismatchError, match="refused or unreadable"):
        read_state_dict(path)
    with pytest.raises(CheckpointMismatchError):
        load_backbone(str(path), arch=ARCH)
    assert not marker.exists()


def test_inspect_prints_the_audit_and_flags_a_wrong_prefix(tmp_path, source_state, capsys):
    good, bad = tmp_path / "good.safetensors", tmp_path / "bad.safetensors"
    save_file(prefixed(source_state, "student."), str(good))
    save_file(prefixed(source_state, "foo."), str(bad))
    assert cli.main(["inspect", str(good), "--arch", ARCH]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "ok" and report["namespaces"] == {"student.": len(source_state)}
    assert report["audit"]["matched_fraction"] == 1.0 and report["audit"]["namespace"] == "student."
    assert cli.main(["inspect", str(bad), "--arch", ARCH]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "mismatch" and "foo." in report["error"]
    assert report["namespaces"] == {"<none>": len(source_state)}


def test_export_writes_a_clean_headless_backbone_that_loads(tmp_path, source_state, capsys):
    source = tmp_path / "run.pth"
    torch.save({"model": prefixed(source_state, "module.")}, source)
    out = tmp_path / "clean" / "backbone.safetensors"
    assert cli.main(["export", str(source), "--arch", ARCH, "--out", str(out)]) == 0
    tensors = load_file(str(out))
    assert not any(k.startswith(("module.", "fc.")) for k in tensors)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["arch"] == ARCH and sidecar["kind"] == "exported"
    assert len(sidecar["provenance"]["exported_from"]["source_sha256"]) == 64
    reloaded = load_backbone(str(out))  # the sidecar names the architecture
    assert reloaded.audit.namespace == "" and reloaded.audit.dropped_head == ()
    assert torch.equal(reloaded.model.state_dict()["layer4.0.conv1.weight"], source_state["layer4.0.conv1.weight"])
    assert cli.main(["export", str(source), "--arch", ARCH, "--out", str(tmp_path / "x.pth")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err


def test_run_dir_rebuilds_the_model_with_its_sidecar_kwargs(tmp_path):
    """A ViT student trained at 64 px has a 4x4+1 position table; timm's default 224 px model would not fit."""
    student = timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=10)
    save_file(student.state_dict(), str(tmp_path / "student.safetensors"))
    sidecar = {"arch": "vit_tiny_patch16_224", "model_kwargs": {"img_size": 64}, "method": "scalekd"}
    (tmp_path / "student.json").write_text(json.dumps(sidecar))
    loaded = load_backbone(str(tmp_path))
    assert loaded.model.pos_embed.shape == (1, 17, 192)
    assert torch.equal(loaded.model.state_dict()["pos_embed"], student.state_dict()["pos_embed"])
    assert loaded.audit.matched == loaded.audit.expected


def _poisoned(state: dict[str, torch.Tensor], names: dict[str, float]) -> dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in state.items()}
    for name, value in names.items():
        out[name].view(-1)[0] = value
    return out


@pytest.mark.parametrize("layout", ["safetensors", "pth", "run-dir"])
def test_non_finite_weights_are_refused_naming_the_tensors(tmp_path, source_state, layout):
    """One NaN weight used to give a chance-level score with status complete; now the load names it."""
    bad = _poisoned(source_state, {"layer1.0.conv1.weight": float("nan"), "layer4.0.bn2.bias": float("inf")})
    if layout == "safetensors":
        spec = tmp_path / "ckpt.safetensors"
        save_file(bad, str(spec))
    elif layout == "pth":
        spec = tmp_path / "ckpt.pth"
        torch.save({"state_dict": prefixed(bad, "module.")}, spec)
    else:
        spec = tmp_path / "run"
        spec.mkdir()
        save_file(bad, str(spec / "student.safetensors"))
        (spec / "student.json").write_text(json.dumps({"arch": ARCH}))
    with pytest.raises(NonFiniteWeightsError) as exc:
        load_backbone(str(spec), arch=None if layout == "run-dir" else ARCH)
    message = str(exc.value)
    assert "2 tensor(s) hold non-finite values (NaN/Inf)" in message
    assert "layer1.0.conv1.weight" in message and "layer4.0.bn2.bias" in message
    assert "layer1.0.conv2.weight" not in message
    assert isinstance(exc.value, CheckpointMismatchError)  # every command's existing handler refuses it


def test_transfer_refuses_a_non_finite_checkpoint(tmp_path, source_state, capsys):
    path = tmp_path / "ckpt.safetensors"
    save_file(_poisoned(source_state, {"layer2.0.bn1.running_var": float("nan")}), str(path))
    common = {"results": tmp_path / "r", "cache_dir": tmp_path / "c", "arch": ARCH}
    with pytest.raises(TransferError, match=r"ckpt\.safetensors: 1 tensor\(s\).*layer2\.0\.bn1\.running_var"):
        transfer(str(path), "knn", "imagefolder", data_root=tmp_path, **common)
    assert cli.main(["transfer", "--backbone", str(path), "--arch", ARCH, "--task", "knn", "--dataset",
                     "imagefolder", "--data-root", str(tmp_path), "--results", str(tmp_path / "r"),
                     "--cache-dir", str(tmp_path / "c")]) == 2
    assert "non-finite values" in capsys.readouterr().err
    assert not list((tmp_path / "r").glob("*.json"))  # no record: nothing was evaluated
