"""The images a run sees: ImageFolder splits plus an optional folder of unlabeled images.

Every image is decoded and content-hashed once up front (``data.verify``), so that a corrupted or truncated
file is found before training starts: with ``on_bad_image: fail`` the run stops naming the file, with
``skip`` it is left out, counted and listed in ``student.json``; it is never silently replaced by another
image. The hashes make the data manifest, which names the data set in the record and keys the teacher cache.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from distill.recipe import Recipe
from ssld_core.images import IMAGE_SUFFIXES, image_files


class DataError(ValueError):
    """A data set that cannot be used as given; the message names the file or folder at fault."""


class BadImageError(DataError):
    """An image file that cannot be decoded (``--on-bad-image fail``)."""


def decode_image(data: bytes | str | Path, name: str | Path) -> np.ndarray:
    """An RGB ``uint8`` array (H, W, 3); any decoding failure is a :class:`BadImageError` naming ``name``."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            array = np.array(image.convert("RGB"))  # convert() forces the full decode; a writable copy
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError ...
        raise BadImageError(f"{name}: cannot be decoded ({type(exc).__name__}: {exc})") from exc
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise BadImageError(f"{name}: decoded to an empty image {array.shape}")
    return array


def _images_under(folder: Path) -> list[Path]:
    return image_files(folder)  # the one scanner transfer uses too: one folder, the same images


def scan_imagefolder(root: Path, classes: list[str] | None, num_classes: int | None,
                     where: str) -> tuple[list[str], list[Path], list[int]]:
    """``root/<class>/**/*.png`` -> (classes, paths, labels). ``classes`` given: folders must be among them."""
    if not root.is_dir():
        raise DataError(f"{where} {root}: no such folder")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"{where} {root}: no class folders (expected {root}/<class>/<image>)")
    classes = folders if classes is None else classes
    index = {name: i for i, name in enumerate(classes)}
    paths: list[Path] = []
    labels: list[int] = []
    for name in folders:
        files = _images_under(root / name)
        if name not in index:
            first = files[0] if files else root / name
            raise DataError(f"{first}: class folder {name!r} is not a class of the training split {classes}")
        label = index[name]
        if num_classes is not None and label >= num_classes and files:
            raise DataError(f"{files[0]}: label {label} (class {name!r}) is out of range for "
                            f"data.num_classes={num_classes}")
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"{where} {root}: no images with extensions {IMAGE_SUFFIXES}")
    return classes, paths, labels


@dataclass
class ImageSet:
    """One split: files, labels (-1 = unlabeled), optionally the decoded images, and its manifest hash."""

    name: str
    root: Path
    paths: list[Path]
    labels: list[int]
    manifest_hash: str
    arrays: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> np.ndarray:
        if self.arrays is not None:
            return self.arrays[index]
        return decode_image(self.paths[index], self.paths[index])


def _verified(name: str, root: Path, paths: list[Path], labels: list[int], verify: bool, preload: bool,
              policy: str, bad: list[dict[str, Any]]) -> ImageSet:
    """Decode and hash every file (``verify``), apply the bad-image policy, and hash the manifest."""
    keep_paths, keep_labels, arrays, lines = [], [], [], []
    for path, label in zip(paths, labels, strict=True):
        relative = path.relative_to(root).as_posix()
        if verify or preload:
            data = path.read_bytes()
            try:
                array = decode_image(data, path)
            except BadImageError as exc:
                if policy == "fail":
                    raise BadImageError(f"{exc} (split {name}; use --on-bad-image skip to leave it out)") from exc
                bad.append({"split": name, "path": str(path), "error": str(exc).split(": ", 1)[-1]})
                continue
            digest = hashlib.sha256(data).hexdigest()
            if preload:
                arrays.append(array)
        else:
            stat = path.stat()
            digest = f"{stat.st_size}:{stat.st_mtime_ns}"
        keep_paths.append(path)
        keep_labels.append(label)
        lines.append(f"{relative}\t{label}\t{digest}\n")
    if not keep_paths:
        raise DataError(f"split {name} {root}: every image is unreadable")
    manifest_hash = hashlib.sha256("".join(lines).encode()).hexdigest()
    return ImageSet(name, root, keep_paths, keep_labels, manifest_hash, arrays if preload else None)


@dataclass
class DataSplits:
    classes: list[str]
    num_classes: int
    train: ImageSet
    extra: ImageSet | None
    val: ImageSet | None
    test: ImageSet | None
    bad_images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def eval_set(self) -> ImageSet | None:
        """Where final metrics come from: test if present, else val."""
        return self.test if self.test is not None else self.val

    def train_hashes(self) -> list[str]:
        """Manifest hashes of the splits the training stage (and so the teacher cache) covers, in order."""
        return [s.manifest_hash for s in (self.train, self.extra) if s is not None]

    def manifest(self) -> dict[str, Any]:
        splits = {s.name: {"root": str(s.root), "images": len(s), "sha256": s.manifest_hash}
                  for s in (self.train, self.extra, self.val, self.test) if s is not None}
        overall = hashlib.sha256("|".join(f"{k}:{v['sha256']}" for k, v in sorted(splits.items())).encode())
        return {"manifest_sha256": overall.hexdigest(), "classes": self.classes, "splits": splits,
                "bad_images": len(self.bad_images)}


def load_splits(recipe: Recipe) -> DataSplits:
    """Scan, verify and hash the recipe's splits; ``data.on_bad_image`` says what a bad image does."""
    cfg = recipe.data
    policy = cfg.on_bad_image
    if policy not in ("fail", "skip"):
        raise DataError(f"--on-bad-image {policy!r}: expected fail or skip")
    bad: list[dict[str, Any]] = []
    train_root = recipe.data_path(cfg.train)
    classes, paths, labels = scan_imagefolder(train_root, None, cfg.num_classes, "data.train")
    num_classes = cfg.num_classes if cfg.num_classes is not None else len(classes)
    train = _verified("train", train_root, paths, labels, cfg.verify, cfg.preload, policy, bad)
    splits: dict[str, ImageSet | None] = {}
    for name in ("val", "test"):
        value = getattr(cfg, name)
        if value is None:
            splits[name] = None
            continue
        root = recipe.data_path(value)
        _, paths, labels = scan_imagefolder(root, classes, num_classes, f"data.{name}")
        splits[name] = _verified(name, root, paths, labels, cfg.verify, cfg.preload, policy, bad)
    extra = None
    if cfg.extra_unlabeled:
        root = recipe.data_path(cfg.extra_unlabeled)
        if not root.is_dir():
            raise DataError(f"data.extra_unlabeled {root}: no such folder")
        paths = _images_under(root)
        if not paths:
            raise DataError(f"data.extra_unlabeled {root}: no images with extensions {IMAGE_SUFFIXES}")
        extra = _verified("extra_unlabeled", root, paths, [-1] * len(paths), cfg.verify, cfg.preload, policy, bad)
    return DataSplits(classes, num_classes, train, extra, splits["val"], splits["test"], bad)

