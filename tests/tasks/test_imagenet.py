"""The ``imagenet`` task and data set: the built-in teachers' own classifiers on the built-in mini val set
(real photos with beyond-doubt labels), the 1000-way class indices of a subset folder, and the errors and
exclusions a real ImageNet run can meet (a headless checkpoint, a foreign head, a bad image, NaN logits)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssld_eval.commands.transfer_cmd import TransferError, transfer
from ssld_eval.records import outcomes as per_sample

CHELSEA, HOPPER, COFFEE = ("val/n02123045/skimage_chelsea.JPEG", "val/n03763968/matplotlib_grace_hopper.JPEG",
                           "val/n07920052/skimage_coffee.JPEG")
TABBY, TIGER_CAT, EGYPTIAN_CAT, ACADEMIC_GOWN, MILITARY_UNIFORM, ESPRESSO = 281, 282, 285, 400, 652, 967
#: measured (tiny built-in data, CPU fp32): arg-max per photo, and the rank (0-based) of the true class
MEASURED = {
    "tf_efficientnet_lite0": {CHELSEA: (TIGER_CAT, 2), HOPPER: (ACADEMIC_GOWN, 2), COFFEE: (ESPRESSO, 0)},
    "tf_efficientnet_lite2": {CHELSEA: (EGYPTIAN_CAT, 2), HOPPER: (MILITARY_UNIFORM, 0), COFFEE: (ESPRESSO, 0)},
}
TRUE = {CHELSEA: TABBY, HOPPER: MILITARY_UNIFORM, COFFEE: ESPRESSO}
TINY_ARCH = "test_resnet"  # timm's tiny test network: a random-init 1000-class head


def _run(backbone: str, data_root: Path, tmp_path: Path, dataset: str = "imagenet", task: str = "imagenet",
         **kwargs):
    return transfer(backbone, task, dataset, data_root=data_root, results=tmp_path / "results",
                    cache_dir=tmp_path / "cache", **kwargs)


def _outcomes(record, tmp_path: Path) -> dict[str, np.ndarray]:
    return per_sample.read(tmp_path / "results" / record.outcomes["file"], record.outcomes["sha256"])


@pytest.mark.parametrize("arch", sorted(MEASURED))
def test_builtin_teachers_recognise_the_mini_val_photos(builtin_tiny: Path, tmp_path: Path, arch: str):
    record = _run(str(builtin_tiny / "teachers" / f"{arch}.safetensors"), builtin_tiny / "imagenet", tmp_path)
    assert record.status == "complete" and record.bad_images == ()
    expected = MEASURED[arch]
    right = sum(pred == TRUE[sample] for sample, (pred, _) in expected.items())
    assert record.metrics == pytest.approx({"top1": 100 * right / 3, "top5": 100.0})
    arrays = _outcomes(record, tmp_path)
    assert arrays["sample_id"].tolist() == [CHELSEA, HOPPER, COFFEE]
    assert arrays["label"].tolist() == [TABBY, MILITARY_UNIFORM, ESPRESSO]
    for sample, label, pred, top5 in zip(arrays["sample_id"], arrays["label"], arrays["pred"], arrays["top5"],
                                         strict=True):
        assert (int(pred), top5.tolist().index(label)) == expected[str(sample)], sample
        assert top5[0] == pred
    side, crop = (224, 0.875) if arch.endswith("lite0") else (260, 0.89)
    transform = record.protocol["transform"]
    assert (transform["image_size"], transform["crop_pct"], transform["interpolation"]) == (side, crop, "bicubic")
    assert transform["source"] == "sidecar" and list(transform["mean"]) == [0.5, 0.5, 0.5]
    assert record.protocol["num_classes"] == 1000 and record.protocol["n_test"] == 3
    assert record.key_audit["dropped_head"] == [] and record.key_audit["matched"] == record.key_audit["expected"]


def test_random_init_lite0_does_worse_than_the_teacher(builtin_tiny: Path, tmp_path: Path):
    random_init = _run("tf_efficientnet_lite0", builtin_tiny / "imagenet", tmp_path)
    assert random_init.status == "complete" and random_init.protocol["num_classes"] == 1000
    assert random_init.metrics == {"top1": 0.0, "top5": 0.0}  # the teacher: 33.3 and 100


def test_a_subset_of_wnids_keeps_the_1000_way_indices(tmp_path: Path):
    from PIL import Image

    from ssld_eval.datasets import DatasetLayoutError, load_dataset
    from ssld_eval.datasets.imagenet import imagenet_wnids

    for wnid in ("n15075141", "n01440764", "n07920052"):  # last, first and espresso
        (tmp_path / "val" / wnid).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "val" / wnid / "a.JPEG")
    data = load_dataset("imagenet", tmp_path)
    assert data.classes == imagenet_wnids() and data.num_classes == 1000
    assert data.classes[:2] == ("n01440764", "n01443537") and list(data.classes) == sorted(data.classes)
    assert set(data.splits) == {"test"} and data.val_source == "none"
    assert data.splits["test"].targets.tolist() == [0, 967, 999]
    assert [data.splits["test"].ident(i) for i in range(3)] == [
        "val/n01440764/a.JPEG", "val/n07920052/a.JPEG", "val/n15075141/a.JPEG"]

    shutil.copytree(tmp_path / "val", tmp_path / "train")
    assert load_dataset("imagenet", tmp_path).splits["train"].targets.tolist() == [0, 967, 999]

    (tmp_path / "val" / "tabby").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"not ImageNet-1k wnids: \['tabby'\]"):
        load_dataset("imagenet", tmp_path)
    flat = tmp_path / "flat"
    (flat / "val").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(flat / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DatasetLayoutError, match=r"1 image\(s\) but no class folders .*torchvision.datasets.ImageNet"):
        load_dataset("imagenet", flat)


def test_a_headless_checkpoint_or_a_foreign_head_is_a_clear_error(builtin_tiny: Path, tmp_path: Path):
    from ssld_eval.backbones import load_backbone
    from ssld_eval.backbones.classifier import ClassifierError, load_classifier, require_classifier
    from ssld_eval.backbones.loader import HeadlessCheckpointError
    from ssld_eval.commands.export_cmd import export_backbone

    headless = export_backbone(str(builtin_tiny / "teachers" / "tf_efficientnet_lite0.safetensors"),
                               tmp_path / "lite0_headless.safetensors")
    with pytest.raises(TransferError, match=r"has no classifier \(2 classifier key\(s\) missing: classifier.bias, "
                                            r"classifier.weight\): it is a headless backbone"):
        _run(str(headless), builtin_tiny / "imagenet", tmp_path)
    with pytest.raises(HeadlessCheckpointError):  # allowing the head to be missing would score a random one
        load_classifier(str(headless), allow_missing=["classifier"])
    with pytest.raises(ClassifierError, match="has a 10-class classifier; the task scores ImageNet-1k's 1000"):
        load_classifier(TINY_ARCH, model_kwargs={"num_classes": 10})
    with pytest.raises(ClassifierError, match="loaded without its classifier"):
        require_classifier(load_backbone(TINY_ARCH))
    with pytest.raises(TransferError, match=r"data set animals has 10 classes .* use --dataset imagenet"):
        _run(TINY_ARCH, builtin_tiny, tmp_path, dataset="animals")


def test_a_bad_image_is_excluded_and_listed(builtin_tiny: Path, tmp_path: Path):
    root = tmp_path / "imagenet"
    shutil.copytree(builtin_tiny / "imagenet", root)
    (root / "val" / "n07920052" / "broken.JPEG").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    record = _run(str(builtin_tiny / "teachers" / "tf_efficientnet_lite0.safetensors"), root, tmp_path)
    assert record.status == "complete" and record.bad_images == ("val/n07920052/broken.JPEG",)
    assert record.protocol["n_test"] == 3 and record.protocol["n_bad"] == 1
    assert record.metrics == pytest.approx({"top1": 100 / 3, "top5": 100.0})
    assert "val/n07920052/broken.JPEG" not in _outcomes(record, tmp_path)["sample_id"].tolist()
    with pytest.raises(TransferError, match="1 image"):
        _run(TINY_ARCH, root, tmp_path, overrides={"fail_on_bad_images": "true"})


def test_non_finite_logits_fail_the_run(builtin_tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from ssld_eval.features import extract

    original = extract.forward_batches

    def poisoned(run, images, device, pad_to):
        out = original(run, images, device, pad_to)
        out[1, 3] = float("inf")
        return out

    monkeypatch.setattr(extract, "forward_batches", poisoned)
    record = _run(TINY_ARCH, builtin_tiny / "imagenet", tmp_path)
    assert record.status == "failed" and record.metrics == {} and not record.outcomes
    assert record.reason == "logits: 1 of 3 row(s) hold non-finite values (NaN/Inf)"


def test_feature_tasks_accept_imagenet_and_need_its_train_split(builtin_tiny: Path, tmp_path: Path):
    with pytest.raises(TransferError, match=r"need train and test splits; .* has no train split"):
        _run(TINY_ARCH, builtin_tiny / "imagenet", tmp_path, task="knn")
    root = tmp_path / "imagenet"
    shutil.copytree(builtin_tiny / "imagenet", root)
    shutil.copytree(root / "val", root / "train")
    record = _run(TINY_ARCH, root, tmp_path, task="knn", overrides={"ks": "[1]"})
    assert record.status == "complete" and record.dataset == "imagenet"
    assert record.protocol["num_classes"] == 1000 and record.protocol["n_test"] == 3
    assert record.metrics["knn1_top1"] == 100.0  # each val photo's nearest train image is itself


def test_the_mini_set_names_its_sources(builtin_tiny: Path):
    from ssld_eval.data.imagenet_mini import PHOTOS, source_file

    document = json.loads((builtin_tiny / "imagenet" / "photos.json").read_text())
    assert [p["file"] for p in document["photos"]] == [f"val/{p.wnid}/{p.stem}.JPEG" for p in PHOTOS]
    assert [(p["index"], p["class"]) for p in document["photos"]] == [
        (ESPRESSO, "espresso"), (TABBY, "tabby"), (MILITARY_UNIFORM, "military uniform")]
    assert (builtin_tiny / "imagenet" / HOPPER).read_bytes() == source_file(PHOTOS[2]).read_bytes()  # JPEG: as is
