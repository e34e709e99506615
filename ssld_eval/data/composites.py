"""Detection and segmentation composites: Animal-MNIST silhouettes pasted onto real photos.

Why composites: there is no COCO or ADE20K on this machine, but MMDetection and MMSegmentation must be
exercised through their real data formats. A real photo or texture crop gives natural background clutter;
the silhouettes carry the class, tinted to contrast with what lies under them. Each object keeps its
visible mask: a later paste occludes earlier ones, and a paste is retried elsewhere (or skipped) if it
would hide more than half of an earlier object, so every annotated object is mostly visible.

The writers follow the on-disk layouts that the frameworks read: COCO instances JSON with polygons
(``iscrowd=0``, as in COCO itself, so every mask mode of mmdet accepts them) and ADEChallengeData2016 with
single-channel label PNGs (0 = background, k = class k).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from scipy import ndimage
from skimage.measure import find_contours

JPEG_SETTINGS = {"format": "JPEG", "quality": 92, "subsampling": 0, "optimize": False, "progressive": False}
PNG_SETTINGS = {"format": "PNG", "compress_level": 6, "optimize": False}


@dataclass(frozen=True)
class CompositeSpec:
    """How one composite is drawn."""

    image_px: int = 128  # side of the square output image
    min_object_px: int = 24  # side of the pasted 28x28 silhouette canvas, before its tight crop
    max_object_px: int = 80
    max_objects: int = 4  # 1..max_objects pastes are attempted
    min_visible: float = 0.5  # an earlier object must keep at least this fraction of its pixels
    placement_tries: int = 8
    min_area: int = 16  # objects (and polygon rasters) smaller than this are not annotated


@dataclass(frozen=True)
class PlacedObject:
    category_id: int  # 1-based class id
    mask: np.ndarray  # bool (H, W), the visible pixels


def _background(rng: np.random.Generator, photos: Sequence[np.ndarray], px: int) -> np.ndarray:
    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    side = round(min(h, w) * float(rng.uniform(0.35, 1.0)))
    top, left = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    crop = crop.resize((px, px), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop, dtype=np.uint8).copy()


def _silhouette(rng: np.random.Generator, image: np.ndarray, spec: CompositeSpec) -> tuple[np.ndarray, np.ndarray]:
    """A resized silhouette: (filled bool mask, shading in [0.45, 1]) cropped to the object's extent."""
    side = int(rng.integers(spec.min_object_px, min(spec.max_object_px, spec.image_px) + 1))
    scaled = Image.fromarray(np.ascontiguousarray(image)).resize((side, side), Image.Resampling.BILINEAR)
    alpha = np.asarray(scaled, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        alpha = alpha[:, ::-1]
    mask = ndimage.binary_fill_holes(alpha > 0.5)  # zebra stripes stay inside the object
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return mask[:0, :0], alpha[:0, :0]
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return mask[box], 0.45 + 0.55 * alpha[box]


def _tint(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour that contrasts with the mean brightness of the pixels it will cover."""
    if under.size and under.mean() > 110:
        return rng.uniform(0, 90, 3)
    return rng.uniform(150, 255, 3)


def make_composite(
    rng: np.random.Generator,
    photos: Sequence[np.ndarray],
    silhouettes: np.ndarray,
    labels: np.ndarray,
    spec: CompositeSpec,
) -> tuple[np.ndarray, list[PlacedObject]]:
    """One RGB uint8 image and its visible objects, drawn from ``silhouettes`` (labels 0-based)."""
    px = spec.image_px
    canvas = _background(rng, photos, px)
    objects: list[PlacedObject] = []
    for _ in range(int(rng.integers(1, spec.max_objects + 1))):
        pick = int(rng.integers(len(silhouettes)))
        shape, shade = _silhouette(rng, silhouettes[pick], spec)
        if shape.sum() < spec.min_area:
            continue
        h, w = shape.shape
        for _try in range(spec.placement_tries):
            top, left = int(rng.integers(px - h + 1)), int(rng.integers(px - w + 1))
            full = np.zeros((px, px), dtype=bool)
            full[top : top + h, left : left + w] = shape
            if all((o.mask & ~full).sum() >= spec.min_visible * o.mask.sum() for o in objects):
                break
        else:
            continue
        region = canvas[top : top + h, left : left + w]
        colour = _tint(rng, region[shape])
        painted = np.clip(colour[None, None, :] * shade[:, :, None], 0, 255).astype(np.uint8)
        region[shape] = painted[shape]
        objects = [PlacedObject(o.category_id, o.mask & ~full) for o in objects]
        objects.append(PlacedObject(int(labels[pick]) + 1, full))
    return canvas, objects


def _drop_collinear(points: np.ndarray) -> np.ndarray:
    """Remove points of a closed contour that lie on a straight run (lossless, unlike Douglas-Peucker)."""
    ring = points[:-1] if len(points) > 1 and np.array_equal(points[0], points[-1]) else points
    before, after = np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0)
    cross = (ring[:, 0] - before[:, 0]) * (after[:, 1] - ring[:, 1]) - (ring[:, 1] - before[:, 1]) * (
        after[:, 0] - ring[:, 0])
    return ring[np.abs(cross) > 1e-9]


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of ``mask`` as COCO polygons (x, y in pixel-edge coordinates, holes dropped).

    ``find_contours`` traces the 0.5 level between pixel centres; shifting by half a pixel puts the
    outline on COCO's pixel-edge grid, where pycocotools' raster of it matches the mask closely.
    """
    polygons = []
    for contour in find_contours(np.pad(mask, 1).astype(np.float32), 0.5):
        y, x = contour[:, 0] - 0.5, contour[:, 1] - 0.5  # -1 for the padding, +0.5 to pixel edges
        signed_area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
        if signed_area <= 0:  # a hole: the union of outer polygons covers it anyway
            continue
        ring = _drop_collinear(np.stack([x, y], 1))
        if len(ring) >= 3:
            polygons.append([round(float(v), 2) for v in ring.ravel()])
    return polygons


def coco_annotation(obj: PlacedObject, min_area: int) -> dict | None:
    """The COCO fields of one object; area and bbox are those of its polygons' raster (what COCO reads)."""
    polygons = mask_to_polygons(obj.mask)
    if not polygons:
        return None
    height, width = obj.mask.shape
    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    area = int(mask_utils.area(rle))
    if area < min_area:
        return None
    bbox = [int(v) for v in mask_utils.toBbox(rle)]
    return {"category_id": obj.category_id, "segmentation": polygons, "area": area, "bbox": bbox,
            "iscrowd": 0}


def write_coco_split(
    root: Path, split: str, count: int, rng: np.random.Generator, photos: Sequence[np.ndarray],
    silhouettes: np.ndarray, labels: np.ndarray, class_names: Sequence[str], spec: CompositeSpec,
) -> dict[str, int]:
    """``root/<split>2017/*.jpg`` and ``root/annotations/instances_<split>2017.json``."""
    image_dir = root / f"{split}2017"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        canvas, objects = make_composite(rng, photos, silhouettes, labels, spec)
        name = f"{image_id:012d}.jpg"
        Image.fromarray(canvas).save(image_dir / name, **JPEG_SETTINGS)
        images.append({"id": image_id, "file_name": name, "width": spec.image_px, "height": spec.image_px})
        for obj in objects:
            fields = coco_annotation(obj, spec.min_area)
            if fields is not None:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, **fields})
    categories = [{"id": i + 1, "name": n, "supercategory": "animal"} for i, n in enumerate(class_names)]
    document = {
        "info": {"description": "ssld-eval built-in composites: Animal-MNIST on real photos",
                 "version": "1"},
        "licenses": [], "images": images, "annotations": annotations, "categories": categories,
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(document, sort_keys=True))
    return {"images": count, "annotations": len(annotations)}


