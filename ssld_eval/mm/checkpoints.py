"""Weights in and out of mmengine without trusting a pickle.

In: the backbone reaches the runner as a safetensors file written here from the strictly loaded model
(``export_backbone``); the adapter reads it back with the strict loader. Nothing ever goes through
mmengine's ``load_from`` / ``init_cfg``.

Resume: mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and torch 2.14 then defaults to
``weights_only=True``, which refuses mmengine's own checkpoints: their message hub pickles ``HistoryBuffer``
objects, numpy arrays and scalars, and the buffers' statistics methods as ``getattr(HistoryBuffer, 'min')``.
The suite resumes only from a checkpoint that its own run wrote into its own work dir
(:func:`resumable_checkpoint`), and loads it still with ``weights_only=True`` plus an allowlist of exactly
those objects (:func:`allow_mmengine_checkpoints`). ``builtins.getattr`` itself is never allowed (with it a
pickle can walk from any allowed object to ``eval``): the name is mapped to :func:`_history_buffer_method`,
which resolves only those four methods. ``weights_only=False`` is never used. mmengine writes checkpoints
non-atomically, so they serve resuming only, never results.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy._core.multiarray as np_multiarray
import torch
from mmengine.logging import HistoryBuffer
from safetensors.torch import save_file
from torch import nn

from ssld_core.atomic import atomic_write

#: the statistics methods mmengine's HistoryBuffer registers by default (pickled by reference)
_HISTORY_BUFFER_METHODS = ("min", "max", "current", "mean")


def _history_buffer_method(owner: object, name: str) -> Callable[..., object]:
    """Stands in for ``builtins.getattr`` while unpickling: only ``HistoryBuffer.<statistic>`` resolves."""
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f"refused getattr({owner!r}, {name!r}) in a checkpoint")


#: what an mmengine 0.10.7 checkpoint holds besides tensors and plain containers
MMENGINE_CHECKPOINT_GLOBALS: list[object] = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    type(np.dtype(np.float64)),  # HistoryBuffer's value history
    type(np.dtype(np.int64)),  # and its count history
    (np_multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
    (np_multiarray.scalar, "numpy._core.multiarray.scalar"),
    (_history_buffer_method, "builtins.getattr"),
]


def export_backbone(model: nn.Module, path: Path) -> Path:
    """Write ``model``'s state dict as safetensors, atomically (:mod:`ssld_core.atomic`)."""
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    return path


def resumable_checkpoint(mm_work_dir: Path) -> Path | None:
    """The checkpoint named by ``mm_work_dir/last_checkpoint`` if it lies inside ``mm_work_dir``."""
    marker = mm_work_dir / "last_checkpoint"
    if not marker.is_file():
        return None
    candidate = Path(marker.read_text().strip()).resolve()
    root = mm_work_dir.resolve()
    if root not in candidate.parents:
        raise ValueError(f"{marker} names {candidate}, outside this run's work dir {root}; refusing to load it")
    if not candidate.is_file():
        raise ValueError(f"{marker} names {candidate}, which does not exist (an interrupted save?)")
    return candidate


@contextlib.contextmanager
def allow_mmengine_checkpoints() -> Iterator[None]:
    """``torch.load(weights_only=True)`` inside this block also accepts mmengine's own checkpoint objects."""
    with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS):
        yield
