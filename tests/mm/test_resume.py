"""Resuming loads only the run's own mmengine checkpoint, with weights_only=True and a small allowlist."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

from ssld_eval.mm.checkpoints import allow_mmengine_checkpoints, resumable_checkpoint

pytestmark = pytest.mark.mm


def test_a_checkpoint_outside_the_work_dir_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "mm"
    work.mkdir()
    elsewhere = tmp_path / "downloaded.pth"
    elsewhere.write_bytes(b"not read")
    (work / "last_checkpoint").write_text(str(elsewhere))
    with pytest.raises(ValueError, match="outside this run's work dir"):
        resumable_checkpoint(work)
    assert resumable_checkpoint(tmp_path / "fresh") is None


def test_an_interrupted_run_resumes_from_its_own_checkpoint(
    transfer: Callable, save_timm: Callable[..., Path], builtin_tiny: Path, tmp_path: Path
) -> None:
    weights = save_timm("test_resnet")
    argv = ("--backbone", str(weights), "--task", "coco-det", "--dataset", "coco", "--set", "profile=smoke",
            "--set", "max_iters=2", "--set", "batch_size=2", "--set", "checkpoint_interval=1", "--set", "resume=true")
    code, first, err = transfer(builtin_tiny, *argv)
    assert code == 0, err
    assert first["protocol"]["resumed_from"] == ""
    checkpoint = resumable_checkpoint(tmp_path / "results" / "work" / first["key"] / "mm")
    assert checkpoint is not None and checkpoint.name == "iter_2.pth"

    with pytest.raises(pickle.UnpicklingError):
        torch.load(checkpoint, map_location="cpu", weights_only=True)  # what mmengine gets without the allowlist
    with allow_mmengine_checkpoints():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["meta"]["iter"] == 2

    code, second, err = transfer(builtin_tiny, *argv)
    assert code == 0, err
    assert second["protocol"]["resumed_from"] == str(checkpoint)
    assert not second["protocol"]["backbone"]["weights_verified_before_training"]
    assert second["protocol"]["iterations"] == 2


def test_the_allowlist_does_not_open_getattr(tmp_path: Path) -> None:
    """mmengine pickles ``getattr(HistoryBuffer, 'min')``; any other getattr (the first step from an allowed
    object to ``eval``) must stay refused."""
    from mmengine.logging import HistoryBuffer

    class Gadget:
        def __reduce__(self) -> tuple:
            return (getattr, (HistoryBuffer, "__init__"))

    class Statistic:
        def __reduce__(self) -> tuple:
            return (getattr, (HistoryBuffer, "mean"))

    good, bad = tmp_path / "good.pth", tmp_path / "bad.pth"
    torch.save({"method": Statistic()}, good)
    torch.save({"method": Gadget()}, bad)
    with allow_mmengine_checkpoints():
        assert torch.load(good, weights_only=True)["method"] is HistoryBuffer.mean
        with pytest.raises(pickle.UnpicklingError, match=r"refused getattr\(.*__init__"):
            torch.load(bad, weights_only=True)
