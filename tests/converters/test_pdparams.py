"""The restricted ``.pdparams`` reader: what Paddle writes is read; anything that is not numpy arrays is refused."""

from __future__ import annotations

import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from ssld_eval.converters import PaddleCheckpointError, read_pdparams
from ssld_eval.converters.pdparams import BIG_PARAM_KEY, NAME_TABLE_KEY


def _write(path: Path, obj: object, protocol: int) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "bn._mean": rng.standard_normal(4).astype(np.float32),
        "fc.weight": rng.standard_normal((4, 10)).astype(np.float16),
        "step": np.array([3], dtype=np.int64),
    }


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_reads_what_paddle_save_writes(tmp_path: Path, protocol: int) -> None:
    """paddle.save's layout: arrays plus the name table (dropped, as paddle.load does)."""
    state = _state()
    saved = {**state, NAME_TABLE_KEY: {k: f"param_{i}" for i, k in enumerate(state)}}
    loaded = read_pdparams(_write(tmp_path / "m.pdparams", saved, protocol))
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)


def test_reads_a_numpy_1_pickle(tmp_path: Path) -> None:
    """numpy 1 wrote ``numpy.core.multiarray._reconstruct`` (numpy 2 writes ``numpy._core``); protocol 2's
    GLOBAL opcode is newline-terminated text, so the module name can be swapped in place."""
    state = _state()
    data = pickle.dumps(state, protocol=2)
    assert b"cnumpy._core.multiarray\n" in data
    path = tmp_path / "old.pdparams"
    path.write_bytes(data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2's numpy.core shim warns
        loaded = read_pdparams(path)
    np.testing.assert_array_equal(loaded["conv.weight"], state["conv.weight"])


def test_reads_an_ordered_dict(tmp_path: Path) -> None:
    loaded = read_pdparams(_write(tmp_path / "m.pdparams", OrderedDict(_state()), 2))
    assert list(loaded) == list(_state())


def test_joins_big_param_slices(tmp_path: Path) -> None:
    """``_unpack_saved_dict``'s layout (protocol 2/3, arrays over 2^30 bytes), built here at a small size."""
    big = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    flat = big.flatten()
    saved = {
        "small": np.ones(2, dtype=np.float32),
        "big@@.0": flat[:10],
        "big@@.1": flat[10:20],
        "big@@.2": flat[20:],
        BIG_PARAM_KEY: {"big": {"OriginShape": big.shape, "slices": ["big@@.0", "big@@.1", "big@@.2"]}},
    }
    loaded = read_pdparams(_write(tmp_path / "m.pdparams", saved, 2))
    assert sorted(loaded) == ["big", "small"]
    np.testing.assert_array_equal(loaded["big"], big)


def test_missing_slice_is_named(tmp_path: Path) -> None:
    info = {"big": {"OriginShape": (6,), "slices": ["big@@.0", "big@@.1"]}}
    saved = {"big@@.0": np.ones(3, np.float32), BIG_PARAM_KEY: info}
    path = _write(tmp_path / "m.pdparams", saved, 2)
    with pytest.raises(PaddleCheckpointError, match=r"m\.pdparams: key 'big' .*missing \['big@@\.1'\]"):
        read_pdparams(path)


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self):
        return (eval, (self.source,))


@pytest.mark.parametrize("protocol", [2, 4])
def test_refuses_os_system_without_running_it(tmp_path: Path, protocol: int) -> None:
    sentinel = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pdparams", {"w": np.ones(2), "x": _System(f"touch {sentinel}")}, protocol)
    with pytest.raises(PaddleCheckpointError, match=r"evil\.pdparams: refusing to load global (posix|os)\.system"):
        read_pdparams(path)
    assert not sentinel.exists()


def test_refuses_builtins_eval_without_running_it(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    payload = _Eval(f"__import__('pathlib').Path({str(sentinel)!r}).touch()")
    path = _write(tmp_path / "evil.pdparams", {"x": payload}, 4)
    with pytest.raises(PaddleCheckpointError, match=r"evil\.pdparams: refusing to load global builtins\.eval"):
        read_pdparams(path)
    assert not sentinel.exists()


def test_refuses_paddles_non_state_dict_tensor_pickle(tmp_path: Path) -> None:
    """``_pickle_save`` reduces a Tensor to ``(tuple, ((name, ndarray),))``: builtins.tuple is not allowed."""

    class _Tensor:
        def __reduce__(self):
            return (tuple, ((("linear_0.w_0", np.ones(2)),),))

    path = _write(tmp_path / "t.pdparams", {"w": _Tensor()}, 4)
    with pytest.raises(PaddleCheckpointError, match=r"global builtins\.tuple"):
        read_pdparams(path)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([np.ones(2)], "must unpickle to a dict, found list"),
        ({"w": "not an array"}, "key 'w' holds str"),
        ({"w": np.array([1, "a"], dtype=object)}, "key 'w' holds object"),
        ({3: np.ones(2)}, "key 3 is not a string"),
    ],
)
def test_refuses_what_is_not_a_state_dict(tmp_path: Path, obj: object, message: str) -> None:
    path = _write(tmp_path / "odd.pdparams", obj, 2)
    with pytest.raises(PaddleCheckpointError, match=rf"odd\.pdparams: .*{message}"):
        read_pdparams(path)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.pdparams"
    truncated.write_bytes(pickle.dumps(_state(), protocol=4)[:100])
    with pytest.raises(PaddleCheckpointError, match=r"cut\.pdparams: not a readable \.pdparams pickle"):
        read_pdparams(truncated)
    with pytest.raises(PaddleCheckpointError, match=r"absent\.pdparams: cannot read"):
        read_pdparams(tmp_path / "absent.pdparams")


def test_a_torch_checkpoint_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(PaddleCheckpointError, match=r"model\.pth: "):
        read_pdparams(path)
