"""``imagenet``: ImageNet-1k (ILSVRC 2012) read from class folders named by WordNet id.

Layout: ``DIR/val/<wnid>/<image>`` (the 50,000 validation images sorted into their classes' folders, as
torchvision's ``ImageNet`` leaves them after parsing the devkit, or ``valprep.sh`` does), and for the tasks
that train on features (linear-probe, knn) ``DIR/train/<wnid>/<image>``. The classes are always all 1,000
ImageNet-1k wnids in ImageNet's canonical order, the sorted wnids, which is the order of every 1000-class
head in timm and of the published checkpoints: the list is timm's own (``timm.data.ImageNetInfo``), read
offline. A folder holding only some of the wnids (the built-in mini set, a class subset) keeps each image's
1000-way index, so the backbone's own classifier is scored against the right class.

Splits: ``val/`` is the test split (ImageNet's validation set is the literature's test set: SimReg's linear
and 1-NN numbers, SSLD's and ScaleKD's top-1); ``train/``, when present, is train, and the linear probe holds
out a random 20% of it to choose its L2 strength (ImageNet has no official held-out part of train).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ssld_eval.data_identity import IMAGE_SUFFIXES
from ssld_eval.datasets import register_dataset
from ssld_eval.datasets.base import (
    ClassificationData,
    DatasetLayoutError,
    FileSource,
    ImageSource,
    labels_tensor,
    scan_class_folders,
)

IMAGENET_LAYOUT = ("DIR/val/<wnid>/<image> (ImageNet-1k validation images in class folders, e.g. "
                   "val/n01440764/ILSVRC2012_val_00000293.JPEG; torchvision's ImageNet layout) and, for linear-probe "
                   "and knn, DIR/train/<wnid>/<image>; any subset of the 1,000 ImageNet-1k wnids")
#: ImageNet's validation split is the tasks' test split; train/ is their train split
SPLIT_FOLDERS = {"train": "train", "test": "val"}


@cache
def _info() -> Any:
    from timm.data import ImageNetInfo

    return ImageNetInfo("imagenet-1k")


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k wnids in class-index order (timm's list: sorted, as every 1000-class head)."""
    wnids = tuple(_info().label_names())
    if len(wnids) != 1000 or list(wnids) != sorted(wnids):
        raise RuntimeError(f"timm's ImageNet-1k synsets are not 1000 sorted wnids ({len(wnids)} found)")
    return wnids


@cache
def imagenet_index() -> dict[str, int]:
    """wnid -> its ImageNet-1k class index."""
    return {wnid: i for i, wnid in enumerate(imagenet_wnids())}


def imagenet_description(index: int) -> str:
    """The first lemma of class ``index`` (``967`` -> ``espresso``)."""
    return str(_info().index_to_description(index)).split(",")[0]


def _split(root: Path, folder: str) -> ImageSource:
    split_dir = root / folder
    loose = [p.name for p in split_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    folders = scan_class_folders(split_dir)
    if loose and not folders:
        raise DatasetLayoutError(
            f"imagenet: {split_dir} holds {len(loose)} image(s) but no class folders (e.g. {sorted(loose)[0]}): the "
            "validation archive extracts flat; sort the images into <wnid>/ folders (torchvision.datasets.ImageNet"
            f"(root, split='val') does it from the devkit, as does valprep.sh); expected layout: {IMAGENET_LAYOUT}")
    index = imagenet_index()
    unknown = sorted(name for name in folders if name not in index)
    if unknown:
        raise DatasetLayoutError(
            f"imagenet: {split_dir} has {len(unknown)} folder(s) that are not ImageNet-1k wnids: {unknown[:10]}; "
            f"expected layout: {IMAGENET_LAYOUT}")
    paths = [path for wnid in folders for path in folders[wnid]]
    if not paths:
        raise DatasetLayoutError(f"imagenet: {split_dir} holds no images (suffixes {', '.join(IMAGE_SUFFIXES)}); "
                                 f"expected layout: {IMAGENET_LAYOUT}")
    labels = [index[wnid] for wnid in folders for _ in folders[wnid]]
    return FileSource(tuple(paths), labels_tensor(labels), root)


@register_dataset("imagenet", metric="top1", layout=IMAGENET_LAYOUT)
def load_imagenet(root: Path) -> ClassificationData:
    if not (root / "val").is_dir():
        raise DatasetLayoutError(f"imagenet: {root} has no val/ folder; expected layout: {IMAGENET_LAYOUT}")
    splits = {split: _split(root, folder) for split, folder in SPLIT_FOLDERS.items() if (root / folder).is_dir()}
    return ClassificationData(name="imagenet", classes=imagenet_wnids(), splits=splits, metric="top1",
                              files_root=root, val_source="none")
