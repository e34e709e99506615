"""The raw-material readers: idx parsing, the numpy-only unpickler, the packaged arrays."""

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from ssld_eval.data import sources


class _RunsAShell:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_os_system():
    payload = pickle.dumps(_RunsAShell())
    with pytest.raises(sources.UnsafePickleError, match=r"system.*only numpy arrays"):
        sources.load_numpy_pickle(payload)


def test_unpickler_refuses_non_array_objects():
    with pytest.raises(sources.UnsafePickleError, match="expected a numpy array"):
        sources.load_numpy_pickle(pickle.dumps({"a": 1}))


def test_unpickler_rebuilds_arrays():
    array = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert np.array_equal(sources.load_numpy_pickle(pickle.dumps(array, protocol=4)), array)
    grey = np.zeros((2, 28, 28), np.uint8)
    assert sources.load_numpy_pickle(pickle.dumps(grey)).shape == (2, 28, 28)


def test_read_idx_round_trip(tmp_path: Path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 2, 3, 4) + images.tobytes()))
    assert np.array_equal(sources.read_idx(path), images)


def test_read_idx_rejects_truncated(tmp_path: Path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(struct.pack(">II", 0x801, 10) + b"\x00" * 3))
    with pytest.raises(ValueError, match="holds 3 bytes"):
        sources.read_idx(path)


def test_missing_fashion_file_says_how_to_install(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        sources.read_idx(tmp_path / "train-images-idx3-ubyte.gz")


def test_packaged_arrays_have_the_documented_shapes():
    images, labels = sources.load_fashion_mnist("t10k")
    assert images.shape == (10000, 28, 28) and np.bincount(labels).tolist() == [1000] * 10
    animals, animal_labels = sources.load_animal_mnist()
    assert animals.shape == (10000, 28, 28) and np.bincount(animal_labels).tolist() == [1000] * 10
    digits, digit_labels = sources.load_digits_images()
    assert digits.shape[1:] == (8, 8) and digits.max() == 255 and set(digit_labels.tolist()) == set(range(10))
    assert not images.flags.writeable  # cached arrays are shared between sets


def test_backgrounds_are_rgb_and_exclude_the_cat_photo():
    photos = sources.load_backgrounds()
    assert len(photos) == len(sources.BACKGROUNDS)
    assert all(photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8 for _, photo in photos)
    assert not any("chelsea" in name for name, _ in photos)