def write_ade_split(
    root: Path, split: str, count: int, rng: np.random.Generator, photos: Sequence[np.ndarray],
    silhouettes: np.ndarray, labels: np.ndarray, spec: CompositeSpec,
) -> dict[str, int]:
    """``root/images/<split>/ADE_*.jpg`` and label maps ``root/annotations/<split>/ADE_*.png``."""
    folder = "training" if split == "train" else "validation"
    image_dir, label_dir = root / "images" / folder, root / "annotations" / folder
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    labelled = 0
    for number in range(1, count + 1):
        canvas, objects = make_composite(rng, photos, silhouettes, labels, spec)
        label_map = np.zeros(canvas.shape[:2], dtype=np.uint8)
        for obj in objects:  # visible masks are disjoint, so the order does not matter
            label_map[obj.mask] = obj.category_id
        labelled += int((label_map > 0).sum())
        stem = f"ADE_{split}_{number:08d}"
        Image.fromarray(canvas).save(image_dir / f"{stem}.jpg", **JPEG_SETTINGS)
        Image.fromarray(label_map).save(label_dir / f"{stem}.png", **PNG_SETTINGS)
    return {"images": count, "labelled_pixels": labelled}


def class_palette(num_classes: int) -> list[list[int]]:
    """Fixed, well-separated display colours (HSV wheel), one per class."""
    import colorsys

    return [[round(255 * c) for c in colorsys.hsv_to_rgb(i / num_classes, 0.8, 0.95)]
            for i in range(num_classes)]
