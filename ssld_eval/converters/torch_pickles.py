"""Read released PyTorch training checkpoints (ScaleKD, SimReg) without unrestricted unpickling.

Both are ``torch.save`` pickles of more than a state dict (design basis: shared/notes/released-checkpoints.md
§5-6), so plain ``torch.load(weights_only=True)`` refuses them:

- ScaleKD (mmpretrain / mmengine runner): ``message_hub`` holds mmengine ``HistoryBuffer`` objects (numpy
  arrays and scalars inside, their statistics methods pickled as ``getattr(HistoryBuffer, 'min')``). The
  allow-list is the one the suite resumes its own mmengine runs with,
  :data:`ssld_eval.mm.checkpoints.MMENGINE_CHECKPOINT_GLOBALS` (``builtins.getattr`` never allowed itself,
  only those four methods), plus the numpy 1 names of the same two numpy functions: ScaleKD's files were
  written under numpy 1 (Python 3.8), which pickles ``numpy.core.multiarray._reconstruct`` where numpy 2
  writes ``numpy._core.multiarray._reconstruct``.
- SimReg (``main.py``): ``opt`` is the run's ``argparse.Namespace``; a Namespace only sets attributes, so
  :data:`SIMREG_GLOBALS` allows exactly that class (skipping one entry of a pickle is not possible).

Everything else is refused by torch's weights-only unpickler before anything is called or constructed,
and the error names the file and the global. ``weights_only=False`` is never used.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

#: SimReg's checkpoints: the run's argparse options
SIMREG_GLOBALS: tuple[object, ...] = (argparse.Namespace,)

_SHOWN = 8
_REFUSED_GLOBAL = re.compile(r"unsupported(?: global:)? GLOBAL ([^\s,]+)", re.IGNORECASE)


class TorchCheckpointError(ValueError):
    """A PyTorch checkpoint that cannot be read or converted; the message names the file and the keys."""


def listing(keys: Sequence[str]) -> str:
    """The first keys of ``keys``, quoted, and how many there are in all."""
    shown = ", ".join(repr(k) for k in keys[:_SHOWN])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _SHOWN else shown


def mmengine_globals() -> list[object]:
    """What an mmengine checkpoint may hold besides tensors: the suite's own list plus numpy 1's names.

    Imported here, not at module level: mmengine is needed only when a ScaleKD file is read.
    """
    import numpy._core.multiarray as np_multiarray

    from ssld_eval.mm.checkpoints import MMENGINE_CHECKPOINT_GLOBALS

    return [
        *MMENGINE_CHECKPOINT_GLOBALS,
        (np_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (np_multiarray.scalar, "numpy.core.multiarray.scalar"),
    ]


def read_torch_checkpoint(path: Path, allowed: Sequence[object] | Callable[[], Sequence[object]] = ()) -> Any:
    """``torch.load(path, weights_only=True)`` with ``allowed`` (or what it returns) allow-listed by name."""
    source = str(path)
    if not Path(path).is_file():
        raise TorchCheckpointError(f"{source}: checkpoint file not found")
    globals_ = list(allowed() if callable(allowed) else allowed)
    try:
        with torch.serialization.safe_globals(globals_):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a refused global, RuntimeError for a truncated file, ...
        message = str(exc)
        refused = _REFUSED_GLOBAL.search(message)
        if refused:
            raise TorchCheckpointError(
                f"{source}: refusing to load global {refused.group(1)}: this checkpoint format may hold only "
                f"tensors, plain containers and the allow-listed objects; nothing was executed"
            ) from None
        first = message.strip().splitlines()[0] if message.strip() else ""
        raise TorchCheckpointError(
            f"{source}: not readable as a weights-only PyTorch checkpoint ({type(exc).__name__}: {first})"
        ) from None


def tensor_dict(obj: Any, source: str, what: str) -> dict[str, torch.Tensor]:
    """``obj`` as a str -> tensor dict, or an error naming the first entry that is not one."""
    if not isinstance(obj, Mapping):
        raise TorchCheckpointError(f"{source}: {what} must be a dict of tensors, found {type(obj).__name__}")
    bad = [repr(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise TorchCheckpointError(f"{source}: {what} holds entries that are not named tensors: {', '.join(bad[:8])}")
    return dict(obj)
