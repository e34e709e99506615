"""Data sets read from plain folder layouts: any ImageFolder, the built-in sets, Birdsnap and SUN397."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from ssld_eval.data_identity import IMAGE_SUFFIXES
from ssld_eval.datasets import register_dataset
from ssld_eval.datasets.base import (
    ClassificationData,
    DatasetLayoutError,
    FileSource,
    labels_tensor,
    scan_class_folders,
)

IMAGEFOLDER_LAYOUT = "DIR/train/<class>/<image> and DIR/test/<class>/<image>, optionally DIR/val/<class>/<image>"
BUILTIN_LAYOUT = ("the built-in folder written by 'ssld-eval data builtin --out DIR', holding "
                  "DIR/{name}/{{train,val,test}}/<class>/*.png")
BIRDSNAP_LAYOUT = ("DIR/images/<species>/<image>.jpg and DIR/test_images.txt (test image paths relative to "
                   "images/, one per line, as Birdsnap's download script writes them)")
SUN397_LAYOUT = ("DIR/SUN397/ClassName.txt, DIR/SUN397/<letter>/<class>/sun_*.jpg, and the official partition "
                 "files Training_01.txt and Testing_01.txt in DIR/ or DIR/Partitions/")


def _paths_and_labels(folders: dict[str, list[Path]], classes: tuple[str, ...]) -> tuple[list[Path], list[int]]:
    index = {name: i for i, name in enumerate(classes)}
    paths = [p for name in folders for p in folders[name]]
    labels = [index[name] for name in folders for _ in folders[name]]
    return paths, labels


def image_folder_data(root: Path, name: str, layout: str, *, metric: str = "top1",
                      required: Iterable[str] = ("train", "test")) -> ClassificationData:
    """``root/<split>/<class>/<image>``; classes are the train split's sub-folders."""
    missing = [split for split in required if not (root / split).is_dir()]
    if missing:
        raise DatasetLayoutError(f"{name}: {root} has no {'/, '.join(missing)}/ folder; expected layout: {layout}")
    train = scan_class_folders(root / "train")
    classes = tuple(train)
    if not classes:
        raise DatasetLayoutError(f"{name}: {root / 'train'} holds no class folders; expected layout: {layout}")
    splits = {}
    for split in ("train", "val", "test"):
        if not (root / split).is_dir():
            continue
        folders = train if split == "train" else scan_class_folders(root / split)
        unknown = sorted(set(folders) - set(classes))
        if unknown:
            raise DatasetLayoutError(f"{name}: {root / split} has classes absent from train/: {unknown[:10]}")
        paths, labels = _paths_and_labels(folders, classes)
        if not paths:
            raise DatasetLayoutError(f"{name}: {root / split} holds no images (suffixes {', '.join(IMAGE_SUFFIXES)}); "
                                     f"expected layout: {layout}")
        splits[split] = FileSource(tuple(paths), labels_tensor(labels), root)
    return ClassificationData(name=name, classes=classes, splits=splits, metric=metric, files_root=root,
                              val_source="official" if "val" in splits else "none")


@register_dataset("imagefolder", metric="top1", layout=IMAGEFOLDER_LAYOUT)
def load_imagefolder(root: Path) -> ClassificationData:
    return image_folder_data(root, "imagefolder", IMAGEFOLDER_LAYOUT)


def _square_side(paths: Iterable[Path]) -> int | None:
    """The side of the first readable image when it is square (the built-in sets are written at one size)."""
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception:  # a bad image is reported by the tasks; look at the next one
            continue
        return width if width == height else None
    return None


def _builtin(name: str) -> None:
    layout = BUILTIN_LAYOUT.format(name=name)

    @register_dataset(name, metric="top1", layout=layout, builtin=True)
    def load(root: Path) -> ClassificationData:
        if not (root / name).is_dir():
            raise DatasetLayoutError(f"{name}: {root} has no {name}/ folder; expected {layout}")
        data = image_folder_data(root / name, name, layout, required=("train", "val", "test"))
        return dataclasses.replace(data, native_size=_square_side(data.splits["train"].paths))  # type: ignore[attr-defined]


for _name in ("fashion", "animals", "digits"):
    _builtin(_name)


def _listed(root: Path, lines: Iterable[str], name: str, layout: str) -> list[Path]:
    paths = [root / line for line in lines]
    absent = [p for p in paths if not p.is_file()]
    if absent:
        raise DatasetLayoutError(f"{name}: {len(absent)} listed image(s) missing, e.g. {absent[0]}; "
                                 f"expected layout: {layout}")
    return paths


def _image_lines(path: Path) -> list[str]:
    lines = (line.strip().lstrip("/") for line in path.read_text().splitlines())
    return [line for line in lines if line.lower().endswith(IMAGE_SUFFIXES)]


@register_dataset("birdsnap", metric="top1", layout=BIRDSNAP_LAYOUT)
def load_birdsnap(root: Path) -> ClassificationData:
    images, listing = root / "images", root / "test_images.txt"
    if not images.is_dir() or not listing.is_file():
        raise DatasetLayoutError(f"birdsnap: {root} lacks images/ or test_images.txt; expected layout: "
                                 f"{BIRDSNAP_LAYOUT}")
    folders = scan_class_folders(images)
    classes = tuple(folders)
    test = set(_listed(images, _image_lines(listing), "birdsnap", BIRDSNAP_LAYOUT))
    splits = {}
    for split, keep in (("train", False), ("test", True)):
        chosen = {c: [p for p in paths if (p in test) == keep] for c, paths in folders.items()}
        paths, labels = _paths_and_labels(chosen, classes)
        splits[split] = FileSource(tuple(paths), labels_tensor(labels), root)
    return ClassificationData(name="birdsnap", classes=classes, splits=splits, metric="top1", files_root=root,
                              val_source="none")


@register_dataset("sun397", metric="top1", layout=SUN397_LAYOUT)
def load_sun397(root: Path) -> ClassificationData:
    base = root / "SUN397"
    names = base / "ClassName.txt"
    partitions = next((d for d in (root, root / "Partitions") if (d / "Training_01.txt").is_file()), None)
    if not names.is_file() or partitions is None or not (partitions / "Testing_01.txt").is_file():
        raise DatasetLayoutError(f"sun397: {root} lacks SUN397/ClassName.txt or the partition files; "
                                 f"expected layout: {SUN397_LAYOUT}")
    class_keys = [line.strip().lstrip("/") for line in names.read_text().splitlines() if line.strip()]
    index = {key: i for i, key in enumerate(class_keys)}
    splits = {}
    for split, listing in (("train", "Training_01.txt"), ("test", "Testing_01.txt")):
        lines = _image_lines(partitions / listing)
        labels = []
        for line in lines:
            key = line.rsplit("/", 1)[0]
            if key not in index:
                raise DatasetLayoutError(f"sun397: {listing} names class {key!r}, absent from ClassName.txt")
            labels.append(index[key])
        paths = _listed(base, lines, "sun397", SUN397_LAYOUT)
        splits[split] = FileSource(tuple(paths), labels_tensor(labels), root)
    classes = tuple(key.split("/", 1)[1] if "/" in key else key for key in class_keys)
    return ClassificationData(name="sun397", classes=classes, splits=splits, metric="top1", files_root=root,
                              val_source="none")
