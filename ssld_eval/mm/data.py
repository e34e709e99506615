"""Where the detection / segmentation data lives, and checks that run before any training.

Why check at all: mmdet's ``CocoDataset`` keeps only the categories whose names are in the configured
classes and drops the rest silently, and a missing image surfaces as a loader crash deep into an epoch.
Both are cheap to catch up front with a message that names the file, the images or the classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ssld_eval.datasets.base import DatasetLayoutError

_SHOWN = 8


class DataValidationError(DatasetLayoutError):
    """The data on disk does not fit the run; the message names what is wrong and where (``ssld-eval
    transfer`` prints it and exits with status 2)."""


def builtin_classes(folder: Path) -> list[str]:
    """The class names of a built-in set, from its ``classes.json``."""
    path = folder / "classes.json"
    if not path.is_file():
        raise DataValidationError(
            f"{path} not found: build the built-in data with 'ssld-eval data builtin --out {folder.parent}' "
            "or pass --data-root"
        )
    classes = json.loads(path.read_text()).get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise DataValidationError(f"{path}: expected {{\"classes\": [names...]}}")
    return classes


def _listed(items: Sequence[str]) -> str:
    more = f" ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


@dataclass(frozen=True)
class CocoSplit:
    ann_file: Path
    image_dir: Path
    images: int
    annotations: int


def validate_coco_split(ann_file: Path, image_dir: Path, classes: Sequence[str]) -> CocoSplit:
    """Check a COCO instances file: readable, its categories (in id order) are ``classes``, every image
    file exists and every annotation names a known image and category."""
    if not ann_file.is_file():
        raise DataValidationError(f"{ann_file}: annotation file not found")
    try:
        data = json.loads(ann_file.read_text())
    except json.JSONDecodeError as exc:
        raise DataValidationError(f"{ann_file}: not valid JSON ({exc})") from exc
    missing_keys = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing_keys:
        raise DataValidationError(f"{ann_file}: not a COCO instances file (no {missing_keys})")
    names = [c["name"] for c in sorted(data["categories"], key=lambda c: c["id"])]
    if names != list(classes):
        absent = [c for c in classes if c not in names]
        extra = [n for n in names if n not in classes]
        detail = (f"configured classes missing from the file: [{_listed(absent)}]; "
                  f"categories not configured: [{_listed(extra)}]") if absent or extra else "same names, other order"
        raise DataValidationError(
            f"{ann_file}: its {len(names)} categories disagree with the {len(classes)} configured classes ({detail})"
        )
    missing = [img["file_name"] for img in data["images"] if not (image_dir / img["file_name"]).is_file()]
    if missing:
        raise DataValidationError(
            f"{ann_file}: {len(missing)} of {len(data['images'])} image file(s) missing under {image_dir}: "
            f"{_listed(missing)}"
        )
    image_ids = {img["id"] for img in data["images"]}
    category_ids = {c["id"] for c in data["categories"]}
    orphans = [str(a.get("id")) for a in data["annotations"]
               if a.get("image_id") not in image_ids or a.get("category_id") not in category_ids]
    if orphans:
        raise DataValidationError(
            f"{ann_file}: {len(orphans)} annotation(s) name an unknown image or category: ids {_listed(orphans)}"
        )
    return CocoSplit(ann_file, image_dir, len(data["images"]), len(data["annotations"]))


def validate_seg_split(image_dir: Path, label_dir: Path, img_suffix: str, seg_suffix: str) -> int:
    """Check a segmentation split (ADEChallengeData2016 layout): images exist and each has its label map."""
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise DataValidationError(f"{folder}: folder not found (expected an ADEChallengeData2016 layout)")
    stems = sorted(p.name[: -len(img_suffix)] for p in image_dir.iterdir() if p.name.endswith(img_suffix))
    if not stems:
        raise DataValidationError(f"{image_dir}: no *{img_suffix} images")
    unlabelled = [s + img_suffix for s in stems if not (label_dir / (s + seg_suffix)).is_file()]
    if unlabelled:
        raise DataValidationError(
            f"{image_dir}: {len(unlabelled)} image(s) without a label map in {label_dir}: {_listed(unlabelled)}"
        )
    return len(stems)
