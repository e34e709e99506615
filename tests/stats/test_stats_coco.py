"""COCO AP re-accumulated from stored evaluation arrays equals pycocotools: at unit weights on the run as
evaluated, and at integer weights on a data set that repeats each image that many times."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ssld_eval.stats.coco_arrays import CocoEvalArrays, coco_eval_arrays
from ssld_eval.stats.coco_stats import STAT_NAMES, coco_interval, coco_metric, coco_stats

CATEGORIES = (1, 2, 3, 5)  # 5 has no ground truth at all: -1 in pycocotools, left out of the means


def synthetic_scene(seed: int = 0, images: int = 24) -> tuple[list[dict], list[dict], list[dict]]:
    """(images, annotations, detections): boxes of all three area ranges, crowd boxes, jittered true
    detections, pure false positives, and two images with more than 100 detections (one of them all in a
    single category, so evaluateImg's own maxDets cut matters)."""
    rng = np.random.default_rng(seed)
    image_list = [{"id": 100 + i, "width": 640, "height": 480} for i in range(images)]
    annotations, detections = [], []
    for image in image_list:
        for _ in range(rng.integers(0, 9)):
            cat = int(rng.choice(CATEGORIES[:3]))
            side = float(rng.choice([12.0, 20.0, 50.0, 80.0, 150.0, 300.0])) * rng.uniform(0.8, 1.2)
            x, y = rng.uniform(0, 640 - side), rng.uniform(0, 480 - min(side, 470))
            box = [x, y, side, min(side, 470.0)]
            crowd = int(rng.random() < 0.1)
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": cat,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": crowd})
            for _ in range(rng.integers(0, 3)):  # duplicates make false positives at every IoU
                jitter = rng.normal(0, 0.08 * side, 4)
                det = [box[0] + jitter[0], box[1] + jitter[1], max(2.0, box[2] + jitter[2]),
                       max(2.0, box[3] + jitter[3])]
                detections.append({"image_id": image["id"], "category_id": cat, "bbox": det,
                                   "score": float(rng.random())})
        crowded = image["id"] in (100, 101)
        for _ in range(rng.integers(110, 130) if crowded else rng.integers(0, 6)):
            cat = 1 if image["id"] == 101 else int(rng.choice(CATEGORIES))
            side = rng.uniform(5, 200)
            detections.append({"image_id": image["id"], "category_id": cat,
                               "bbox": [rng.uniform(0, 500), rng.uniform(0, 350), side, side],
                               "score": float(rng.random())})
    return image_list, annotations, detections


def run_pycocotools(images: list[dict], annotations: list[dict], detections: list[dict],
                    use_cats: int = 1) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": c, "name": f"c{c}"} for c in CATEGORIES]}
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes([dict(d) for d in detections]), "bbox")
        evaluation.params.useCats = use_cats
        evaluation.evaluate()
    return evaluation


def summarize(evaluation: COCOeval) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.accumulate()
        evaluation.summarize()
    return np.asarray(evaluation.stats)


def repeated(images: list[dict], annotations: list[dict], detections: list[dict], weights: np.ndarray):
    """The scene with image ``i`` present ``weights[i]`` times (fresh image and annotation ids)."""
    new_images, new_annotations, new_detections = [], [], []
    for image, count in zip(images, weights, strict=True):
        for copy in range(int(count)):
            new_id = 10_000 * (copy + 1) + image["id"]
            new_images.append({**image, "id": new_id})
            new_annotations += [{**a, "id": len(new_annotations) + 1 + j, "image_id": new_id}
                                for j, a in enumerate(a for a in annotations if a["image_id"] == image["id"])]
            new_detections += [{**d, "image_id": new_id} for d in detections if d["image_id"] == image["id"]]
    return new_images, new_annotations, new_detections


