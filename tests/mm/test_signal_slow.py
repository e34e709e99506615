"""Signal: real ImageNet weights transfer better than random init under the same smoke recipes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

pytestmark = [pytest.mark.mm, pytest.mark.slow]


@pytest.mark.parametrize(("task", "dataset", "metric"), [
    ("coco-det", "coco", "box_AP"),
    ("ade20k-seg", "ade20k", "mIoU"),
])
def test_imagenet_lite0_beats_random_init(transfer: Callable, builtin_small: Path, task: str, dataset: str,
                                          metric: str) -> None:
    teacher = builtin_small / "teachers" / "tf_efficientnet_lite0.safetensors"
    scores, lines = {}, []
    for name, backbone in (("imagenet", str(teacher)), ("random", "tf_efficientnet_lite0")):
        code, record, err = transfer(builtin_small, "--backbone", backbone, "--task", task, "--dataset", dataset,
                                     "--set", "profile=smoke")
        assert code == 0 and record["status"] == "complete", err[-2000:]
        scores[name] = record["metrics"]
        lines.append(f"{task} {name}: {record['metrics']} ({record['duration_s']:.0f} s)")
    print("\n".join(lines))  # after the fixture's last capture, so that -s shows both runs
    assert scores["imagenet"][metric] > scores["random"][metric], scores
