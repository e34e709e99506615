"""coco-det and ade20k-seg end to end through ``ssld-eval transfer`` on the tiny built-in sets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

from ssld_eval.backbones import load_backbone
from ssld_eval.records import ResultRecord, ResultStore
from ssld_eval.tasks import get_task
from ssld_eval.tasks.base import TaskContext
from ssld_eval.tasks.coco_det import coco_metrics, coco_result

pytestmark = pytest.mark.mm

QUICK = ("--set", "profile=smoke", "--set", "max_iters=2", "--set", "batch_size=2")


@pytest.mark.parametrize(("task", "dataset", "primary"), [
    ("coco-det", "coco", "box_AP"),
    ("ade20k-seg", "ade20k", "mIoU"),
])
def test_cnn_student_writes_a_record_that_round_trips(
    transfer: Callable, save_timm: Callable[..., Path], builtin_tiny: Path, tmp_path: Path,
    task: str, dataset: str, primary: str,
) -> None:
    weights = save_timm("tf_efficientnet_lite0")
    sidecar = weights.with_suffix(".json")  # a student trained on mean = std = 0.5, as the built-in recipes
    half = {"input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 1.0, "mean": [0.5] * 3,
            "std": [0.5] * 3}
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "data_config": half}))
    code, record, err = transfer(builtin_tiny, "--backbone", str(weights), "--task", task, "--dataset", dataset,
                                 *QUICK)
    assert code == 0, err
    assert record["status"] == "complete" and record["primary_metric"] == primary
    assert 0.0 <= record["metrics"][primary] <= 100.0
    protocol = record["protocol"]
    assert protocol["iterations"] == 2 and protocol["effective_batch"] == 2 and protocol["world_size"] == 1
    assert protocol["schedule"]["recipe_batch"] == 16 and "differs from the recipe's 16" in protocol["batch_warning"]
    assert protocol["backbone"]["weights_verified_before_training"]
    assert protocol["backbone"]["normalisation"] == {"mean": [127.5] * 3, "std": [127.5] * 3, "source": "sidecar"}
    assert protocol["data"]["classes"] == 10 and protocol["data"]["source"] == "builtin"
    audit = record["key_audit"]
    assert audit["matched"] == audit["expected"] > 0

    parsed = ResultRecord.from_dict(record, source="test")
    assert parsed.to_dict() == record
    stored = ResultStore(tmp_path / "results").scan()
    assert [r.to_dict() for r in stored.records] == [record]


@pytest.mark.parametrize(("task", "dataset", "primary"), [
    ("coco-det", "coco", "box_AP"),
    ("ade20k-seg", "ade20k", "mIoU"),
])
def test_vit_student_at_a_small_image_size_runs(
    save_timm: Callable[..., Path], builtin_tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    task: str, dataset: str, primary: str,
) -> None:
    """A ViT distilled at 128 px (its position embedding is 8x8) goes through the simple feature pyramid."""
    monkeypatch.setenv("SSLD_EVAL_DATA", str(builtin_tiny))
    weights = save_timm("vit_tiny_patch16_224", img_size=128)
    backbone = load_backbone(str(weights), model_kwargs={"img_size": 128})
    ctx = TaskContext(backbone=backbone, dataset=dataset, data_root=None, seed=0, device=torch.device("cpu"),
                      work_dir=tmp_path / "work", cache_dir=tmp_path / "cache")
    task_cls = get_task(task)
    result = task_cls().run(ctx, task_cls.Config(profile="smoke", max_iters=2, batch_size=2))
    assert result.status == "complete" and 0.0 <= result.metrics[primary] <= 100.0
    assert result.protocol["backbone"]["model_kwargs"]["img_size"] == [128, 128]
    assert result.protocol["backbone"]["out_channels"] == [48, 96, 192, 192]


def test_wrong_prefix_stops_before_training(transfer: Callable, save_timm: Callable[..., Path], builtin_tiny: Path,
                                            tmp_path: Path) -> None:
    weights = save_timm("test_resnet", prefix="detector.trunk.")
    code, record, err = transfer(builtin_tiny, "--backbone", str(weights), "--task", "coco-det",
                                 "--dataset", "coco", *QUICK)
    assert code == 2 and record is None
    assert "missing key(s): bn1.bias" in err and "unexpected key(s): detector.trunk.bn1.bias" in err
    assert not (tmp_path / "results" / "work").exists()


def test_metrics_are_percent_and_undefined_sizes_are_left_out() -> None:
    raw = {"coco/bbox_mAP": 0.398, "coco/bbox_mAP_50": 0.6, "coco/bbox_mAP_s": -1.0, "coco/segm_mAP": 0.357}
    metrics, undefined = coco_metrics(raw)
    assert metrics == {"box_AP": 39.8, "box_AP50": 60.0, "mask_AP": 35.7}
    assert undefined == ["box_APs"]


def test_a_detector_that_predicts_nothing_is_a_failed_run(builtin_tiny: Path) -> None:
    """mmdet's CocoMetric returns no AP for empty predictions; the task must not turn that into a zero."""
    from mmdet.evaluation import CocoMetric

    ann_file = builtin_tiny / "coco" / "annotations" / "instances_val2017.json"
    metric = CocoMetric(ann_file=str(ann_file), metric=["bbox", "segm"])
    classes = json.loads((builtin_tiny / "coco" / "classes.json").read_text())["classes"]
    metric.dataset_meta = {"classes": tuple(classes)}
    empty = {"bboxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long),
             "masks": torch.zeros(0, 128, 128, dtype=torch.bool)}
    metric.process({}, [{"img_id": 1, "ori_shape": (128, 128), "pred_instances": empty}])
    raw = metric.evaluate(size=1)
    assert not any(key.endswith("_mAP") for key in raw)
    result = coco_result(raw, {})
    assert result.status == "failed" and "predicted nothing" in result.reason and "box_AP" not in result.metrics


def test_moco_protocol_recipe_runs_with_bn_in_place_of_sync_bn(
    transfer: Callable, save_timm: Callable[..., Path], builtin_tiny: Path
) -> None:
    weights = save_timm("test_resnet")
    code, record, err = transfer(builtin_tiny, "--backbone", str(weights), "--task", "coco-det", "--dataset", "coco",
                                 "--set", "recipe=moco-ms-1x", *QUICK)
    assert code == 0, err
    protocol = record["protocol"]
    assert protocol["recipe"] == "moco-ms-1x" and "Shared4Conv1FCBBoxHead" in protocol["recipe_summary"]
    # backbone, neck, box head and mask head asked for SyncBN; one CPU process runs BN instead
    assert protocol["sync_bn_replaced_by_bn"] == 4
    assert protocol["backbone"]["frozen_stages"] == -1 and protocol["backbone"]["norm_eval"] is False
