"""Writes small grey-scale image arrays as RGB ImageFolder trees (``<root>/<split>/<class>/<idx>.png``).

Why ImageFolder and PNG: every classification task in ssld-eval reads the same on-disk format a user's
own data set would have, so the built-in sets exercise the real code path. Images are upscaled with a
fixed bicubic filter and written with fixed PNG settings, so a seed gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

PNG_SETTINGS = {"format": "PNG", "compress_level": 6, "optimize": False}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitCounts:
    """Images per class in each split; every split is class-balanced."""

    train: int
    val: int
    test: int

    def per_split(self) -> dict[str, int]:
        return {"train": self.train, "val": self.val, "test": self.test}


def balanced_pick(
    labels: np.ndarray, per_class: Sequence[int], num_classes: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Disjoint class-balanced index sets: chunk ``k`` holds ``per_class[k]`` indices of every class.

    Each class's indices are shuffled once and cut into consecutive chunks, so chunks never overlap. The
    indices within a chunk are ordered by class, then by the shuffle.
    """
    chunks: list[list[np.ndarray]] = [[] for _ in per_class]
    for cls in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == cls))
        need = sum(per_class)
        if members.size < need:
            raise ValueError(f"class {cls} has {members.size} images, {need} are needed")
        start = 0
        for k, count in enumerate(per_class):
            chunks[k].append(members[start : start + count])
            start += count
    return [np.concatenate(parts) if parts else np.zeros(0, np.int64) for parts in chunks]


def upscale_rgb(image: np.ndarray, px: int) -> Image.Image:
    """A grey uint8 (H, W) image as an RGB ``px`` x ``px`` PIL image (bicubic, grey replicated)."""
    grey = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if grey.size != (px, px):
        grey = grey.resize((px, px), Image.Resampling.BICUBIC)
    return grey.convert("RGB")


def write_image_folder(
    split_root: Path,
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    class_names: Sequence[str],
    px: int,
) -> dict[str, int]:
    """Write ``images[indices]`` under ``split_root/<class name>/<nnnnn>.png``; return counts per class.

    File numbers run per class from 0 in the order of ``indices``; every class folder is created even
    when empty, so ImageFolder always sees the full class list.
    """
    counts = dict.fromkeys(class_names, 0)
    for name in class_names:
        (split_root / name).mkdir(parents=True, exist_ok=True)
    for index in indices:
        name = class_names[int(labels[index])]
        upscale_rgb(images[index], px).save(split_root / name / f"{counts[name]:05d}.png", **PNG_SETTINGS)
        counts[name] += 1
    return counts


def write_flat_folder(root: Path, images: np.ndarray, indices: np.ndarray, px: int) -> int:
    """Write unlabelled images as ``root/<nnnnn>.png`` (no class folders: labels are not shipped)."""
    root.mkdir(parents=True, exist_ok=True)
    for number, index in enumerate(indices):
        upscale_rgb(images[index], px).save(root / f"{number:05d}.png", **PNG_SETTINGS)
    return len(indices)


def write_classification_set(
    root: Path,
    images: np.ndarray,
    labels: np.ndarray,
    splits: dict[str, np.ndarray],
    class_names: Sequence[str],
    px: int,
) -> dict[str, int]:
    """Write each split of ``splits`` (name -> indices) as an ImageFolder; return images per split."""
    totals = {}
    for split, indices in splits.items():
        per_class = write_image_folder(root / split, images, labels, indices, class_names, px)
        totals[split] = sum(per_class.values())
    return totals
