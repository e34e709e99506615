"""What a classification data set is to the transfer tasks: named splits of images with targets.

A split is an :class:`ImageSource`: ``len``, ``targets`` (all of them, known without decoding an image),
``load(i)`` (a PIL RGB image; raises when the file cannot be opened or decoded) and ``ident(i)`` (how a
bad image is named in the result record). Tasks never replace a bad image by another one: they drop it
and list it.

Targets are class indices ``(N,)``, or for multi-label sets (PASCAL VOC2007) a matrix ``(N, C)`` with
+1 present, 0 absent and -1 "difficult only" (ignored by the metric and the loss for that class).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from ssld_core.images import image_files
from ssld_eval.data_identity import folder_identity


class DatasetLayoutError(ValueError):
    """A data root that is missing or not laid out as the data set expects; the message shows the layout."""


class BadImagesError(ValueError):
    """Raised when undecodable images are made fatal (``fail_on_bad_images``); lists them."""


class ImageSource(Protocol):
    targets: torch.Tensor

    def __len__(self) -> int: ...

    def load(self, index: int) -> Image.Image: ...

    def ident(self, index: int) -> str: ...


@dataclass(frozen=True)
class FileSource:
    """Images stored as files; identified in records by their path relative to ``root``."""

    paths: tuple[Path, ...]
    targets: torch.Tensor
    root: Path

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.targets):
            raise ValueError(f"{len(self.paths)} paths but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Image.Image:
        with Image.open(self.paths[index]) as image:
            return image.convert("RGB")  # forces the full decode: a truncated file fails here

    def ident(self, index: int) -> str:
        path = self.paths[index]
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)


@dataclass(frozen=True)
class ArraySource:
    """Images held in a uint8 array (N, H, W, 3), as CIFAR ships them."""

    images: np.ndarray
    targets: torch.Tensor
    name: str

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[index]).convert("RGB")

    def ident(self, index: int) -> str:
        return f"{self.name}[{index}]"


@dataclass(frozen=True)
class ClassificationData:
    """A loaded data set: its splits (``train``, ``test`` and, when it has one, ``val``) and its metric."""

    name: str
    classes: tuple[str, ...]
    splits: Mapping[str, ImageSource]
    metric: str  # primary metric: top1, mean_per_class or map11 (see ssld_eval.probe.metrics)
    files_root: Path  # the folder whose files make up the data (hashed for the feature cache)
    multilabel: bool = False
    val_source: str = "official"  # or "none": the tasks hold out part of train
    native_size: int | None = None  # side of every image when the set guarantees one (the built-in sets: 64)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def idents(self, split: str, indices: torch.Tensor) -> list[str]:
        """How the samples at ``indices`` of ``split`` are named (the ids per-sample outcomes are paired by)."""
        source = self.splits[split]
        return [source.ident(int(i)) for i in indices]

    def fingerprint(self, cache_dir: Path | None = None) -> str:
        """The identity of the files the set is read from, as in the record key
        (:func:`ssld_eval.data_identity.folder_identity`)."""
        return folder_identity(self.files_root, cache_dir)


def scan_class_folders(split_dir: Path) -> dict[str, list[Path]]:
    """``split_dir/<class>/<image>`` -> {class: sorted image paths} (hidden entries skipped)."""
    classes = {}
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        classes[class_dir.name] = image_files(class_dir)
    return classes


def labels_tensor(labels: Sequence[int]) -> torch.Tensor:
    return torch.as_tensor(list(labels), dtype=torch.long)


@dataclass(frozen=True)
class ConcatSource:
    """Several splits as one source (fine-tuning on train + val)."""

    parts: tuple[ImageSource, ...]

    @cached_property
    def targets(self) -> torch.Tensor:
        return torch.cat([source.targets for source in self.parts])

    def __len__(self) -> int:
        return sum(len(source) for source in self.parts)

    def _locate(self, index: int) -> tuple[ImageSource, int]:
        for source in self.parts:
            if index < len(source):
                return source, index
            index -= len(source)
        raise IndexError(index)

    def load(self, index: int) -> Image.Image:
        source, inner = self._locate(index)
        return source.load(inner)

    def ident(self, index: int) -> str:
        source, inner = self._locate(index)
        return source.ident(inner)
