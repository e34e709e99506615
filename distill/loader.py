"""Deterministic sampling and augmentation: what makes a killed-and-resumed run bitwise equal to an unbroken one.

Every random choice is a pure function of the recipe's seed and a position, never of a process's RNG state:
the order of epoch ``e`` is a permutation seeded by (seed, stage, e); the crop and flip of sample ``i`` in
epoch ``e`` come from a generator seeded by (seed, stage, e, i). So ``num_workers`` 0 and 2 produce the same
batches, a run resumed at step ``s`` continues with exactly the batches an unbroken run would have drawn
(the sampler starts at ``s``), and every process of a multi-process run derives the global batch the same
way and takes its own contiguous slice of it. torch's ``DistributedSampler`` pads and cannot start
mid-epoch, hence :class:`StepSampler`.

Images travel as ``uint8`` (N, 3, S, S) tensors and are normalised on the training device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Dataset, Sampler

from distill.data import ImageSet
from distill.recipe import DataConfig

#: generator streams, so that the orders, crops and cached views of one seed are independent
STREAM_ORDER, STREAM_AUGMENT, STREAM_CACHE = 1, 2, 3


def sample_crop(rng: np.random.Generator, height: int, width: int, cfg: DataConfig) -> np.ndarray:
    """Random-resized-crop box and flip as int32 ``[top, left, h, w, flip]`` (the algorithm of
    torchvision's ``RandomResizedCrop.get_params``, drawn from ``rng`` instead of torch's global RNG)."""
    area = height * width
    log_ratio = (math.log(cfg.ratio[0]), math.log(cfg.ratio[1]))
    box = None
    for _ in range(10):
        target_area = area * rng.uniform(cfg.scale[0], cfg.scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            box = (int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w)
            break
    if box is None:  # fall back to the central crop with the aspect clamped to the range
        in_ratio = width / height
        if in_ratio < cfg.ratio[0]:
            w, h = width, round(width / cfg.ratio[0])
        elif in_ratio > cfg.ratio[1]:
            h, w = height, round(height * cfg.ratio[1])
        else:
            w, h = width, height
        box = ((height - h) // 2, (width - w) // 2, h, w)
    flip = int(rng.random() < cfg.hflip)
    return np.array([*box, flip], dtype=np.int32)


def apply_crop(image: np.ndarray, params: np.ndarray, size: int) -> torch.Tensor:
    """Crop ``[top, left, h, w, flip]`` of an (H, W, 3) uint8 image, resized to (3, size, size) uint8."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    top, left, h, w, flip = (int(v) for v in params)
    out = TF.resized_crop(tensor, top, left, h, w, [size, size], antialias=True)
    return out.flip(-1).contiguous() if flip else out.contiguous()


def eval_view(image: np.ndarray, size: int, crop_pct: float) -> torch.Tensor:
    """Resize the short side to ``size / crop_pct`` and take the central ``size`` crop (timm's eval)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    tensor = TF.resize(tensor, [math.floor(size / crop_pct)], antialias=True)
    return TF.center_crop(tensor, [size, size]).contiguous()


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 (N, 3, H, W) on the device -> normalised float32."""
    out = (images.float().div_(255.0) - mean) / std
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


class CachedViews(Protocol):
    """What :class:`TrainDataset` needs from a teacher cache: the stored crop of a view and its targets."""

    views: int

    def lookup(self, index: int, view: int) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


class TrainDataset(Dataset):
    """Training samples keyed by ``(index, epoch)``; the crop is a function of (seed, stage, epoch, index).

    With a teacher cache the sample replays one of the stored views (chosen by the same seeded generator)
    and carries the teacher's stored outputs as ``cached.<name>``.
    """

    def __init__(self, images: list[ImageSet], cfg: DataConfig, seed: int, stage: int,
                 cache: CachedViews | None = None) -> None:
        self.sets = images
        self.offsets = np.cumsum([0] + [len(s) for s in images])
        self.cfg = cfg
        self.seed = seed
        self.stage = stage
        self.cache = cache

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[ImageSet, int]:
        which = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.sets[which], index - int(self.offsets[which])

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, epoch = key
        image_set, local = self.locate(index)
        image = image_set.load(local)
        rng = np.random.default_rng([self.seed, STREAM_AUGMENT, self.stage, epoch, index])
        sample: dict[str, Any] = {"label": image_set.labels[local], "index": index}
        if self.cache is None:
            params = sample_crop(rng, image.shape[0], image.shape[1], self.cfg)
        else:
            view = int(rng.integers(self.cache.views))
            params, targets = self.cache.lookup(index, view)
            sample.update({f"cached.{k}": torch.from_numpy(np.array(v)) for k, v in targets.items()})
        sample["image"] = apply_crop(image, params, self.cfg.image_size)
        return sample


class EvalDataset(Dataset):
    def __init__(self, images: ImageSet, cfg: DataConfig) -> None:
        self.images = images
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = eval_view(self.images.load(index), self.cfg.image_size, self.cfg.eval_crop_pct)
        return {"image": image, "label": self.images.labels[index]}


class StepSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, epoch)`` keys for optimiser steps ``start_step .. end_step - 1`` of one process.

    Step ``s`` is position ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch`` (the last partial batch of
    an epoch is dropped); the global batch is the next ``global_batch`` indices of that epoch's permutation,
    and process ``rank`` takes the ``rank``-th contiguous slice of it.
    """

    def __init__(self, num_samples: int, global_batch: int, seed: int, stage: int, start_step: int,
                 end_step: int, rank: int = 0, world_size: int = 1) -> None:
        if global_batch % world_size:
            raise ValueError(f"train.batch_size {global_batch} is not divisible by {world_size} processes")
        if num_samples < global_batch:
            raise ValueError(f"the data has {num_samples} training images, fewer than train.batch_size "
                             f"{global_batch}")
        self.num_samples, self.global_batch = num_samples, global_batch
        self.local_batch = global_batch // world_size
        self.seed, self.stage, self.rank = seed, stage, rank
        self.start_step, self.end_step = start_step, end_step
        self.steps_per_epoch = num_samples // global_batch

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, index within the epoch) of the first sample of ``step``."""
        epoch, batch = divmod(step, self.steps_per_epoch)
        return epoch, batch * self.global_batch

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, STREAM_ORDER, self.stage, epoch]).permutation(self.num_samples)

    def __len__(self) -> int:
        return (self.end_step - self.start_step) * self.local_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, order = -1, np.empty(0, dtype=np.int64)
        for step in range(self.start_step, self.end_step):
            step_epoch, first = self.position(step)
            if step_epoch != epoch:
                epoch, order = step_epoch, self.order(step_epoch)
            begin = first + self.rank * self.local_batch
            for index in order[begin:begin + self.local_batch]:
                yield int(index), epoch


def split_batch(batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor] | None]:
    """A collated sample dict -> (uint8 images, labels, cached targets or None)."""
    cached = {k.removeprefix("cached."): v for k, v in batch.items() if k.startswith("cached.")}
    return batch["image"], torch.as_tensor(batch["label"]), cached or None
