"""The converted teachers keep their ImageNet knowledge and load through the project's strict loader."""

import json
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file

from ssld_eval.backbones.loader import load_backbone
from ssld_eval.data.teachers import TEACHERS, TeacherConversionError, map_by_order

ESPRESSO = 967
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ARCHS = [t.arch for t in TEACHERS]


def _classifier(root: Path, arch: str) -> tuple[torch.nn.Module, dict]:
    model = timm.create_model(arch, pretrained=False, num_classes=1000)
    model.load_state_dict(load_file(str(root / "teachers" / f"{arch}.safetensors")), strict=True)
    return model.eval(), json.loads((root / "teachers" / f"{arch}.json").read_text())


def _top5(model: torch.nn.Module, data_config: dict, photo: str) -> list[int]:
    import skimage.data

    transform = timm.data.create_transform(**data_config, is_training=False)
    image = Image.fromarray(getattr(skimage.data, photo)()).convert("RGB")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one image: extra threads only contend with whatever else the machine runs
    try:
        with torch.no_grad():
            logits = model(transform(image).unsqueeze(0))
    finally:
        torch.set_num_threads(threads)
    return logits[0].topk(5).indices.tolist()


@pytest.mark.parametrize("arch", ARCHS)
def test_teacher_recognises_real_photos(builtin_tiny: Path, arch: str):
    model, sidecar = _classifier(builtin_tiny, arch)
    config = sidecar["data_config"]
    assert config["mean"] == [0.5, 0.5, 0.5] and config["std"] == [0.5, 0.5, 0.5]
    assert config["input_size"][1] == (224 if arch.endswith("lite0") else 260)
    config = {**config, "input_size": tuple(config["input_size"])}
    assert _top5(model, config, "coffee")[0] == ESPRESSO  # p(espresso) is 0.95 (lite0) and 0.89 (lite2)
    assert _top5(model, config, "chelsea")[0] in CATS


@pytest.mark.parametrize("arch", ARCHS)
def test_teacher_loads_headless_through_the_project_loader(builtin_tiny: Path, arch: str):
    loaded = load_backbone(str(builtin_tiny / "teachers" / f"{arch}.safetensors"))
    assert loaded.arch == arch
    assert set(loaded.audit.dropped_head) == {"classifier.weight", "classifier.bias"}
    assert loaded.audit.matched == loaded.audit.expected
    assert loaded.meta.kind == "teacher" and loaded.meta.num_classes == 1000
    assert "efficientnet-lite" in loaded.meta.provenance["source"]
    assert len(loaded.meta.provenance["weights_sha256_of_source"]) == 64


def test_order_mapping_names_the_first_mismatch():
    model = timm.create_model("tf_efficientnet_lite0", num_classes=1000)
    items = [(f"src.{k}", v.clone()) for k, v in model.state_dict().items()]
    assert len(map_by_order(dict(items), model, "t")) == len(items)

    swapped = list(items)
    swapped[1], swapped[2] = swapped[2], swapped[1]  # bn1.bias before bn1.weight: same shape, wrong kind
    with pytest.raises(TeacherConversionError, match=r"tensor #1 src\.bn1\.bias .* does not fit bn1\.weight"):
        map_by_order(dict(swapped), model, "t")

    resized = dict(items)
    resized["src.conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    with pytest.raises(TeacherConversionError, match=r"tensor #0 src\.conv_stem\.weight \(8, 3, 3, 3\)"):
        map_by_order(resized, model, "t")

    with pytest.raises(TeacherConversionError, match="245 source tensors but the model has 247"):
        map_by_order(dict(items[:-2]), model, "t")
