"""The probe's final fit reaches the optimum of its objective: at the L2 it chose, its test top-1 on real
features equals a converged reference solver's (scikit-learn's lbfgs at ``tol=1e-9``) within 0.3 point.

Built-in ImageNet EfficientNet-Lite0 at 64 px on ``digits`` and ``animals``. Measured: 94.0 vs 94.0 and 89.8
vs 89.8 (every test prediction the same); with the refit stopping at the path's gradient tolerance (1e-4)
it was 93.75 and 89.4.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from ssld_eval.backbones import load_backbone
from ssld_eval.commands.transfer_cmd import transfer
from ssld_eval.features.extract import Features
from ssld_eval.features.pipeline import compute_split_features, train_val
from ssld_eval.probe.lbfgs import Standardizer
from ssld_eval.tasks.base import TaskContext
from ssld_eval.tasks.configs import LinearProbeConfig as Config

#: points of top-1: the issue asks for 0.5; 0.3 because the early-stopping refit was within 0.4 on animals
TOLERANCE = 0.3


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["digits", "animals"])
def test_probe_matches_a_converged_solver_at_its_chosen_l2(builtin_small: Path, tmp_path: Path, dataset: str) -> None:
    teacher = str(builtin_small / "teachers" / "tf_efficientnet_lite0.safetensors")
    record = transfer(teacher, "linear-probe", dataset, data_root=builtin_small, results=tmp_path / "results",
                      cache_dir=tmp_path / "cache", overrides={"image_size": "64"}, device="cpu")
    assert record.status == "complete", record.reason
    l2 = record.protocol["chosen_l2"]
    ctx = TaskContext(backbone=load_backbone(teacher), dataset=dataset, data_root=builtin_small, seed=0,
                      device=torch.device("cpu"), work_dir=tmp_path / "work", cache_dir=tmp_path / "cache")
    feats = compute_split_features(ctx, Config(image_size=64))
    assert all(feats.cached.values())  # the very features the probe used
    train, val, _ = train_val(feats, Config().val_fraction, 0)
    trainval, test = Features.concat([train, val]), feats.splits["test"]
    scale = Standardizer.fit(trainval.features)
    x = scale(trainval.features).double().numpy()
    reference = LogisticRegression(C=1 / (l2 * len(x)), tol=1e-9, max_iter=100_000).fit(x, trainval.targets.numpy())
    predicted = reference.predict(scale(test.features).double().numpy())
    reference_top1 = 100 * float((predicted == test.targets.numpy()).mean())
    print(f"\n{dataset}: probe {record.metrics['top1']:.2f}, scikit-learn (tol=1e-9) {reference_top1:.2f} at "
          f"l2={l2:.3g}")
    assert abs(record.metrics["top1"] - reference_top1) <= TOLERANCE
