"""The data-set registry: layouts, official splits, layout errors, multi-label VOC targets, fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssld_eval.data_identity import folder_identity as data_fingerprint
from ssld_eval.datasets import DatasetLayoutError, dataset_names, get_dataset_spec, load_dataset
from ssld_eval.datasets.torchvision_sets import VOC_CLASSES, voc_targets

LITERATURE = ("food101", "cifar10", "cifar100", "birdsnap", "sun397", "cars", "aircraft", "voc2007", "dtd", "pets",
              "caltech101", "flowers102")


def png(path: Path, size: int = 16, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def folder(root: Path, layout: dict[str, dict[str, int]], size: int = 16) -> Path:
    for split, classes in layout.items():
        for name, count in classes.items():
            for i in range(count):
                png(root / split / name / f"{i}.png", size, 10 * i)
    return root


def test_registry_has_the_twelve_literature_sets_builtins_imagefolder_and_imagenet():
    assert set(LITERATURE) | {"imagefolder", "imagenet", "fashion", "animals", "digits"} == set(dataset_names())
    metrics = {name: get_dataset_spec(name).metric for name in LITERATURE}
    assert {n for n, m in metrics.items() if m == "mean_per_class"} == {"aircraft", "pets", "caltech101", "flowers102"}
    assert metrics["voc2007"] == "map11"


def test_imagefolder_splits_and_labels(tmp_path):
    root = folder(tmp_path / "d", {"train": {"cat": 3, "dog": 2}, "test": {"cat": 1, "dog": 2}})
    data = load_dataset("imagefolder", root)
    assert data.classes == ("cat", "dog") and set(data.splits) == {"train", "test"}
    assert data.val_source == "none"
    assert data.splits["train"].targets.tolist() == [0, 0, 0, 1, 1]
    assert data.splits["test"].ident(0) == "test/cat/0.png"
    assert data.splits["train"].load(4).mode == "RGB"


@pytest.mark.parametrize("case", ["no-root", "no-test", "unknown-class", "empty"])
def test_imagefolder_layout_errors_show_the_expected_layout(tmp_path, case):
    root = tmp_path / "d"
    if case == "no-test":
        folder(root, {"train": {"a": 1}})
    elif case == "unknown-class":
        folder(root, {"train": {"a": 1}, "test": {"b": 1}})
    elif case == "empty":
        (root / "train" / "a").mkdir(parents=True)
        (root / "test" / "a").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError) as exc:
        load_dataset("imagefolder", root)
    message = str(exc.value)
    if case == "unknown-class":
        assert "classes absent from train/: ['b']" in message
    else:
        assert "DIR/train/<class>/<image>" in message


@pytest.mark.parametrize("name, folder_name", [("cifar10", "cifar-10-batches-py"), ("food101", "food-101/images"),
                                               ("voc2007", "VOCdevkit/VOC2007")])
def test_missing_torchvision_set_names_its_layout(tmp_path, name, folder_name):
    with pytest.raises(DatasetLayoutError, match="expected layout") as exc:
        load_dataset(name, tmp_path)
    assert folder_name in str(exc.value) and "download=True" not in str(exc.value)


def test_sets_other_than_builtin_need_a_data_root():
    with pytest.raises(DatasetLayoutError, match="--data-root is required"):
        load_dataset("cars", None)


def test_builtin_set_from_env_root_with_native_size(tmp_path, monkeypatch):
    folder(tmp_path / "animals", {s: {"bird": 2, "cat": 1} for s in ("train", "val", "test")}, size=24)
    monkeypatch.setenv("SSLD_EVAL_DATA", str(tmp_path))
    data = load_dataset("animals", None)
    assert set(data.splits) == {"train", "val", "test"} and data.val_source == "official" and data.native_size == 24
    with pytest.raises(DatasetLayoutError, match="has no digits/ folder"):
        load_dataset("digits", tmp_path)


def test_voc_targets_present_absent_and_difficult(tmp_path):
    xml = tmp_path / "000001.xml"
    xml.write_text("<annotation><object><name>dog</name><difficult>0</difficult></object>"
                   "<object><name>person</name><difficult>1</difficult></object>"
                   "<object><name>dog</name><difficult>1</difficult></object></annotation>")
    targets = dict(zip(VOC_CLASSES, voc_targets(xml), strict=True))
    assert targets["dog"] == 1 and targets["person"] == -1 and targets["cat"] == 0
    assert sum(v != 0 for v in targets.values()) == 2


def test_sun397_uses_the_first_official_partition(tmp_path):
    base = tmp_path / "SUN397"
    (base).mkdir()
    (base / "ClassName.txt").write_text("/a/abbey\n/b/bus_interior\n")
    for rel in ("a/abbey/sun_1.jpg", "a/abbey/sun_2.jpg", "b/bus_interior/sun_3.jpg", "b/bus_interior/sun_4.jpg"):
        png(base / rel)
    (tmp_path / "Partitions").mkdir()
    (tmp_path / "Partitions" / "Training_01.txt").write_text("/a/abbey/sun_1.jpg\n/b/bus_interior/sun_3.jpg\n")
    (tmp_path / "Partitions" / "Testing_01.txt").write_text("/a/abbey/sun_2.jpg\n/b/bus_interior/sun_4.jpg\n")
    data = load_dataset("sun397", tmp_path)
    assert data.classes == ("abbey", "bus_interior")
    assert data.splits["train"].targets.tolist() == [0, 1] and data.splits["test"].targets.tolist() == [0, 1]
    (tmp_path / "Partitions" / "Testing_01.txt").write_text("/a/abbey/sun_9.jpg\n")
    with pytest.raises(DatasetLayoutError, match="1 listed image"):
        load_dataset("sun397", tmp_path)


def test_birdsnap_test_list_defines_the_split(tmp_path):
    for rel in ("Blue_Jay/1.jpg", "Blue_Jay/2.jpg", "Wren/3.jpg", "Wren/4.jpg"):
        png(tmp_path / "images" / rel)
    (tmp_path / "test_images.txt").write_text("path\nBlue_Jay/2.jpg\nWren/4.jpg\n")
    data = load_dataset("birdsnap", tmp_path)
    assert data.classes == ("Blue_Jay", "Wren")
    assert [data.splits["test"].ident(i) for i in range(2)] == ["images/Blue_Jay/2.jpg", "images/Wren/4.jpg"]
    assert len(data.splits["train"]) == 2


def test_caltech101_split_is_30_per_class_and_fixed(tmp_path):
    objects = tmp_path / "caltech101" / "101_ObjectCategories"
    for name, count in (("BACKGROUND_Google", 2), ("ant", 33), ("chair", 40)):
        for i in range(1, count + 1):
            png(objects / name / f"image_{i:04d}.jpg", 8)
    first, second = load_dataset("caltech101", tmp_path), load_dataset("caltech101", tmp_path)
    assert first.classes == ("ant", "chair") and first.metric == "mean_per_class"
    assert first.splits["train"].targets.bincount().tolist() == [30, 30]
    assert first.splits["test"].targets.bincount().tolist() == [3, 10]
    assert first.splits["test"].paths == second.splits["test"].paths


def test_fingerprint_uses_a_valid_manifest_and_notices_changes(tmp_path):
    root = folder(tmp_path / "animals", {"train": {"a": 2}})
    files = {}
    for path in sorted(root.rglob("*.png")):
        files[f"animals/{path.relative_to(root).as_posix()}"] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
    with_manifest = data_fingerprint(root)
    later = root.stat().st_mtime + 100
    for path in root.rglob("*.png"):  # touched files: the manifest is still true, the key must not change ...
        os.utime(path, (later - 200, later - 200))
    assert data_fingerprint(root) == with_manifest
    png(root / "train" / "a" / "0.png", 16, 99)  # ... a rewritten file makes the manifest stale
    changed = data_fingerprint(root)
    assert changed != with_manifest
    png(root / "train" / "a" / "2.png")
    assert data_fingerprint(root) not in (changed, with_manifest)