@pytest.fixture(scope="module")
def scene():
    images, annotations, detections = synthetic_scene()
    evaluation = run_pycocotools(images, annotations, detections)
    arrays = coco_eval_arrays(evaluation)
    return images, annotations, detections, evaluation, arrays


def test_scene_exercises_the_edge_cases(scene):
    _, annotations, detections, _, arrays = scene
    assert any(a["iscrowd"] for a in annotations)
    per_image = np.bincount([d["image_id"] - 100 for d in detections])
    assert per_image.max() > 100
    assert arrays.gt_count[CATEGORIES.index(5)].sum() == 0
    areas = np.array([a["area"] for a in annotations])
    assert (areas < 32**2).any() and ((areas > 32**2) & (areas < 96**2)).any() and (areas > 96**2).any()


def test_unit_weights_equal_pycocotools(scene):
    *_, evaluation, arrays = scene
    expected = summarize(evaluation)
    ours = coco_stats(arrays)
    got = np.array([ours[name][0] for name in STAT_NAMES])
    assert expected.min() > 0.0  # every line defined and non-trivial, so the comparison means something
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_category_agnostic_evaluation_equals_pycocotools():
    evaluation = run_pycocotools(*synthetic_scene(seed=1, images=12), use_cats=0)
    arrays = coco_eval_arrays(evaluation)
    assert arrays.cat_ids.tolist() == [-1]
    ours = coco_stats(arrays)
    np.testing.assert_allclose([ours[name][0] for name in STAT_NAMES], summarize(evaluation), rtol=0, atol=1e-9)


def test_integer_weights_equal_pycocotools_on_repeated_images(scene):
    images, annotations, detections, _, arrays = scene
    weights = np.random.default_rng(7).multinomial(len(images), np.full(len(images), 1 / len(images)))
    assert (weights == 0).any() and (weights > 1).any()
    expected = summarize(run_pycocotools(*repeated(images, annotations, detections, weights)))
    ours = coco_stats(arrays, weights[None, :])
    got = np.array([ours[name][0] for name in STAT_NAMES])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.abs(got - summarize(scene[3])).max() > 1e-3  # the weights did change the numbers


def test_weight_rows_are_independent(scene):
    *_, arrays = scene
    rng = np.random.default_rng(3)
    weights = rng.integers(0, 3, size=(5, arrays.shape[2]))
    together = coco_stats(arrays, weights)
    for row in range(5):
        alone = coco_stats(arrays, weights[row:row + 1])
        for name in ("AP", "AP75", "APs", "AR100"):
            assert alone[name][0] == pytest.approx(together[name][row], abs=1e-12)


def test_arrays_round_trip_through_npz(scene, tmp_path):
    *_, arrays = scene
    path = tmp_path / "coco_eval.npz"
    np.savez_compressed(path, **arrays.to_arrays())
    with np.load(path) as loaded:
        back = CocoEvalArrays.from_arrays(loaded)
    assert back.area_labels == arrays.area_labels and back.max_dets == arrays.max_dets
    assert coco_stats(back)["AP"][0] == coco_stats(arrays)["AP"][0]


def test_metric_in_percent_and_interval_brackets_it(scene):
    *_, evaluation, arrays = scene
    ap = summarize(evaluation)[0]
    assert coco_metric(arrays, "AP")(np.ones((1, arrays.shape[2])))[0] == pytest.approx(100 * ap, abs=1e-9)
    result = coco_interval(arrays, "AP50", B=200, seed=1)
    assert result.low < result.value < result.high
    assert result.B == 200 and result.seed == 1


def test_bad_inputs_are_named(scene):
    *_, arrays = scene
    with pytest.raises(ValueError, match="unknown COCO statistics"):
        coco_stats(arrays, names=("mAP",))
    with pytest.raises(ValueError, match=r"image weights must be \(b, 24\)"):
        coco_stats(arrays, np.ones((1, 5)))
    with pytest.raises(ValueError, match="run evaluate"):
        coco_eval_arrays(COCOeval())
