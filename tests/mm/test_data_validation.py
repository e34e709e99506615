"""Broken data stops a run before training, with a message naming the files or classes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

from ssld_eval.backbones import load_backbone
from ssld_eval.mm.data import DataValidationError
from ssld_eval.tasks import get_task
from ssld_eval.tasks.base import TaskContext

pytestmark = pytest.mark.mm


@pytest.fixture
def data_copy(builtin_tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the built-in COCO and ADE sets, used as the default data folder."""
    root = tmp_path / "builtin"
    for name in ("coco", "ade"):
        shutil.copytree(builtin_tiny / name, root / name)
    monkeypatch.setenv("SSLD_EVAL_DATA", str(root))
    return root


def _run(task: str, dataset: str, tmp_path: Path) -> None:
    ctx = TaskContext(backbone=load_backbone("test_resnet"), dataset=dataset, data_root=None, seed=0,
                      device=torch.device("cpu"), work_dir=tmp_path / "work", cache_dir=tmp_path / "cache")
    task_cls = get_task(task)
    task_cls().run(ctx, task_cls.Config(profile="smoke", max_iters=1))


def test_missing_image_is_named_before_training(data_copy: Path, tmp_path: Path, transfer: Callable) -> None:
    victim = sorted((data_copy / "coco" / "val2017").glob("*.jpg"))[3]
    victim.unlink()
    with pytest.raises(DataValidationError, match=rf"1 of \d+ image file\(s\) missing .*{victim.name}"):
        _run("coco-det", "coco", tmp_path)
    assert not (tmp_path / "work" / "mm").exists(), "the runner was built although the data is broken"

    code, record, err = transfer(data_copy, "--backbone", "test_resnet", "--task", "coco-det", "--dataset", "coco",
                                 "--set", "profile=smoke")
    assert code == 2 and record is None and victim.name in err and "error: " in err


def test_classes_that_disagree_are_named(data_copy: Path, tmp_path: Path) -> None:
    classes_file = data_copy / "coco" / "classes.json"
    meta = json.loads(classes_file.read_text())
    meta["classes"] = [("okapi" if c == "zebra" else c) for c in meta["classes"]]
    classes_file.write_text(json.dumps(meta))
    with pytest.raises(DataValidationError, match=r"missing from the file: \[okapi\]; categories not configured: "
                                                  r"\[zebra\]"):
        _run("coco-det", "coco", tmp_path)


def test_classes_in_another_order_are_refused(data_copy: Path, tmp_path: Path) -> None:
    classes_file = data_copy / "coco" / "classes.json"
    meta = json.loads(classes_file.read_text())
    meta["classes"] = meta["classes"][::-1]
    classes_file.write_text(json.dumps(meta))
    with pytest.raises(DataValidationError, match="same names, other order"):
        _run("coco-det", "coco", tmp_path)


def test_segmentation_image_without_labels_is_named(data_copy: Path, tmp_path: Path) -> None:
    labels = data_copy / "ade" / "ADEChallengeData2016" / "annotations" / "training"
    victim = sorted(labels.glob("*.png"))[0]
    victim.unlink()
    with pytest.raises(DataValidationError, match=rf"1 image\(s\) without a label map .*{victim.stem}\.jpg"):
        _run("ade20k-seg", "ade20k", tmp_path)


def test_data_root_may_name_the_builtin_folder_or_the_set(builtin_tiny: Path, tmp_path: Path) -> None:
    """``--data-root`` works as for the classification sets (the built-in folder holding coco/ and ade/), names
    the set itself, or names a user's real COCO (no classes.json: mmdet's 80 classes)."""
    from ssld_eval.data_identity import locate_root
    from ssld_eval.tasks.coco_det import coco_classes

    ade = builtin_tiny / "ade" / "ADEChallengeData2016"
    assert locate_root(builtin_tiny, "ade/ADEChallengeData2016", classes_folder_up=1) == (ade, True)
    assert locate_root(ade, "ade/ADEChallengeData2016", classes_folder_up=1) == (ade, True)
    own = json.loads((builtin_tiny / "coco" / "classes.json").read_text())["classes"]
    assert coco_classes(builtin_tiny) == (builtin_tiny / "coco", own, "builtin")
    assert coco_classes(builtin_tiny / "coco") == (builtin_tiny / "coco", own, "builtin")
    user = tmp_path / "coco2017"
    shutil.copytree(builtin_tiny / "coco" / "annotations", user / "annotations")
    root, classes, source = coco_classes(user)
    assert (root, len(classes), classes[0], source) == (user, 80, "person", "user")
