"""The model zoo: one data file of released models, fetched and checked, and a clear error offline."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from safetensors.torch import save_file

from ssld_eval import cli
from ssld_eval.backbones import load_backbone
from ssld_eval.backbones.converted import source_arch
from ssld_eval.zoo import ZooError, entries, entry, fetch, local_path


@pytest.fixture
def zoo_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLD_EVAL_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "zoo"


def test_every_entry_names_a_converter_and_its_published_top1():
    assert len(entries()) == 12
    for item in entries().values():
        assert source_arch(item.arch) is not None and item.url.endswith(".pdparams") and 50 < item.top1 < 90
    assert entry("zoo:paddleclas/ResNet50_vd_ssld").top1 == 83.0 and entry("paddleclas/ResNet50_vd").top1 == 79.1


def test_offline_the_error_names_the_url_and_the_path(zoo_cache, capsys):
    code = cli.main(["transfer", "--backbone", "zoo:paddleclas/MobileNetV3_large_x1_0_ssld", "--task", "knn",
                     "--dataset", "animals"])
    err = capsys.readouterr().err
    assert code == 2
    assert "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/" \
           "MobileNetV3_large_x1_0_ssld_pretrained.pdparams" in err
    assert str(zoo_cache / "paddleclas" / "MobileNetV3_large_x1_0_ssld") in err
    with pytest.raises(ZooError, match="no such model"):
        entry("zoo:paddleclas/ResNet50")


def test_a_cached_file_is_recorded_then_checked(zoo_cache):
    item = entry("paddleclas/MobileNetV1")
    path = local_path(item)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    assert fetch("zoo:paddleclas/MobileNetV1") == (path, item)  # first read: its sha256 is recorded
    assert path.with_name(path.name + ".sha256").is_file()
    path.write_bytes(b"tampered")
    with pytest.raises(ZooError, match="recorded at its first download"):
        fetch("zoo:paddleclas/MobileNetV1")


def test_zoo_list_prints_every_entry(zoo_cache, capsys):
    assert cli.main(["zoo", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 12 and not any(row["cached"] for row in rows)


def test_export_format_timm_is_a_folder_timm_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = timm.create_model("test_resnet", num_classes=0)
    source = tmp_path / "student.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(source))
    half = {"input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 1.0, "mean": [0.5] * 3,
            "std": [0.5] * 3}
    source.with_suffix(".json").write_text(json.dumps({"arch": "test_resnet", "method": "kd", "data_config": half}))
    out = tmp_path / "hub"
    assert cli.main(["export", str(source), "--format", "timm", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "ssld_eval.json"}
    hub = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert list(hub.pretrained_cfg["mean"]) == [0.5] * 3 and list(hub.pretrained_cfg["input_size"]) == [3, 64, 64]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(hub(x), load_backbone(str(source)).model.eval()(x), rtol=0, atol=0)
    assert cli.main(["export", str(source), "--format", "timm", "--out", str(out)]) == 2  # never over a folder
