"""Synthetic but plausible result records, for the report benchmark, tests and trying the report out.

Deterministic (a seeded ``random.Random``) and fast: the provenance fields that would otherwise call git
or scan installed packages are fixed, so ten thousand records build in well under a second.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from ssld_eval.provenance import canonical_hash
from ssld_eval.records.experiment import Experiment
from ssld_eval.records.schema import ResultRecord

TASKS = ("linear-probe", "knn", "fine-tune", "coco-det", "ade20k-seg")
#: metric names as the tasks write them (the report refuses to guess a direction for any other name)
PRIMARY = {"linear-probe": "top1", "knn": "knn20_top1", "fine-tune": "top1", "coco-det": "box_AP",
           "ade20k-seg": "mIoU"}
SECONDARY = {"linear-probe": "mean_per_class", "knn": "knn1_top1", "fine-tune": "mean_per_class",
             "coco-det": "mask_AP", "ade20k-seg": "mAcc"}
DATASETS = ("flowers102", "dtd", "pets", "aircraft", "cars", "cifar10", "cifar100", "food101", "sun397",
            "caltech101", "birdsnap", "voc2007", "fashion-mnist", "digits", "animals", "eurosat", "resisc45",
            "stl10", "svhn", "country211")
METHODS = ("supervised", "ssld", "simreg", "scalekd", "kd")
FIXED_PROVENANCE = {"git_sha": "0" * 40, "versions": {"torch": "synthetic"}, "created_at": 1.7e9}


def backbone_names(count: int) -> list[str]:
    return [f"{METHODS[i % len(METHODS)]}-r{18 + 2 * (i // len(METHODS))}" for i in range(count)]


def synthetic_records(backbones: int = 20, tasks: int = 5, datasets: int = 20, seeds: int = 5,
                      rng_seed: int = 0, failed_every: int = 0) -> Iterator[ResultRecord]:
    """The full product backbones x tasks x datasets x seeds; every ``failed_every``-th one failed."""
    rng = random.Random(rng_seed)
    names = backbone_names(backbones)
    index = 0
    for b, name in enumerate(names):
        method = name.split("-")[0]
        quality = rng.uniform(-3.0, 3.0)
        source_top1 = round(70.0 + quality + b * 0.1, 2)
        weights_id = canonical_hash({"synthetic-backbone": name}) * 4
        for task in TASKS[:tasks]:
            metric = PRIMARY[task]
            for d, dataset in enumerate(DATASETS[:datasets]):
                base = 40.0 + 2.5 * d + quality
                for seed in range(seeds):
                    index += 1
                    common = dict(task=task, dataset=dataset, backbone=name, arch=f"resnet{18 + 2 * (b // 5)}",
                                  weights_id=weights_id, seed=seed, method=method, protocol_version=1,
                                  data_id=canonical_hash({"synthetic-data": dataset}),
                                  teacher="" if method == "supervised" else "convnext_large",
                                  source_top1=source_top1, config_hash=canonical_hash({"task": task}),
                                  key_audit={"matched_fraction": 1.0, "matched": 100, "expected": 100},
                                  duration_s=round(rng.uniform(5, 500), 1), **FIXED_PROVENANCE)
                    if failed_every and index % failed_every == 0:
                        yield ResultRecord(status="failed", reason="synthetic failure: out of memory", **common)
                        continue
                    value = round(min(99.0, base + rng.gauss(0.0, 0.6)), 3)
                    metrics = {metric: value, SECONDARY[task]: round(value - 1.5, 3)}
                    yield ResultRecord(status="complete", metrics=metrics, primary_metric=metric, **common)


def synthetic_record(experiment: Experiment, backbone: str = "synthetic", value: float = 50.0) -> ResultRecord:
    """One complete record of ``experiment`` (same key): fills a store so that a sweep finds its jobs done."""
    return ResultRecord(task=experiment.task, dataset=experiment.dataset, backbone=backbone, arch=backbone,
                        weights_id=experiment.weights_id, seed=experiment.seed, status="complete",
                        data_id=experiment.data_id, protocol_version=experiment.protocol_version,
                        config=dict(experiment.config), metrics={"top1": value}, primary_metric="top1",
                        **FIXED_PROVENANCE)
