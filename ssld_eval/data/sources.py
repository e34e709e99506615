"""Readers of the raw material that installed packages carry: nothing here touches the network.

Why hand-written readers: the Animal-MNIST package imports TensorFlow on import and ships its arrays as
pickles, and the Fashion-MNIST Debian package ships raw idx files. Reading them directly keeps the build
light, and the pickles go through :class:`NumpyOnlyUnpickler`, which can rebuild an ``ndarray`` and
nothing else, so a tampered file cannot run code.

Every loader is cached and returns read-only arrays, so sets built in one process share one decoded copy.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import pickle
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "t-shirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)
ANIMAL_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
DIGIT_CLASSES = tuple(str(d) for d in range(10))

#: photos and textures used as composite backgrounds: (module, loader name). ``chelsea`` is left out on
#: purpose: it shows a real cat, an unannotated instance of one of the animal classes.
BACKGROUNDS = (
    ("skimage", "astronaut"), ("skimage", "brick"), ("skimage", "camera"), ("skimage", "coffee"),
    ("skimage", "coins"), ("skimage", "grass"), ("skimage", "gravel"), ("skimage", "hubble_deep_field"),
    ("skimage", "immunohistochemistry"), ("skimage", "moon"), ("skimage", "retina"), ("skimage", "rocket"),
    ("sklearn", "china.jpg"), ("sklearn", "flower.jpg"),
)

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the numpy array allow-list."""


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals an ndarray pickle needs, under both numpy 1 and numpy 2 module names."""
    core = getattr(np, "_core", None) or np.core
    reconstruct = core.multiarray._reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds plain numpy arrays; any other global (``os.system``, ``builtins.eval``...) is refused."""

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: only numpy arrays may be unpickled here"
            ) from None


def load_numpy_pickle(data: bytes) -> np.ndarray:
    """Unpickle ``data`` with :class:`NumpyOnlyUnpickler`; the result must be an ndarray."""
    obj = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    if not isinstance(obj, np.ndarray):
        raise UnsafePickleError(f"expected a numpy array, the pickle holds {type(obj).__name__}")
    return obj


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped idx file (MNIST format): big-endian magic, dimension sizes, then uint8 data."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: install the Fashion-MNIST Debian package with "
            "'apt-get install dataset-fashion-mnist' (scripts/setup.sh does it)"
        )
    raw = gzip.decompress(path.read_bytes())
    (magic,) = struct.unpack(">I", raw[:4])
    if magic not in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
        raise ValueError(f"{path}: not an unsigned-byte idx file (magic {magic:#010x})")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} bytes")
    return data.reshape(dims)


@lru_cache(maxsize=2)
def load_fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``train`` (60000) or ``t10k`` (10000): uint8 images (N, 28, 28) and labels (N,)."""
    if split not in ("train", "t10k"):
        raise ValueError(f"split must be 'train' or 't10k', got {split!r}")
    images = read_idx(FASHION_DIR / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_DIR / f"{split}-labels-idx1-ubyte.gz")
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f"Fashion-MNIST {split}: images {images.shape} do not fit labels {labels.shape}")
    return _read_only(images.copy()), _read_only(labels.astype(np.int64))


def package_dir(module: str) -> Path:
    """Where an installed package lives, found without importing it (animal_mnist imports TensorFlow)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {module!r} is not installed (pip install {module.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def load_animal_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Animal-MNIST v3: uint8 white-on-black silhouettes (10000, 28, 28) and labels 0..9 (10000,)."""
    folder = package_dir("animal_mnist") / "data" / "Animal_MNIST"
    arrays = []
    for name in ("animal_data_version_3.gz", "animal_label_version_3.gz"):
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: reinstall the PyPI package animal-mnist")
        arrays.append(load_numpy_pickle(gzip.decompress(path.read_bytes())))
    images, labels = arrays
    if images.shape != (10000, 28, 28) or images.dtype != np.uint8 or labels.shape != (10000,):
        raise ValueError(f"Animal-MNIST: unexpected arrays {images.shape} {images.dtype} / {labels.shape}")
    if labels.min() < 0 or labels.max() >= len(ANIMAL_CLASSES):
        raise ValueError(f"Animal-MNIST: labels outside 0..{len(ANIMAL_CLASSES) - 1}")
    return _read_only(images.copy()), _read_only(labels.astype(np.int64))


@lru_cache(maxsize=1)
def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits, rescaled from 0..16 to uint8 0..255: (N, 8, 8), (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return _read_only(images), _read_only(bunch.target.astype(np.int64))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        image = (image.astype(np.float64) * (255.0 / max(float(image.max()), 1.0))).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


@lru_cache(maxsize=1)
def load_backgrounds() -> tuple[tuple[str, np.ndarray], ...]:
    """Real photos and textures, RGB uint8, in the fixed order of :data:`BACKGROUNDS`."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = []
    for module, name in BACKGROUNDS:
        image = getattr(skimage.data, name)() if module == "skimage" else load_sample_image(name)
        photos.append((f"{module}:{name}", _read_only(_as_rgb(np.asarray(image)))))
    return tuple(photos)
