"""Read a PaddlePaddle ``.pdparams`` state dict without Paddle and without unrestricted unpickling.

What a ``.pdparams`` is (Paddle ``python/paddle/framework/io.py::_legacy_save`` and ``io_utils.py``):
``paddle.save(layer.state_dict(), path, protocol)`` (protocol 2 to 4, default 4) converts every tensor to a
numpy array (``_build_saved_state_dict``), adds ``"StructuredToParameterName@@"`` (structured name -> Paddle's
internal name such as ``conv2d_0.w_0``), and, under protocol 2 or 3 only, splits arrays of more than 2^30 bytes
into ``key@@.N`` slices listed under ``"UnpackBigParamInfor@@"`` (``_unpack_saved_dict``); then it calls plain
``pickle.dump``. fluid's older ``save_dygraph`` wrote the same dict with protocol 2. ``paddle.load`` reads it
with ``pickle.load(f, encoding="latin1")`` and joins the slices (``_pack_loaded_dict``).

So a state-dict pickle needs nothing but numpy array reconstruction, and that is all this reader allows:
anything else (``builtins.eval``, which Paddle's non-state-dict path uses for LoDTensors; ``builtins.tuple``,
which it uses for Tensors; ``os.system``; ...) is refused before it is called, with an error naming the file
and the global. ``torch.load`` cannot read these files at all (no torch magic number).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

NAME_TABLE_KEY = "StructuredToParameterName@@"
BIG_PARAM_KEY = "UnpackBigParamInfor@@"

# (module, name) pairs a state-dict pickle may load: array reconstruction under numpy 1 and 2, protocol 2's
# way of writing bytes, and an OrderedDict where the state dict was one.
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("collections", "OrderedDict"),
    }
)


class PaddleCheckpointError(ValueError):
    """A Paddle checkpoint that cannot be read or converted; the message names the file and the key at fault."""


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` resolves only :data:`ALLOWED_GLOBALS`."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise PaddleCheckpointError(
                f"{self._source}: refusing to load global {module}.{name}: a .pdparams state dict holds only "
                f"numpy arrays (allowed: {', '.join(sorted(f'{m}.{n}' for m, n in ALLOWED_GLOBALS))})"
            )
        return super().find_class(module, name)


def _join_big_params(state: dict[str, Any], source: str) -> None:
    """Undo ``_unpack_saved_dict``: concatenate the ``key@@.N`` slices and restore the original shape."""
    info = state.pop(BIG_PARAM_KEY)
    if not isinstance(info, Mapping):
        raise PaddleCheckpointError(f"{source}: {BIG_PARAM_KEY!r} must be a dict, found {type(info).__name__}")
    for key, entry in info.items():
        try:
            slice_names = list(entry["slices"])
            shape = tuple(int(n) for n in entry["OriginShape"])
        except (KeyError, TypeError, ValueError):
            raise PaddleCheckpointError(
                f"{source}: {BIG_PARAM_KEY} entry for {key!r} lacks 'slices' or 'OriginShape': {entry!r}"
            ) from None
        missing = [name for name in slice_names if name not in state]
        if missing or not slice_names:
            raise PaddleCheckpointError(f"{source}: key {key!r} is split into slices {slice_names}; missing {missing}")
        parts = [state.pop(name) for name in slice_names]
        if not all(isinstance(part, np.ndarray) and part.ndim == 1 for part in parts):
            raise PaddleCheckpointError(f"{source}: the slices of key {key!r} must be 1-d numpy arrays")
        joined = np.concatenate(parts)
        if joined.size != int(np.prod(shape)):
            raise PaddleCheckpointError(
                f"{source}: the slices of key {key!r} hold {joined.size} values, its OriginShape {shape} needs "
                f"{int(np.prod(shape))}"
            )
        state[key] = joined.reshape(shape)


def read_pdparams(path: Path) -> dict[str, np.ndarray]:
    """The state dict in a ``.pdparams`` file: structured name -> numpy array, in file order.

    The name table is dropped and big-parameter slices are joined, as ``paddle.load`` does.
    """
    source = str(path)
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, source).load()
    except PaddleCheckpointError:
        raise
    except OSError as exc:
        raise PaddleCheckpointError(f"{source}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # a truncated or non-pickle file: pickle raises many types
        reason = f"{type(exc).__name__}: {exc}"
        raise PaddleCheckpointError(f"{source}: not a readable .pdparams pickle ({reason})") from None
    if not isinstance(obj, dict):
        raise PaddleCheckpointError(
            f"{source}: a .pdparams state dict must unpickle to a dict, found {type(obj).__name__}"
        )
    state = dict(obj)
    state.pop(NAME_TABLE_KEY, None)
    if BIG_PARAM_KEY in state:
        _join_big_params(state, source)
    for key, value in state.items():
        if not isinstance(key, str):
            raise PaddleCheckpointError(f"{source}: state-dict key {key!r} is not a string")
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise PaddleCheckpointError(f"{source}: key {key!r} holds {kind}, not a numeric numpy array")
    return state
