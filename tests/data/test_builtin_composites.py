"""The COCO and ADE composites: valid annotations, consistent masks, readable by the frameworks."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssld_eval.data.composites import CompositeSpec, PlacedObject, coco_annotation, make_composite, mask_to_polygons
from ssld_eval.data.sources import ANIMAL_CLASSES, load_animal_mnist, load_backgrounds


@pytest.mark.parametrize("split", ["train", "val"])
def test_coco_annotations_are_consistent(builtin_tiny: Path, split: str):
    from pycocotools.coco import COCO

    root = builtin_tiny / "coco"
    coco = COCO(str(root / "annotations" / f"instances_{split}2017.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(ANIMAL_CLASSES)
    image_ids = sorted(coco.getImgIds())
    assert image_ids == list(range(1, len(image_ids) + 1))
    assert sorted(coco.getAnnIds()) == list(range(1, len(coco.getAnnIds()) + 1))
    assert len(coco.getAnnIds()) >= len(image_ids)
    for image in coco.loadImgs(image_ids):
        with Image.open(root / f"{split}2017" / image["file_name"]) as im:
            assert im.size == (image["width"], image["height"]) and im.mode == "RGB"
    for ann in coco.loadAnns(coco.getAnnIds()):
        image = coco.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert min(x, y) >= 0 and w > 0 and h > 0
        assert x + w <= image["width"] and y + h <= image["height"]
        mask = coco.annToMask(ann).astype(bool)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1] == ann["bbox"]
        assert mask.sum() == ann["area"]
        assert ann["iscrowd"] == 0 and 1 <= ann["category_id"] <= 10


def test_polygons_follow_the_pixel_mask():
    rng = np.random.default_rng(3)
    images, labels = load_animal_mnist()
    photos = [p for _, p in load_backgrounds()]
    spec = CompositeSpec(image_px=128)
    ious = []
    for _ in range(10):
        _, objects = make_composite(rng, photos, images[:200], labels[:200], spec)
        for obj in objects:
            fields = coco_annotation(obj, spec.min_area)
            if fields is None:
                continue
            from pycocotools import mask as mask_utils

            raster = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(fields["segmentation"], 128, 128)))
            raster = raster.astype(bool)
            ious.append((raster & obj.mask).sum() / (raster | obj.mask).sum())
    assert len(ious) >= 10 and np.mean(ious) > 0.9 and min(ious) > 0.6


def test_occluded_objects_stay_mostly_visible():
    rng = np.random.default_rng(0)
    images, labels = load_animal_mnist()
    photos = [p for _, p in load_backgrounds()]
    spec = CompositeSpec(image_px=96, max_objects=6)
    for _ in range(20):
        canvas, objects = make_composite(rng, photos, images, labels, spec)
        assert canvas.shape == (96, 96, 3) and canvas.dtype == np.uint8
        union = np.zeros((96, 96), int)
        for obj in objects:
            union += obj.mask
        assert union.max() <= 1  # visible masks never overlap


def test_polygons_drop_holes():
    mask = np.zeros((20, 20), bool)
    mask[2:15, 2:15] = True
    mask[6:9, 6:9] = False
    assert len(mask_to_polygons(mask)) == 1
    assert coco_annotation(PlacedObject(1, np.zeros((8, 8), bool)), 1) is None


def test_ade_label_maps(builtin_tiny: Path):
    root = builtin_tiny / "ade" / "ADEChallengeData2016"
    for folder, prefix in (("training", "ADE_train_"), ("validation", "ADE_val_")):
        images = sorted((root / "images" / folder).glob("*.jpg"))
        labels = sorted((root / "annotations" / folder).glob("*.png"))
        assert images and [p.stem for p in images] == [p.stem for p in labels]
        assert all(p.stem.startswith(prefix) and len(p.stem) == len(prefix) + 8 for p in images)
        seen = set()
        for path in labels:
            with Image.open(path) as im:
                assert im.mode == "L"
                seen |= set(np.unique(np.asarray(im)).tolist())
        assert 0 in seen and seen <= set(range(11)) and len(seen) > 2
    classes = json.loads((builtin_tiny / "ade" / "classes.json").read_text())
    assert classes["classes"] == list(ANIMAL_CLASSES) and len(classes["palette"]) == 10


@pytest.mark.mm
def test_mmdet_coco_dataset_loads(builtin_tiny: Path):
    pytest.importorskip("mmcv")
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules

    register_all_modules()
    root = builtin_tiny / "coco"
    classes = tuple(json.loads((root / "classes.json").read_text())["classes"])
    for split, count in (("train", 16), ("val", 8)):
        dataset = CocoDataset(
            ann_file=f"annotations/instances_{split}2017.json", data_root=str(root),
            data_prefix=dict(img=f"{split}2017/"), metainfo=dict(classes=classes), pipeline=[],
            test_mode=False,
        )
        assert len(dataset) == count
        item = dataset[0]
        assert Path(item["img_path"]).is_file() and item["instances"]
        assert all(0 <= inst["bbox_label"] < 10 for inst in item["instances"])
    for poly2mask in (True, False):  # bitmap and polygon masks alike keep every instance
        loaded = CocoDataset(
            ann_file="annotations/instances_train2017.json", data_root=str(root),
            data_prefix=dict(img="train2017/"), metainfo=dict(classes=classes), test_mode=False,
            pipeline=[dict(type="LoadImageFromFile"),
                      dict(type="LoadAnnotations", with_bbox=True, with_mask=True, poly2mask=poly2mask)],
        )[0]
        assert loaded["img"].shape == (128, 128, 3)
        assert len(loaded["gt_masks"]) == len(loaded["gt_bboxes"]) > 0
        assert not loaded["gt_ignore_flags"].any()


@pytest.mark.mm
def test_mmseg_ade_dataset_loads(builtin_tiny: Path):
    pytest.importorskip("mmcv")
    from mmseg.datasets import BaseSegDataset
    from mmseg.utils import register_all_modules

    register_all_modules()
    root = builtin_tiny / "ade"
    metainfo = json.loads((root / "classes.json").read_text())
    dataset = BaseSegDataset(
        data_root=str(root / "ADEChallengeData2016"),
        data_prefix=dict(img_path="images/training", seg_map_path="annotations/training"),
        img_suffix=".jpg", seg_map_suffix=".png", metainfo=metainfo, pipeline=[], reduce_zero_label=True,
    )
    assert len(dataset) == 16
    assert dataset.metainfo["classes"] == tuple(ANIMAL_CLASSES) or list(dataset.metainfo["classes"]) == list(
        ANIMAL_CLASSES)
    assert Path(dataset[0]["seg_map_path"]).is_file() and dataset[0]["reduce_zero_label"]
    from mmseg.datasets.transforms import LoadAnnotations

    labels = LoadAnnotations()(dict(dataset[0]))["gt_seg_map"]
    assert set(np.unique(labels).tolist()) <= {*range(10), 255} and 255 in labels  # background -> ignore


@pytest.mark.mm
def test_mmseg_ade20k_dataset_refuses_other_class_names(builtin_tiny: Path):
    """Why the built-in ADE set is read with ``BaseSegDataset``: ADE20KDataset only accepts a subset of
    its own 150 class names (it would build a label map), and the animal classes are not among them."""
    pytest.importorskip("mmcv")
    from mmseg.datasets import ADE20KDataset

    metainfo = json.loads((builtin_tiny / "ade" / "classes.json").read_text())
    with pytest.raises(ValueError, match="not a subset"):
        ADE20KDataset(
            data_root=str(builtin_tiny / "ade" / "ADEChallengeData2016"),
            data_prefix=dict(img_path="images/training", seg_map_path="annotations/training"),
            metainfo=metainfo, pipeline=[], reduce_zero_label=True,
        )
