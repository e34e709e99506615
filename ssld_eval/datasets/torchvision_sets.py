"""The transfer sets torchvision can read, with their official splits and ``download=False``.

torchvision's readers check the layout and parse the annotation files; the image paths and labels are
then taken from them so that images are decoded (and bad ones reported) the same way for every set.
Splits without an official validation part (CIFAR, Food-101, Cars, Pets, Caltech-101) get a random 20% of
train held out by the tasks, as in Kornblith et al. (2019).

Caltech-101 has no official split: 30 images per class train, the rest test, drawn once with a fixed
seed (0), the usual protocol; torchvision's reader leaves out the ``BACKGROUND_Google`` clutter class
(101 classes). VOC2007 is multi-label: a class is present (+1) in an image when a non-difficult object of
it is, "difficult only" (-1, ignored) when all its objects are difficult, else absent (0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import torch

from ssld_eval.datasets import register_dataset
from ssld_eval.datasets.base import (
    ArraySource,
    ClassificationData,
    DatasetLayoutError,
    FileSource,
    ImageSource,
    labels_tensor,
)

CALTECH_TRAIN_PER_CLASS = 30
CALTECH_SPLIT_SEED = 0
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
LAYOUTS = {
    "cifar10": "DIR/cifar-10-batches-py/ (the 'python version' archive of CIFAR-10, extracted)",
    "cifar100": "DIR/cifar-100-python/ (the 'python version' archive of CIFAR-100, extracted)",
    "food101": "DIR/food-101/images/<class>/*.jpg and DIR/food-101/meta/{train,test}.json",
    "cars": "DIR/stanford_cars/{devkit/,cars_train/,cars_test/,cars_test_annos_withlabels.mat}",
    "aircraft": "DIR/fgvc-aircraft-2013b/data/{images/,variants.txt,images_variant_{train,val,test}.txt}",
    "voc2007": ("DIR/VOCdevkit/VOC2007/{JPEGImages/,Annotations/,ImageSets/Main/{train,val,test}.txt} "
                "(the trainval and test archives extracted into the same DIR)"),
    "dtd": "DIR/dtd/dtd/{images/<class>/*.jpg,labels/{train,val,test}1.txt}",
    "pets": "DIR/oxford-iiit-pet/{images/,annotations/{trainval,test}.txt}",
    "caltech101": "DIR/caltech101/101_ObjectCategories/<class>/image_*.jpg",
    "flowers102": "DIR/flowers-102/{jpg/,imagelabels.mat,setid.mat}",
}


def _open(name: str, factory: Callable[..., Any], root: Path, **kwargs: Any) -> Any:
    try:
        return factory(root=str(root), download=False, **kwargs)
    except RuntimeError as exc:  # torchvision's "Dataset not found ... use download=True"
        raise DatasetLayoutError(f"{name}: not found under {root}; expected layout: {LAYOUTS[name]}") from exc
    except OSError as exc:
        raise DatasetLayoutError(f"{name}: unreadable under {root} ({exc}); expected layout: {LAYOUTS[name]}") from exc


def _files(name: str, root: Path, files_root: Path, splits: dict[str, tuple[Sequence[Any], Sequence[int]]],
           classes: Sequence[str], metric: str) -> ClassificationData:
    sources: dict[str, ImageSource] = {
        split: FileSource(tuple(Path(p) for p in paths), labels_tensor(labels), root)
        for split, (paths, labels) in splits.items()
    }
    return ClassificationData(name=name, classes=tuple(str(c) for c in classes), splits=sources, metric=metric,
                              files_root=files_root, val_source="official" if "val" in sources else "none")


def _cifar(name: str, folder: str) -> None:
    @register_dataset(name, metric="top1", layout=LAYOUTS[name])
    def load(root: Path) -> ClassificationData:
        from torchvision import datasets

        factory = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        splits: dict[str, ImageSource] = {}
        classes: Sequence[str] = ()
        for split, train in (("train", True), ("test", False)):
            data = _open(name, factory, root, train=train)
            splits[split] = ArraySource(data.data, labels_tensor(data.targets), f"{name}/{split}")
            classes = data.classes
        return ClassificationData(name=name, classes=tuple(classes), splits=splits, metric="top1",
                                  files_root=root / folder, val_source="none")


_cifar("cifar10", "cifar-10-batches-py")
_cifar("cifar100", "cifar-100-python")


@register_dataset("food101", metric="top1", layout=LAYOUTS["food101"])
def load_food101(root: Path) -> ClassificationData:
    from torchvision.datasets import Food101

    parts = {s: _open("food101", Food101, root, split=s) for s in ("train", "test")}
    splits = {s: (d._image_files, d._labels) for s, d in parts.items()}
    return _files("food101", root, root / "food-101", splits, parts["train"].classes, "top1")


@register_dataset("cars", metric="top1", layout=LAYOUTS["cars"])
def load_cars(root: Path) -> ClassificationData:
    from torchvision.datasets import StanfordCars

    parts = {s: _open("cars", StanfordCars, root, split=s) for s in ("train", "test")}
    splits = {s: ([p for p, _ in d._samples], [t for _, t in d._samples]) for s, d in parts.items()}
    return _files("cars", root, root / "stanford_cars", splits, parts["train"].classes, "top1")


@register_dataset("aircraft", metric="mean_per_class", layout=LAYOUTS["aircraft"])
def load_aircraft(root: Path) -> ClassificationData:
    from torchvision.datasets import FGVCAircraft

    parts = {s: _open("aircraft", FGVCAircraft, root, split=s, annotation_level="variant")
             for s in ("train", "val", "test")}
    splits = {s: (d._image_files, d._labels) for s, d in parts.items()}
    return _files("aircraft", root, root / "fgvc-aircraft-2013b", splits, parts["train"].classes, "mean_per_class")


@register_dataset("dtd", metric="top1", layout=LAYOUTS["dtd"])
def load_dtd(root: Path) -> ClassificationData:
    from torchvision.datasets import DTD

    parts = {s: _open("dtd", DTD, root, split=s, partition=1) for s in ("train", "val", "test")}
    splits = {s: (d._image_files, d._labels) for s, d in parts.items()}
    return _files("dtd", root, root / "dtd", splits, parts["train"].classes, "top1")


@register_dataset("pets", metric="mean_per_class", layout=LAYOUTS["pets"])
def load_pets(root: Path) -> ClassificationData:
    from torchvision.datasets import OxfordIIITPet

    parts = {s: _open("pets", OxfordIIITPet, root, split=tv, target_types="category")
             for s, tv in (("train", "trainval"), ("test", "test"))}
    splits = {s: (d._images, d._labels) for s, d in parts.items()}
    return _files("pets", root, root / "oxford-iiit-pet", splits, parts["train"].classes, "mean_per_class")


@register_dataset("flowers102", metric="mean_per_class", layout=LAYOUTS["flowers102"])
def load_flowers102(root: Path) -> ClassificationData:
    from torchvision.datasets import Flowers102

    parts = {s: _open("flowers102", Flowers102, root, split=s) for s in ("train", "val", "test")}
    splits = {s: (d._image_files, d._labels) for s, d in parts.items()}
    return _files("flowers102", root, root / "flowers-102", splits, Flowers102.classes, "mean_per_class")


@register_dataset("caltech101", metric="mean_per_class", layout=LAYOUTS["caltech101"])
def load_caltech101(root: Path) -> ClassificationData:
    from torchvision.datasets import Caltech101

    data = _open("caltech101", Caltech101, root, target_type="category")
    folder = Path(data.root) / "101_ObjectCategories"
    paths = [folder / data.categories[y] / f"image_{i:04d}.jpg" for y, i in zip(data.y, data.index, strict=True)]
    labels = np.asarray(data.y)
    rng = np.random.default_rng(CALTECH_SPLIT_SEED)
    train = np.zeros(len(labels), dtype=bool)
    for c in range(len(data.categories)):
        members = np.flatnonzero(labels == c)
        train[rng.permutation(members)[:CALTECH_TRAIN_PER_CLASS]] = True
    splits = {s: ([paths[i] for i in np.flatnonzero(mask)], labels[mask].tolist())
              for s, mask in (("train", train), ("test", ~train))}
    return _files("caltech101", root, Path(data.root), splits, data.categories, "mean_per_class")


def voc_targets(annotation: Path) -> list[int]:
    """+1 / 0 / -1 per VOC class for one image's annotation XML (see the module docstring)."""
    present, difficult = set(), set()
    for obj in ElementTree.parse(annotation).getroot().iter("object"):
        name = (obj.findtext("name") or "").strip()
        (difficult if (obj.findtext("difficult") or "0").strip() == "1" else present).add(name)
    return [1 if c in present else (-1 if c in difficult else 0) for c in VOC_CLASSES]


@register_dataset("voc2007", metric="map11", layout=LAYOUTS["voc2007"])
def load_voc2007(root: Path) -> ClassificationData:
    from torchvision.datasets import VOCDetection

    splits: dict[str, ImageSource] = {}
    for split in ("train", "val", "test"):
        data = _open("voc2007", VOCDetection, root, year="2007", image_set=split)
        targets = torch.tensor([voc_targets(Path(a)) for a in data.annotations], dtype=torch.int8)
        splits[split] = FileSource(tuple(Path(p) for p in data.images), targets, root)
    return ClassificationData(name="voc2007", classes=VOC_CLASSES, splits=splits, metric="map11",
                              files_root=root / "VOCdevkit" / "VOC2007", multilabel=True)
