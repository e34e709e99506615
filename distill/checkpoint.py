"""Atomic training checkpoints and the RNG states a bitwise resume needs.

A checkpoint is written to a temporary file in the same folder, fsync'ed, renamed into place and the folder
fsync'ed; only then are checkpoints beyond the newest ``keep`` deleted. A crash at any moment therefore
leaves at least one complete checkpoint (mmengine, by contrast, deletes the old one first). Weights are
checked for NaN/Inf before anything is written. Checkpoints hold only tensors and plain Python values and
are read back with ``weights_only=True``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssld_core.atomic import atomic_write

CHECKPOINT_PATTERN = re.compile(r"^step_(\d{9})\.pt$")


class NonFiniteError(FloatingPointError):
    """A loss term or a weight is NaN/Inf; the message names it (and the step)."""


def assert_finite(module: nn.Module, what: str, skip: str = "teacher.") -> None:
    """Raise naming the first parameter or buffer of ``module`` that holds NaN/Inf (the frozen teacher,
    under the ``skip`` prefix, is not checked)."""
    for name, tensor in module.state_dict().items():
        if name.startswith(skip):
            continue
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"{what}: {name} holds NaN/Inf; nothing is written")


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"step_{step:09d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if CHECKPOINT_PATTERN.match(p.name))


def save_atomic(state: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` through :func:`ssld_core.atomic.atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(dict(state), tmp))


def save_checkpoint(directory: Path, step: int, state: Mapping[str, Any], keep: int) -> Path:
    """Write the checkpoint of ``step`` durably, then delete all but the newest ``keep`` (>= 2)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    save_atomic(state, path)
    for old in list_checkpoints(directory)[:-max(keep, 2)]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) global RNG states, as weights-only-loadable values."""
    version, mt_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
