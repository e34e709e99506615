"""Checkpoints: atomic, rotated only after the new one is durable, never with NaN weights; RNG round trip."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from distill.checkpoint import (
    NonFiniteError,
    assert_finite,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def test_rotation_keeps_the_newest_two_and_ignores_partial_files(tmp_path: Path) -> None:
    (tmp_path / ".step_000000009.pt.tmp").write_bytes(b"half a checkpoint from a killed run")
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.full((2,), float(step))}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_000000002.pt", "step_000000003.pt"]
    assert load_checkpoint(list_checkpoints(tmp_path)[-1])["w"].tolist() == [3.0, 3.0]


def test_non_finite_weights_are_named_and_refused() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert_finite(model, "checkpoint at step 5")
    with torch.no_grad():
        model[1].running_var[0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"checkpoint at step 5: 1\.running_var holds NaN/Inf"):
        assert_finite(model, "checkpoint at step 5")


def test_rng_states_survive_a_weights_only_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    save_checkpoint(tmp_path, 1, {"rng": rng_state()}, keep=2)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(load_checkpoint(list_checkpoints(tmp_path)[-1])["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
