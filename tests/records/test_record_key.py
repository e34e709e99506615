"""The record key names the experiment: its data, its canonical config, its protocol; nothing about how it ran."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ssld_eval.data.builtin import SIZES, build_set, write_manifest
from ssld_eval.data_identity import data_identity, folder_identity
from ssld_eval.records import ResultStore, StaleRecordError, record_key
from ssld_eval.records.experiment import resolve_experiment
from ssld_eval.records.synthetic import synthetic_record
from ssld_eval.tasks import configs

WEIGHTS = "random-init:resnet18"


def image_folder(root: Path, content: bytes) -> Path:
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            (root / split / c / "0.png").write_bytes(content + c.encode())
    return root


def key(task: str = "knn", dataset: str = "imagefolder", data_root: Path | None = None, seed: int = 0,
        cache_dir: Path | None = None, **overrides: str) -> str:
    return resolve_experiment(WEIGHTS, task, dataset, data_root, overrides, seed, cache_dir=cache_dir)[0].key


def test_two_data_roots_are_two_experiments(tmp_path):
    a = image_folder(tmp_path / "A", b"animals")
    b = image_folder(tmp_path / "B", b"digits")  # other images (by their sizes: bytes are not read)
    assert key(data_root=a) != key(data_root=b)
    assert key(data_root=a) == key(data_root=image_folder(tmp_path / "copy-of-A", b"animals"))  # same files


def test_annotations_count_by_content_and_images_by_size(tmp_path):
    root = image_folder(tmp_path / "set", b"x")
    (root / "labels.txt").write_text("cat 0\n")
    before = key(data_root=root)
    (root / "labels.txt").write_text("cat 1\n")  # same size, another label: a fixed annotation file
    assert key(data_root=root) != before


def test_a_rebuilt_builtin_set_with_another_seed_is_another_experiment(tmp_path):
    def build(seed: int) -> str:
        counts = build_set(tmp_path, "animals", seed, SIZES["tiny"], log=lambda _: None)
        write_manifest(tmp_path, seed, "tiny", {"animals": counts})
        return key(dataset="animals", data_root=tmp_path, cache_dir=tmp_path / "cache")

    seed0 = build(0)
    assert build(0) == seed0  # rebuilt identically: the same experiment (and the cached identity holds)
    assert build(1) != seed0


def test_the_cached_identity_notices_an_added_image(tmp_path):
    root = image_folder(tmp_path / "set", b"x")
    cache = tmp_path / "cache"
    first = folder_identity(root, cache)
    assert list((cache / "data-identity").glob("*.json"))  # computed once, cached beside the feature cache
    assert folder_identity(root, cache) == first
    (root / "train" / "cat" / "1.png").write_bytes(b"y")
    assert folder_identity(root, cache) != first == folder_identity(image_folder(tmp_path / "other", b"x"))


def test_equal_values_and_defaults_are_one_config(tmp_path):
    root = image_folder(tmp_path / "set", b"x")
    default = key("fine-tune", data_root=root)
    assert key("fine-tune", data_root=root, lr="0.01") == default  # the default, given explicitly
    assert key("fine-tune", data_root=root, lr="1e-2") == default
    assert key("fine-tune", data_root=root, lr="0.1") == key("fine-tune", data_root=root, lr="1e-1")
    assert key("fine-tune", data_root=root, lr="0.1") != default


@pytest.mark.parametrize(("task", "setting"), [
    ("knn", {"workers": "4"}), ("knn", {"compile": "on"}), ("knn", {"batch_size": "256"}), ("knn", {"chunk": "64"}),
    ("linear-probe", {"batch_size": "8", "compile_min_images": "10"}), ("fine-tune", {"workers": "2"}),
    ("fine-tune", {"eval_batch_size": "16"}), ("coco-det", {"num_workers": "8", "resume": "true"}),
])
def test_execution_only_settings_do_not_change_the_key(tmp_path, task, setting):
    dataset = {"coco-det": "coco"}.get(task, "imagefolder")
    root = image_folder(tmp_path / "set", b"x")
    assert key(task, dataset, root, **setting) == key(task, dataset, root)
    experiment, _ = resolve_experiment(WEIGHTS, task, dataset, root, setting, 0)
    assert {k: experiment.execution_settings[k] for k in setting} != {}  # recorded, not keyed
    assert not set(setting) & set(experiment.config)


def test_settings_that_change_the_numbers_change_the_key(tmp_path):
    root = image_folder(tmp_path / "set", b"x")
    assert key("knn", data_root=root, temperature="0.1") != key("knn", data_root=root)
    assert key("linear-probe", data_root=root, image_size="32") != key("linear-probe", data_root=root)


def test_bumping_a_protocol_version_changes_the_key(tmp_path, monkeypatch):
    root = image_folder(tmp_path / "set", b"x")
    before = key("linear-probe", data_root=root)
    monkeypatch.setattr(configs.LinearProbeConfig, "protocol_version", configs.LinearProbeConfig.protocol_version + 1)
    assert key("linear-probe", data_root=root) != before


def test_golden_key():
    """A pinned value: an accidental change of what the key hashes, or how, fails here (and would orphan every
    record users have). Change it only together with SCHEMA_VERSION."""
    config = dataclasses.asdict(configs.KnnConfig())
    for name in configs.KnnConfig.execution_only:
        config.pop(name)
    assert record_key(WEIGHTS, "knn", "animals", 1, "0" * 32, config, 0) == "70cfed8512fa0036"


def test_unknown_task_dataset_and_key_are_named(tmp_path):
    with pytest.raises(KeyError, match=r"linear-prob'.*known"):
        key("linear-prob", data_root=tmp_path)
    with pytest.raises(KeyError, match="imagefolderr"):
        key(dataset="imagefolderr", data_root=tmp_path)
    with pytest.raises(ValueError, match="temprature"):
        key(data_root=tmp_path, temprature="0.1")


def test_a_record_of_the_old_schema_is_stale_and_never_matches(tmp_path):
    root = image_folder(tmp_path / "set", b"x")
    experiment, _ = resolve_experiment(WEIGHTS, "knn", "imagefolder", root, {}, 0)
    store = ResultStore(tmp_path / "results")
    path = store.write(synthetic_record(experiment))
    assert store.has_complete(experiment.key)
    data = json.loads(path.read_text())
    data["schema_version"] = 1
    path.write_text(json.dumps(data))
    assert not store.has_complete(experiment.key)
    with pytest.raises(StaleRecordError, match=r"stale record of schema 1.*rerun"):
        store.read(path)
    assert "stale" in store.scan().invalid[0].reason


def test_the_data_identity_of_coco_is_its_folder(tmp_path):
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "instances_val2017.json").write_text("{}")
    before = data_identity("coco", coco)
    assert data_identity("coco", tmp_path) == before  # --data-root may name the folder holding coco/
    (coco / "annotations" / "instances_val2017.json").write_text("[]")
    assert data_identity("coco", coco) != before
