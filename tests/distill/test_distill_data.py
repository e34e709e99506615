"""Data: bad images are counted and listed or fail naming the file; labels out of range name the file; the
sampler and the crops are pure functions of (seed, epoch, index)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from distill_helpers import tiny_recipe, write_image_folder, write_recipe

from distill.data import BadImageError, DataError, load_splits
from distill.loader import StepSampler, TrainDataset
from distill.recipe import load_recipe


@pytest.fixture()
def broken_data(tmp_path: Path) -> tuple[Path, Path, Path]:
    """tiny data with one truncated PNG and one file of garbage bytes in train."""
    root = write_image_folder(tmp_path / "data", {"train": 4, "test": 2})
    truncated = root / "train" / "c1" / "001.png"
    truncated.write_bytes(truncated.read_bytes()[:60])
    garbage = root / "train" / "c2" / "zz_garbage.png"
    garbage.write_bytes(b"not an image at all")
    return tmp_path, truncated, garbage


def _recipe(root: Path, tmp_path: Path, **data: object) -> Path:
    recipe = tiny_recipe(root, data={"train": "data/train", "val": None, "test": "data/test", **data})
    return write_recipe(tmp_path / "r.yaml", recipe)


def test_bad_images_fail_naming_the_file(broken_data: tuple[Path, Path, Path]) -> None:
    root, truncated, _ = broken_data
    with pytest.raises(BadImageError, match=rf"{truncated}: cannot be decoded .*--on-bad-image skip"):
        load_splits(load_recipe(_recipe(root, root), ["data.on_bad_image=fail"]))


def test_bad_images_skipped_are_counted_and_listed(broken_data: tuple[Path, Path, Path]) -> None:
    root, truncated, garbage = broken_data
    splits = load_splits(load_recipe(_recipe(root, root), ["data.on_bad_image=skip"]))
    assert sorted(b["path"] for b in splits.bad_images) == sorted([str(truncated), str(garbage)])
    assert len(splits.train) == 3 * 4 - 1  # garbage.png was an extra file; truncated 001.png is left out
    assert str(truncated) not in map(str, splits.train.paths)
    assert splits.manifest()["bad_images"] == 2


def test_label_out_of_range_and_unknown_eval_class_name_the_file(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "data", {"train": 2, "test": 1})
    with pytest.raises(DataError, match=r"c2/000\.png: label 2 \(class 'c2'\) is out of range for data\.num_classes=2"):
        load_splits(load_recipe(_recipe(tmp_path, tmp_path, num_classes=2)))
    (root / "test" / "c9").mkdir()
    shutil.copy(root / "test" / "c0" / "000.png", root / "test" / "c9" / "x.png")
    with pytest.raises(DataError, match=r"c9/x\.png: class folder 'c9' is not a class of the training split"):
        load_splits(load_recipe(_recipe(tmp_path, tmp_path)))


def test_manifest_hash_follows_content(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "data", {"train": 2, "test": 1})
    first = load_splits(load_recipe(_recipe(tmp_path, tmp_path))).manifest()["manifest_sha256"]
    assert load_splits(load_recipe(_recipe(tmp_path, tmp_path))).manifest()["manifest_sha256"] == first
    write_image_folder(tmp_path / "data", {"train": 2}, seed=5)  # same names, other pixels
    assert load_splits(load_recipe(_recipe(tmp_path, tmp_path))).manifest()["manifest_sha256"] != first


def test_sampler_partitions_the_global_batch_and_resumes_mid_epoch() -> None:
    full = list(StepSampler(10, 4, seed=3, stage=0, start_step=0, end_step=6))
    assert len(full) == 24
    epochs = [e for _, e in full]
    assert epochs == [0] * 8 + [1] * 8 + [2] * 8  # 10 // 4 = 2 steps per epoch, the last partial batch dropped
    assert len({i for i, e in full if e == 0}) == 8
    resumed = list(StepSampler(10, 4, seed=3, stage=0, start_step=3, end_step=6))
    assert resumed == full[12:]
    ranks = [list(StepSampler(10, 4, 3, 0, 0, 6, rank=r, world_size=2)) for r in range(2)]
    merged = [key for step in range(6) for r in range(2) for key in ranks[r][2 * step:2 * step + 2]]
    assert merged == full
    with pytest.raises(ValueError, match=r"fewer than train\.batch_size 16"):
        StepSampler(10, 16, 0, 0, 0, 1)


def test_crops_depend_only_on_seed_epoch_and_index(tiny_data: Path, tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_data)))
    splits = load_splits(recipe)
    a = TrainDataset([splits.train], recipe.data, seed=0, stage=0)
    b = TrainDataset([splits.train], recipe.data, seed=0, stage=0)
    assert torch.equal(a[(5, 2)]["image"], b[(5, 2)]["image"])
    assert a[(5, 2)]["image"].shape == (3, 16, 16) and a[(5, 2)]["image"].dtype == torch.uint8
    other = [TrainDataset([splits.train], recipe.data, seed=s, stage=0)[(5, e)]["image"] for s, e in ((1, 2), (0, 3))]
    assert not any(torch.equal(a[(5, 2)]["image"], o) for o in other)
    assert a[(5, 2)]["label"] == splits.train.labels[5] and np.isin(splits.train.labels, [0, 1, 2]).all()
