"""The built-in build: deterministic bytes, the manifest, resuming, the ImageFolder sets and the CLI."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssld_core.provenance import sha256_file
from ssld_eval.data.builtin import SET_NAMES, SIZES, build_builtin, read_manifest
from ssld_eval.data.classification import balanced_pick
from ssld_eval.data.sources import ANIMAL_CLASSES, DIGIT_CLASSES, FASHION_CLASSES


def _quiet(_message: str) -> None:
    pass


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(builtin_tiny: Path, tmp_path: Path):
    build_builtin(tmp_path, seed=0, size="tiny", log=_quiet)
    first, second = _tree(builtin_tiny), _tree(tmp_path)
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []


def test_another_seed_gives_other_images(builtin_tiny: Path, tmp_path: Path):
    shutil.copytree(builtin_tiny / "teachers", tmp_path / "teachers")  # seed-free: reused, not rebuilt
    build_builtin(tmp_path, seed=1, size="tiny", log=_quiet)
    first, second = _tree(builtin_tiny), _tree(tmp_path)
    for prefix in ("fashion/", "animals/", "digits/", "coco/train2017/", "ade/ADEChallengeData2016/images/"):
        names = [n for n in first if n.startswith(prefix)]
        assert names and any(first[n] != second.get(n) for n in names), prefix
    assert read_manifest(tmp_path).digest != read_manifest(builtin_tiny).digest


def test_manifest_lists_every_file_with_its_hash(builtin_tiny: Path):
    document = json.loads((builtin_tiny / "manifest.json").read_text())
    on_disk = {n for n in _tree(builtin_tiny) if n != "manifest.json" and not Path(n).name.startswith(".")}
    assert set(document["files"]) == on_disk
    for name in sorted(on_disk)[::37]:
        entry = document["files"][name]
        assert entry == {"sha256": sha256_file(builtin_tiny / name), "bytes": (builtin_tiny / name).stat().st_size}
    assert document["seed"] == 0 and document["size"] == "tiny"
    assert document["counts"]["fashion"] == {"train": 80, "val": 80, "test": 80}
    manifest = read_manifest(builtin_tiny)
    assert manifest.num_files == len(on_disk) and manifest.teacher().is_file()


def test_rebuild_skips_finished_sets(builtin_tiny: Path, tmp_path: Path):
    shutil.copytree(builtin_tiny, tmp_path / "copy")
    before = read_manifest(tmp_path / "copy").digest
    messages: list[str] = []
    build_builtin(tmp_path / "copy", seed=0, size="tiny", log=messages.append)
    assert sum("already complete, skipped" in m for m in messages) == len(SET_NAMES)
    assert read_manifest(tmp_path / "copy").digest == before


def test_stale_set_of_another_seed_is_rebuilt(builtin_tiny: Path, tmp_path: Path):
    shutil.copytree(builtin_tiny, tmp_path / "copy")
    marker = tmp_path / "copy" / "digits" / ".complete"
    document = json.loads(marker.read_text())
    document["signature"]["seed"] = 5
    marker.write_text(json.dumps(document))
    (tmp_path / "copy" / "digits" / "leftover.txt").write_text("stale")
    messages: list[str] = []
    build_builtin(tmp_path / "copy", seed=0, size="tiny", log=messages.append)
    assert next(m.split(":")[0] for m in messages if "skipped" not in m) == "digits"
    assert not (tmp_path / "copy" / "digits" / "leftover.txt").exists()
    assert _tree(tmp_path / "copy" / "digits") == _tree(builtin_tiny / "digits")


def test_a_foreign_folder_is_never_replaced(tmp_path: Path):
    (tmp_path / "coco").mkdir()
    (tmp_path / "coco" / "mine.txt").write_text("not built-in data")
    with pytest.raises(FileExistsError, match="was not written by"):
        build_builtin(tmp_path, seed=0, size="tiny", log=_quiet)
    assert (tmp_path / "coco" / "mine.txt").read_text() == "not built-in data"


@pytest.mark.parametrize(("name", "classes"), [("fashion", FASHION_CLASSES), ("animals", ANIMAL_CLASSES),
                                              ("digits", DIGIT_CLASSES)])
def test_image_folders_load_with_torchvision(builtin_tiny: Path, name: str, classes: tuple[str, ...]):
    from torchvision.datasets import ImageFolder

    per_class = SIZES["tiny"].fashion.per_split() if name == "fashion" else getattr(SIZES["tiny"], name).per_split()
    for split, count in per_class.items():
        dataset = ImageFolder(str(builtin_tiny / name / split))
        assert sorted(dataset.classes) == sorted(classes)
        assert np.bincount(dataset.targets).tolist() == [count] * len(classes)
        image, _ = dataset[0]
        assert image.mode == "RGB" and image.size == (64, 64)


def test_unlabeled_fashion_is_flat_and_disjoint_from_the_labelled_splits(builtin_tiny: Path):
    from ssld_eval.data.builtin import _fashion_splits

    files = sorted((builtin_tiny / "fashion_unlabeled").iterdir())
    assert len([f for f in files if f.suffix == ".png"]) == 80 and not any(f.is_dir() for f in files)
    for size in ("tiny", "small"):
        splits = _fashion_splits(0, SIZES[size])
        drawn_from_train_file = np.concatenate([splits[k] for k in ("train", "val", "unlabeled")])
        assert len(np.unique(drawn_from_train_file)) == len(drawn_from_train_file)


def test_balanced_pick_fails_when_a_class_is_short():
    with pytest.raises(ValueError, match="class 1 has 2 images"):
        balanced_pick(np.array([0, 0, 0, 1, 1]), (3,), 2, np.random.default_rng(0))


def test_cli_builds_and_prints_a_summary(builtin_tiny: Path, tmp_path: Path, capsys):
    from ssld_eval import cli

    shutil.copytree(builtin_tiny / "teachers", tmp_path / "out" / "teachers")
    assert cli.main(["data", "builtin", "--out", str(tmp_path / "out"), "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "built-in data (tiny, seed 0)" in out and "coco" in out and "manifest sha256" in out
    assert read_manifest(tmp_path / "out").digest == read_manifest(builtin_tiny).digest


@pytest.mark.slow
def test_small_has_the_documented_counts(builtin_small: Path):
    counts = read_manifest(builtin_small).counts
    assert counts["fashion"] == {"train": 3000, "val": 500, "test": 1000}
    assert counts["fashion_unlabeled"] == {"unlabeled": 3000}
    assert counts["animals"] == {"train": 1000, "val": 200, "test": 500}
    assert counts["digits"] == {"train": 1000, "val": 300, "test": 400}
    assert counts["coco"]["train_images"] == 400 and counts["coco"]["val_images"] == 100
    assert counts["ade"]["train_images"] == 400 and counts["ade"]["val_images"] == 100
