"""The recipe's mmengine config under --set: visualiser backends by mmengine's own names."""

from __future__ import annotations

import pytest

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

from ssld_eval.config import ConfigError
from ssld_eval.mm.recipes import load_recipe
from ssld_eval.tasks.configs import Ade20kSegConfig, CocoDetConfig

pytestmark = pytest.mark.mm


@pytest.mark.parametrize(("task", "config"), [("coco-det", CocoDetConfig), ("ade20k-seg", Ade20kSegConfig)])
def test_tensorboard_joins_the_local_visualiser_backend(task, config):
    cfg = load_recipe(task, config(profile="smoke", vis_backends=("TensorboardVisBackend",)))
    assert [b["type"] for b in cfg.visualizer.vis_backends] == ["LocalVisBackend", "TensorboardVisBackend"]
    with pytest.raises(ConfigError, match=r"unknown mmengine visualiser backend\(s\) \['Tensorboard'\]"):
        load_recipe(task, config(profile="smoke", vis_backends=("Tensorboard",)))
