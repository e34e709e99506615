"""The teacher-output cache: run the teacher once, replay its outputs for the whole training run.

For every training image the cache stores ``views`` augmented crops as their parameters (crop box and flip,
int32) and the teacher's outputs on them (whatever the method's ``teacher_targets`` returns: top-k
probabilities in fp16 with int32 class indices, or fp16 features). Training re-applies a stored crop to the
raw image, so the student sees exactly the pixels the teacher saw, and never runs the teacher.

On disk: one ``.npy`` file per field and chunk of images (memory-mapped when read, so data-loader workers
share the pages) and ``manifest.json``, written last and atomically, holding the key, the shapes and the
bytes per image. The key names the teacher's weights, the data (one manifest hash per split, in order), the
augmentation settings and the method's :meth:`~distill.methods.base.DistillMethod.cache_signature`; a cache
whose key differs is refused. Two relaxations let runs share one cache: training seeds do not enter the key,
and a cache built over splits ``[train, extra_unlabeled]`` serves a run over ``[train]`` alone (its images are
a prefix of the cache's, with the same crops), e.g. KD and SSLD from one teacher.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from distill.data import ImageSet
from distill.loader import STREAM_CACHE, apply_crop, sample_crop
from distill.recipe import CacheConfig, DataConfig
from ssld_core.atomic import atomic_write_text

CACHE_FORMAT = 1
MANIFEST = "manifest.json"
PARAMS_FIELD = "crop_params"


class CacheMismatchError(ValueError):
    """A cache built for another teacher, data set, augmentation or method signature."""


def cache_key(teachers: list[dict[str, Any]], split_sha256: list[str], data: DataConfig, cache: CacheConfig,
              signature: dict[str, Any]) -> dict[str, Any]:
    """``split_sha256``: the manifest hash of each split the run trains on, in order."""
    return {
        "format": CACHE_FORMAT,
        "teacher": [{"arch": t["arch"], "weights_sha256": t["weights_sha256"]} for t in teachers],
        "data": list(split_sha256),
        "augmentation": {"image_size": data.image_size, "scale": list(data.scale), "ratio": list(data.ratio),
                         "hflip": data.hflip, "mean": list(data.mean), "std": list(data.std),
                         "views": cache.views, "seed": cache.seed},
        "targets": signature,
    }


class TeacherCache:
    """A complete cache on disk; :meth:`lookup` returns a view's crop parameters and teacher outputs."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.views = int(manifest["key"]["augmentation"]["views"])
        self.num_images = int(manifest["num_images"])
        self.starts = np.array([c["start"] for c in manifest["chunks"]])
        self._arrays: dict[tuple[int, str], np.ndarray] = {}

    @property
    def bytes_per_image(self) -> float:
        return float(self.manifest["bytes_per_image"])

    def __getstate__(self) -> dict[str, Any]:  # memory maps are reopened in each worker process
        return {**self.__dict__, "_arrays": {}}

    def _array(self, chunk: int, name: str) -> np.ndarray:
        array = self._arrays.get((chunk, name))
        if array is None:
            path = self.directory / self.manifest["chunks"][chunk]["files"][name]
            array = self._arrays[(chunk, name)] = np.load(path, mmap_mode="r")
        return array

    def lookup(self, index: int, view: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not 0 <= index < self.num_images:
            raise IndexError(f"teacher cache {self.directory}: image {index} of {self.num_images}")
        chunk = int(np.searchsorted(self.starts, index, side="right")) - 1
        row = index - int(self.starts[chunk])
        fields = {name: self._array(chunk, name)[row, view] for name in self.manifest["fields"]}
        return self._array(chunk, PARAMS_FIELD)[row, view], fields

    @classmethod
    def open(cls, directory: Path, key: dict[str, Any]) -> TeacherCache | None:
        """The cache in ``directory`` if complete and built under ``key``; None if absent; refused if other.

        The cache's splits may extend the run's (``data`` a prefix of the cached list)."""
        path = directory / MANIFEST
        if not path.is_file():
            return None
        manifest = json.loads(path.read_text())
        stored = manifest.get("key", {})
        differing = [part for part in sorted(set(stored) | set(key)) if stored.get(part) != key.get(part)]
        cached_splits = stored.get("data") or []
        if "data" in differing and cached_splits[:len(key["data"])] == key["data"]:
            differing.remove("data")
        if differing:
            details = "; ".join(f"{part}: cached {stored.get(part)!r}, wanted {key.get(part)!r}" for part in differing)
            raise CacheMismatchError(
                f"teacher cache {directory} was built for a different {', '.join(differing)} and is refused "
                f"({details}); point cache.dir elsewhere or delete it")
        return cls(directory, manifest)


class _ViewsDataset(Dataset):
    """All ``views`` stored crops of one image (the crop of view ``v`` is seeded by (seed, image, v))."""

    def __init__(self, images: list[ImageSet], data: DataConfig, cache: CacheConfig) -> None:
        self.items = [(s, i) for s in images for i in range(len(s))]
        self.data, self.cache = data, cache

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image_set, local = self.items[index]
        image = image_set.load(local)
        params = np.stack([
            sample_crop(np.random.default_rng([self.cache.seed, STREAM_CACHE, index, view]),
                        image.shape[0], image.shape[1], self.data)
            for view in range(self.cache.views)])
        crops = torch.stack([apply_crop(image, p, self.data.image_size) for p in params])
        return {"crops": crops, "params": torch.from_numpy(params)}


def _storable(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        return tensor.to(torch.float16).numpy()
    return tensor.to(torch.int32).numpy()


def build_cache(directory: Path, key: dict[str, Any], images: list[ImageSet], data: DataConfig,
                cache: CacheConfig, targets_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                prepare: Callable[[torch.Tensor], torch.Tensor], num_workers: int = 0,
                log: Callable[[str], None] = print) -> TeacherCache:
    """Run ``targets_fn`` (the method's ``teacher_targets``) on every stored view and write the cache.

    ``prepare`` turns a uint8 crop batch into the teacher's input (device, normalisation, memory format).
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)
    dataset = _ViewsDataset(images, data, cache)
    per_batch = max(1, cache.batch_size // cache.views)
    started = time.perf_counter()
    chunks, fields, total_bytes = [], {}, 0
    for chunk_id, start in enumerate(range(0, len(dataset), cache.chunk_images)):
        stop = min(start + cache.chunk_images, len(dataset))
        subset = torch.utils.data.Subset(dataset, range(start, stop))
        outputs: dict[str, list[np.ndarray]] = {PARAMS_FIELD: []}
        for batch in DataLoader(subset, batch_size=per_batch, num_workers=num_workers):
            crops = batch["crops"]
            n = crops.shape[0]
            with torch.no_grad():
                targets = targets_fn(prepare(crops.flatten(0, 1)))
            outputs[PARAMS_FIELD].append(batch["params"].numpy())
            for name, value in targets.items():
                array = _storable(value)
                outputs.setdefault(name, []).append(array.reshape(n, cache.views, *array.shape[1:]))
        files = {}
        for name, parts in outputs.items():
            array = np.concatenate(parts)
            if name != PARAMS_FIELD:
                fields[name] = {"dtype": str(array.dtype), "shape": list(array.shape[2:])}
            files[name] = f"chunk{chunk_id:05d}.{name}.npy"
            np.save(directory / files[name], array)
            total_bytes += (directory / files[name]).stat().st_size
        chunks.append({"start": start, "count": stop - start, "files": files})
        log(f"teacher cache: {stop}/{len(dataset)} images")
    manifest = {
        "key": key, "num_images": len(dataset), "fields": fields, "chunks": chunks,
        "bytes_total": total_bytes, "bytes_per_image": total_bytes / len(dataset),
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=1))
    return TeacherCache(directory, manifest)
