"""Non-finite numbers never become a result: NaN/Inf features, votes, objectives, logits or losses make the
run ``failed`` with the reason (issue 11, item 3). Tiny random-init ``test_resnet`` on tiny ImageFolders."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from ssld_eval.backbones import load_backbone
from ssld_eval.commands.transfer_cmd import transfer
from ssld_eval.features import extract
from ssld_eval.features.extract import Features
from ssld_eval.features.finite import NonFiniteError, non_finite_reason
from ssld_eval.features.pipeline import SplitFeatures
from ssld_eval.probe.metrics import classification_metrics, map11, mean_per_class, top1
from ssld_eval.tasks import fine_tune, linear_probe
from ssld_eval.tasks.base import TaskContext
from ssld_eval.tasks.configs import FineTuneConfig, LinearProbeConfig
from ssld_eval.tasks.fine_tune import FineTune
from ssld_eval.tasks.linear_probe import LinearProbe

ARCH = "test_resnet"
OVERRIDES = {"knn": {"image_size": "32"}, "linear-probe": {"image_size": "32", "num_l2": "5"}}
PER_SPLIT = {"train": 6, "val": 3, "test": 3}  # per class; 3 classes


def write_folder(root: Path, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for split, count in PER_SPLIT.items():
        for c in range(3):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.normal(128 + 40 * (c - 1), 20, (size, size, 3)).clip(0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("data") / "folder")


@pytest.fixture(scope="module")
def overflowing_checkpoint(tmp_path_factory) -> Path:
    """Finite weights (the loader accepts them) whose last BN divides by sqrt(eps) and scales by 1e38: every
    feature row overflows to Inf and then NaN."""
    torch.manual_seed(0)
    state = timm.create_model(ARCH, num_classes=0).state_dict()
    state["layer4.0.bn2.running_var"].zero_()
    state["layer4.0.bn2.weight"].fill_(1e38)
    path = tmp_path_factory.mktemp("ckpt") / "overflow.safetensors"
    save_file(state, str(path))
    return path


def common(folder: Path, tmp_path: Path) -> dict:
    return {"data_root": folder, "results": tmp_path / "r", "cache_dir": tmp_path / "c"}


def test_reason_counts_rows_and_names_what():
    x = torch.ones(5, 3)
    x[1, 2], x[3, 0] = float("nan"), float("-inf")
    assert non_finite_reason({"train features": x}) == "train features: 2 of 5 row(s) hold non-finite values (NaN/Inf)"
    assert non_finite_reason({"a": torch.ones(4, 2), "b": torch.empty(0, 2), "loss": 0.5}) == ""
    assert non_finite_reason({"loss": float("nan"), "t": torch.tensor(float("inf"))}) == "loss is nan; t is inf"


def test_metrics_refuse_non_finite_scores():
    scores = torch.tensor([[1.0, 0.0], [float("nan"), 0.0]])
    labels = torch.tensor([0, 1])
    for metric in (top1, mean_per_class):
        with pytest.raises(NonFiniteError, match="1 of 2 row"):
            metric(scores, labels)
    with pytest.raises(NonFiniteError):
        map11(scores, torch.tensor([[1, 0], [0, 1]]))
    with pytest.raises(NonFiniteError):
        classification_metrics(scores, labels, "top1")


@pytest.mark.parametrize("task", ["knn", "linear-probe"])
def test_features_that_overflow_make_the_run_failed(folder, tmp_path, overflowing_checkpoint, task):
    record = transfer(str(overflowing_checkpoint), task, "imagefolder", arch=ARCH, overrides=OVERRIDES[task],
                      **common(folder, tmp_path))
    assert record.status == "failed" and record.metrics == {}
    assert "train features: 18 of 18 row(s) hold non-finite values (NaN/Inf)" in record.reason
    assert "test features: 9 of 9 row(s)" in record.reason


@pytest.mark.parametrize("task", ["knn", "linear-probe"])
def test_one_nan_feature_row_per_batch_is_counted_per_split(folder, tmp_path, monkeypatch, task):
    original = extract.forward_batches

    def poisoned(run, images, device, pad_to):
        out = original(run, images, device, pad_to)
        out[0, 0] = float("nan")
        return out

    monkeypatch.setattr(extract, "forward_batches", poisoned)
    record = transfer(ARCH, task, "imagefolder", overrides=OVERRIDES[task], **common(folder, tmp_path))
    assert record.status == "failed" and record.metrics == {}
    assert record.reason == ("train features: 1 of 18 row(s) hold non-finite values (NaN/Inf); "
                             "val features: 1 of 9 row(s) hold non-finite values (NaN/Inf); "
                             "test features: 1 of 9 row(s) hold non-finite values (NaN/Inf)")


def test_knn_votes_that_overflow_fail(folder, tmp_path):
    record = transfer(ARCH, "knn", "imagefolder", overrides={"image_size": "32", "ks": "[5]", "temperature": "1e-3"},
                      **common(folder, tmp_path))
    assert record.status == "failed" and record.metrics == {}
    assert record.reason.startswith("knn5 votes (temperature 0.001): ")


def test_probe_fails_when_standardised_features_overflow(monkeypatch, tmp_path):
    """Finite features can still standardise to Inf: a near-constant train column and a far-off val value."""
    gen = torch.Generator().manual_seed(0)

    def split(n: int, column: torch.Tensor) -> Features:
        return Features(torch.stack([torch.randn(n, generator=gen), column], 1), torch.arange(n) % 2, torch.arange(n))

    splits = {"train": split(8, torch.tensor([0.0, 2e-11] * 4)), "val": split(4, torch.full((4,), 1e30)),
              "test": split(4, torch.zeros(4))}
    data = SimpleNamespace(metric="top1", num_classes=2, multilabel=False)
    transform = SimpleNamespace(describe=lambda: {})
    feats = SplitFeatures(data, splits, transform, {s: False for s in splits}, False, 0.0)  # type: ignore[arg-type]
    monkeypatch.setattr(linear_probe, "compute_split_features", lambda ctx, config: feats)
    ctx = SimpleNamespace(seed=0)
    result = LinearProbe().run(ctx, LinearProbeConfig(num_l2=3))  # type: ignore[arg-type]
    assert result.status == "failed" and result.metrics == {}
    assert result.reason == "standardised val features: 4 of 4 row(s) hold non-finite values (NaN/Inf)"


def fine_tune_ctx(folder: Path, tmp_path: Path) -> TaskContext:
    torch.manual_seed(0)
    return TaskContext(backbone=load_backbone(ARCH), dataset="imagefolder", data_root=folder, seed=0,
                       device=torch.device("cpu"), work_dir=tmp_path / "w", cache_dir=tmp_path / "c")


FAST = FineTuneConfig(steps=2, batch_size=6, warmup_steps=0, workers=0, image_size=32, eval_batch_size=16)


def test_fine_tune_nan_loss_fails_at_its_step(folder, tmp_path):
    ctx = fine_tune_ctx(folder, tmp_path)
    with torch.no_grad():  # a weight that diverged after loading: the guard is the training loss's
        ctx.backbone.model.get_parameter("layer1.0.conv1.weight").view(-1)[0] = float("nan")
    result = FineTune().run(ctx, FAST)
    assert result.status == "failed" and result.metrics == {}
    assert result.reason == "training loss became nan at step 0"


def test_fine_tune_non_finite_test_logits_fail(folder, tmp_path, monkeypatch):
    original = fine_tune.extract_features

    def poisoned(*args, **kwargs):
        out = original(*args, **kwargs)
        out.features[:2] = float("inf")
        return out

    monkeypatch.setattr(fine_tune, "extract_features", poisoned)
    result = FineTune().run(fine_tune_ctx(folder, tmp_path), FAST)
    assert result.status == "failed" and result.metrics == {}
    assert result.reason == "test logits after 2 training steps: 2 of 9 row(s) hold non-finite values (NaN/Inf)"
