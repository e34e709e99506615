"""Frozen features of every split of a data set for one backbone, from the cache when possible.

Shared by the linear probe and kNN: both read the same cached files, so a kNN run after a probe of the
same backbone and data does no forward pass at all. Both ask :meth:`SplitFeatures.non_finite_reason` before
using them: NaN/Inf features make the run ``failed``, never a score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ssld_eval.datasets import ClassificationData, get_dataset_spec, load_dataset
from ssld_eval.datasets.base import BadImagesError, DatasetLayoutError
from ssld_eval.features.cache import FeatureCache, feature_key, weights_identity
from ssld_eval.features.extract import Features, default_workers, extract_features
from ssld_eval.features.finite import non_finite_reason
from ssld_eval.features.transforms import EvalTransform, eval_transform
from ssld_eval.tasks.base import TaskContext
from ssld_eval.tasks.configs import FeatureConfig

COMPILE_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class SplitFeatures:
    data: ClassificationData
    splits: dict[str, Features]  # train, test and, when the data set has one, val
    transform: EvalTransform
    cached: dict[str, bool]  # split -> read from the cache
    compiled: bool  # a torch.compile'd model computed the features extracted in this run
    seconds: float

    @property
    def bad_images(self) -> tuple[str, ...]:
        return tuple(ident for feats in self.splits.values() for ident in feats.bad)

    def non_finite_reason(self) -> str:
        """'' when every split's features are finite, else which splits have how many NaN/Inf rows."""
        return non_finite_reason({f"{split} features": feats.features for split, feats in self.splits.items()})

    def protocol(self) -> dict[str, Any]:
        return {"transform": self.transform.describe(), "feature_dim": int(self.splits["train"].features.shape[1]),
                "features_cached": self.cached, "compiled": self.compiled, "features_s": round(self.seconds, 3)}


def compute_split_features(ctx: TaskContext, config: FeatureConfig) -> SplitFeatures:
    if config.compile not in COMPILE_CHOICES:
        raise ValueError(f"compile={config.compile!r}: expected one of {COMPILE_CHOICES}")
    started = time.perf_counter()
    data = load_dataset(ctx.dataset, ctx.data_root)
    absent = [split for split in ("train", "test") if split not in data.splits]
    if absent:  # an ImageNet folder with val/ only (the built-in mini set) has no train split
        raise DatasetLayoutError(f"{data.name}: the frozen-feature tasks need train and test splits; "
                                 f"{data.files_root} has no {' or '.join(absent)} split; expected layout: "
                                 f"{get_dataset_spec(ctx.dataset).layout}")
    transform = eval_transform(ctx.backbone, config.image_size)
    backbone = ctx.backbone
    common = {
        "weights": weights_identity(backbone.weights_id, backbone.model), "arch": backbone.arch,
        "dataset": data.name, "fingerprint": data.fingerprint(ctx.cache_dir), "transform": transform.describe(),
        "precision": "bf16" if ctx.device.type == "cuda" else "fp32",
    }
    cache = FeatureCache(ctx.cache_dir)
    keys = {split: feature_key(split=split, **common) for split in data.splits}
    found = {split: cache.load(key) for split, key in keys.items()}
    missing = [split for split, feats in found.items() if feats is None]
    todo = sum(len(data.splits[s]) for s in missing)
    compiled = config.compile == "on" or (config.compile == "auto" and todo >= config.compile_min_images)
    workers = default_workers() if config.workers < 0 else config.workers
    built = transform.build()
    for split in missing:
        feats = extract_features(backbone.model, data.splits[split], built, device=ctx.device,
                                 batch_size=config.batch_size, workers=workers, compile_model=compiled,
                                 desc=f"{data.name}/{split}")
        cache.save(keys[split], feats, {"backbone": backbone.backbone_id, **common, "split": split})
        found[split] = feats
    splits = {split: feats for split, feats in found.items() if feats is not None}
    used_compile = any(found[s].compiled for s in missing)  # type: ignore[union-attr]
    result = SplitFeatures(data, splits, transform, {s: s not in missing for s in splits}, used_compile,
                           time.perf_counter() - started)
    if config.fail_on_bad_images and result.bad_images:
        raise BadImagesError(f"{len(result.bad_images)} image(s) could not be decoded: {list(result.bad_images)[:20]}")
    return result


def train_val(features: SplitFeatures, fraction: float, seed: int) -> tuple[Features, Features, str]:
    """(train, val, how val was made): the official validation split, else a random ``fraction`` of train."""
    if "val" in features.splits:
        return features.splits["train"], features.splits["val"], "official"
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction={fraction}: expected a fraction in (0, 1)")
    train = features.splits["train"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    held = max(1, round(fraction * len(train)))
    kept, held_out = order[held:].sort().values, order[:held].sort().values
    return train.subset(kept), train.subset(held_out), f"random {fraction:.0%} of train"
