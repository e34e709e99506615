"""Builds the built-in data sets and teachers into one folder, deterministically and resumably.

Layout of ``DIR`` (``build_builtin(DIR, seed, size)``)::

    fashion/{train,val,test}/<class>/<nnnnn>.png   Fashion-MNIST, the distillation source
    fashion_unlabeled/<nnnnn>.png                  more Fashion-MNIST images, labels withheld (SSLD)
    animals/{train,val,test}/<class>/<nnnnn>.png   Animal-MNIST silhouettes (transfer target)
    digits/{train,val,test}/<digit>/<nnnnn>.png    scikit-learn digits (transfer target)
    coco/{train2017,val2017}/*.jpg, coco/annotations/instances_{train,val}2017.json, coco/classes.json
    ade/ADEChallengeData2016/{images,annotations}/{training,validation}/ADE_*.{jpg,png}, ade/classes.json
    imagenet/val/<wnid>/*.JPEG, imagenet/photos.json  real photos with beyond-doubt ImageNet-1k labels
    teachers/tf_efficientnet_lite{0,2}.{safetensors,json}
    manifest.json                                  every file's sha256 and size, seed, size, counts

Why per-set random streams: each set draws from ``SeedSequence([seed, crc32(set name)])``, so a set
comes out the same whether it is built alone, resumed or built with the others, and a finished set
(``<set>/.complete`` holding the same signature) is skipped on a re-run. Sets are written into a hidden
``.partial-<set>`` folder and renamed when complete, so an interrupted build never leaves a half set that
looks finished.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssld_core.provenance import sha256_file
from ssld_eval.data import sources
from ssld_eval.data.classification import (
    SplitCounts,
    balanced_pick,
    write_classification_set,
    write_flat_folder,
)

BUILD_VERSION = 1
SET_NAMES = ("fashion", "fashion_unlabeled", "animals", "digits", "coco", "ade", "imagenet", "teachers")
#: sets that draw nothing at random and have no size: built once, whatever the seed and size
FIXED_SETS = ("imagenet", "teachers")
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion": sources.FASHION_CLASSES,
    "animals": sources.ANIMAL_CLASSES,
    "digits": sources.DIGIT_CLASSES,
    "coco": sources.ANIMAL_CLASSES,
    "ade": sources.ANIMAL_CLASSES,
}
MARKER = ".complete"
Log = Callable[[str], None]


@dataclass(frozen=True)
class BuiltinSize:
    """Per-class split sizes and composite counts of one ``--size``."""

    name: str
    class_px: int  # side of the classification images (upscaled bicubic)
    fashion: SplitCounts
    fashion_unlabeled: int  # per class, disjoint from fashion train/val/test
    animals: SplitCounts
    digits: SplitCounts
    composite_px: int  # side of the COCO / ADE composites
    composites_train: int  # images per framework (COCO and ADE each)
    composites_val: int


SIZES: dict[str, BuiltinSize] = {
    "tiny": BuiltinSize("tiny", 64, SplitCounts(8, 8, 8), 8, SplitCounts(8, 8, 8), SplitCounts(8, 8, 8),
                        128, 16, 8),
    "small": BuiltinSize("small", 64, SplitCounts(300, 50, 100), 300, SplitCounts(100, 20, 50),
                         SplitCounts(100, 30, 40), 160, 400, 100),
}


@dataclass(frozen=True)
class BuiltinManifest:
    """What a build wrote; ``digest`` (sha256 of manifest.json) identifies the data in run records."""

    root: Path
    seed: int
    size: str
    counts: Mapping[str, Mapping[str, int]]
    num_files: int
    digest: str

    def teacher(self, arch: str = "tf_efficientnet_lite0") -> Path:
        return self.root / "teachers" / f"{arch}.safetensors"

    def imagenet(self) -> Path:
        """The ``--data-root`` of ``--dataset imagenet`` for the mini val set (holds ``val/<wnid>/``)."""
        return self.root / "imagenet"

    def classification(self, name: str) -> Path:
        """The ImageFolder root of ``fashion``, ``animals`` or ``digits`` (holds train/val/test)."""
        return self.root / name


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one named draw, independent of every other draw."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def _stderr(message: str) -> None:
    print(f"[ssld-eval data] {message}", file=sys.stderr, flush=True)


def _fashion_splits(seed: int, cfg: BuiltinSize) -> dict[str, np.ndarray]:
    _, train_labels = sources.load_fashion_mnist("train")
    _, test_labels = sources.load_fashion_mnist("t10k")
    f = cfg.fashion
    train, val, unlabeled = balanced_pick(train_labels, (f.train, f.val, cfg.fashion_unlabeled), 10,
                                          stream(seed, "fashion/train-file"))
    (test,) = balanced_pick(test_labels, (f.test,), 10, stream(seed, "fashion/t10k-file"))
    return {"train": train, "val": val, "unlabeled": unlabeled, "test": test}


def _animal_split(seed: int, cfg: BuiltinSize) -> dict[str, np.ndarray]:
    """Animal-MNIST cut once: the classification splits, then disjoint pools for the composites."""
    _, labels = sources.load_animal_mnist()
    a = cfg.animals
    per_class_left = int(np.bincount(labels).min()) - a.train - a.val - a.test
    pool_val = per_class_left // 5
    parts = balanced_pick(labels, (a.train, a.val, a.test, per_class_left - pool_val, pool_val), 10,
                          stream(seed, "animals/partition"))
    return dict(zip(("train", "val", "test", "pool_train", "pool_val"), parts, strict=True))


def _build_fashion(root: Path, seed: int, cfg: BuiltinSize) -> dict[str, int]:
    splits = _fashion_splits(seed, cfg)
    counts = {}
    for split, file in (("train", "train"), ("val", "train"), ("test", "t10k")):
        images, labels = sources.load_fashion_mnist(file)
        counts |= write_classification_set(root, images, labels, {split: splits[split]},
                                           sources.FASHION_CLASSES, cfg.class_px)
    return counts


def _build_fashion_unlabeled(root: Path, seed: int, cfg: BuiltinSize) -> dict[str, int]:
    images, _ = sources.load_fashion_mnist("train")
    order = stream(seed, "fashion_unlabeled/order").permutation(_fashion_splits(seed, cfg)["unlabeled"])
    return {"unlabeled": write_flat_folder(root, images, order, cfg.class_px)}


def _build_animals(root: Path, seed: int, cfg: BuiltinSize) -> dict[str, int]:
    images, labels = sources.load_animal_mnist()
    parts = _animal_split(seed, cfg)
    splits = {k: parts[k] for k in ("train", "val", "test")}
    return write_classification_set(root, images, labels, splits, sources.ANIMAL_CLASSES, cfg.class_px)


def _build_digits(root: Path, seed: int, cfg: BuiltinSize) -> dict[str, int]:
    images, labels = sources.load_digits_images()
    d = cfg.digits
    parts = balanced_pick(labels, (d.train, d.val, d.test), 10, stream(seed, "digits/partition"))
    splits = dict(zip(("train", "val", "test"), parts, strict=True))
    return write_classification_set(root, images, labels, splits, sources.DIGIT_CLASSES, cfg.class_px)


def _write_classes(root: Path) -> None:
    from ssld_eval.data.composites import class_palette

    names = list(sources.ANIMAL_CLASSES)
    text = json.dumps({"classes": names, "palette": class_palette(len(names))}, indent=2, sort_keys=True)
    (root / "classes.json").write_text(text + "\n")


def _build_composites(root: Path, seed: int, cfg: BuiltinSize, kind: str) -> dict[str, int]:
    from ssld_eval.data import composites

    images, labels = sources.load_animal_mnist()
    parts = _animal_split(seed, cfg)
    photos = [photo for _, photo in sources.load_backgrounds()]
    spec = composites.CompositeSpec(image_px=cfg.composite_px)
    counts: dict[str, int] = {}
    for split, count in (("train", cfg.composites_train), ("val", cfg.composites_val)):
        pool = parts[f"pool_{split}"]
        rng = stream(seed, f"{kind}/{split}")
        if kind == "coco":
            written = composites.write_coco_split(root, split, count, rng, photos, images[pool], labels[pool],
                                                  sources.ANIMAL_CLASSES, spec)
        else:
            written = composites.write_ade_split(root / "ADEChallengeData2016", split, count, rng, photos,
                                                 images[pool], labels[pool], spec)
        counts |= {f"{split}_{key}": value for key, value in written.items()}
    _write_classes(root)
    return counts


def _build_imagenet(root: Path, seed: int, cfg: BuiltinSize) -> dict[str, int]:
    from ssld_eval.data.imagenet_mini import write_mini_val

    return write_mini_val(root)


def _build_teachers(root: Path, seed: int, cfg: BuiltinSize) -> dict[str, int]:
    from ssld_eval.data.teachers import convert_all

    return {"teachers": len(convert_all(root))}


BUILDERS: dict[str, Callable[[Path, int, BuiltinSize], dict[str, int]]] = {
    "fashion": _build_fashion,
    "fashion_unlabeled": _build_fashion_unlabeled,
    "animals": _build_animals,
    "digits": _build_digits,
    "coco": lambda root, seed, cfg: _build_composites(root, seed, cfg, "coco"),
    "ade": lambda root, seed, cfg: _build_composites(root, seed, cfg, "ade"),
    "imagenet": _build_imagenet,
    "teachers": _build_teachers,
}


def _signature(name: str, seed: int, size: str) -> dict[str, Any]:
    if name in FIXED_SETS:  # the teachers' conversion and the ImageNet photos draw nothing and have no size
        return {"set": name, "version": BUILD_VERSION}
    return {"set": name, "seed": seed, "size": size, "version": BUILD_VERSION}


def _finished_counts(folder: Path, signature: dict[str, Any]) -> dict[str, int] | None:
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return marker.get("counts") if marker.get("signature") == signature else None


def build_set(out: Path, name: str, seed: int, cfg: BuiltinSize, log: Log = _stderr) -> dict[str, int]:
    """Build one set unless ``out/<name>`` already holds it for this signature; return its counts."""
    folder, signature = out / name, _signature(name, seed, cfg.name)
    counts = _finished_counts(folder, signature)
    if counts is not None:
        log(f"{name}: already complete, skipped")
        return counts
    if folder.exists() and not (folder / MARKER).is_file():
        raise FileExistsError(f"{folder} exists and was not written by 'ssld-eval data builtin'; it is left "
                              "alone: choose another --out or move it away")
    started = time.perf_counter()
    partial = out / f".partial-{name}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    counts = BUILDERS[name](partial, seed, cfg)
    marker = {"signature": signature, "counts": counts}
    (partial / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    if folder.exists():
        shutil.rmtree(folder)  # our own set of another seed, size or version
    partial.rename(folder)
    shown = ", ".join(f"{k} {v}" for k, v in counts.items())
    log(f"{name}: {shown} ({time.perf_counter() - started:.1f} s)")
    return counts


def write_manifest(out: Path, seed: int, size: str, counts: Mapping[str, Mapping[str, int]]) -> Path:
    """``out/manifest.json``: every file (hidden markers and the manifest itself excepted) with its hash."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts) or rel.name == "manifest.json":
            continue
        files[rel.as_posix()] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    document = {
        "format": "ssld-eval-builtin", "version": BUILD_VERSION, "seed": seed, "size": size,
        "counts": counts, "classes": {k: list(v) for k, v in CLASS_NAMES.items()}, "files": files,
    }
    target = out / "manifest.json"
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return target


def read_manifest(root: str | Path) -> BuiltinManifest:
    """The :class:`BuiltinManifest` of a finished build (reads ``root/manifest.json``)."""
    root = Path(root)
    path = root / "manifest.json"
    document = json.loads(path.read_text())
    counts = {name: document["counts"][name] for name in SET_NAMES if name in document["counts"]}
    return BuiltinManifest(root=root, seed=document["seed"], size=document["size"], counts=counts,
                           num_files=len(document["files"]), digest=sha256_file(path))


def build_builtin(out: Path, seed: int = 0, size: str = "small", *, log: Log = _stderr) -> BuiltinManifest:
    """Build every set of :data:`SET_NAMES` into ``out`` (skipping finished ones) and the manifest."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = SIZES[size]
    started = time.perf_counter()
    counts = {name: build_set(out, name, seed, cfg, log) for name in SET_NAMES}
    write_manifest(out, seed, size, counts)
    manifest = read_manifest(out)
    log(f"built-in data ({size}, seed {seed}): {manifest.num_files} files in {out} "
        f"({time.perf_counter() - started:.1f} s), manifest sha256 {manifest.digest[:16]}")
    return manifest
