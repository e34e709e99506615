"""Per-test-sample outcomes beside a record, and the 95% intervals computed from them. Torch-free.

A record's metrics are single numbers; whether two backbones differ needs what each got right on *which*
test samples (shared/notes/uncertainty.md). So a task hands back, per test sample, what re-accumulates its
metrics under bootstrap weights (for classification: the sample id, the label, the arg-max prediction and
the top-5; for multi-label VOC2007: the scores and targets). They are written as ``<key>.outcomes.npz``
beside ``<key>.json`` (numpy arrays only, read with ``allow_pickle=False``), and the record names the file,
its sha256 and the bootstrap that made its ``ci95``.

Every interval is a percentile bootstrap over test samples with a fixed seed (:data:`BOOTSTRAP_SEED`,
recorded): every record of the same test set draws the *same* resamples, which is what lets ``compare``
pair them. Mean per-class accuracy resamples within each class. At unit weights each re-accumulated metric
must equal the one the task reported; a mismatch is a bug, raised as :class:`OutcomesError`.

Size at real scale: ImageNet-val (50,000 samples) holds 50,000 x (5 + 2) int32 plus the sample ids, about
1.5 MB compressed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SUFFIX = ".outcomes.npz"
BOOTSTRAP_B = 1000
BOOTSTRAP_SEED = 0
#: the base metric names of classification outcomes, and the arrays each needs (after the metric's prefix)
CLASSIFICATION = ("top1", "top5", "mean_per_class", "map11")
UNIT_TOLERANCE = 1e-6  # percent points: float32 scores vs float64 re-accumulation


class OutcomesError(ValueError):
    """Outcomes that are missing, corrupted or inconsistent with their record; the message says which."""


def encode(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The ``.npz`` bytes of ``arrays`` (compressed; no object arrays, so no pickle is ever needed to read)."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise OutcomesError(f"outcome {name!r} is an object array: store numbers or fixed-width strings")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return buffer.getvalue()


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def read(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    """The arrays of ``path``, after checking them against the record's checksum."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise OutcomesError(f"{path}: the record's per-sample outcomes are unreadable ({exc})") from exc
    if sha256(blob) != expected_sha256:
        raise OutcomesError(f"{path}: sha256 {sha256(blob)[:16]}... is not the record's {expected_sha256[:16]}...: "
                            "the file was changed or replaced after the run")
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _split(metric: str) -> tuple[str, str] | None:
    """``"knn20_top1"`` -> ``("knn20_", "top1")``; ``None`` for a metric without classification outcomes."""
    for base in CLASSIFICATION:
        if metric == base or metric.endswith(f"_{base}"):
            return metric[: len(metric) - len(base)], base
    return None


def weighted_metric(metric: str, arrays: Mapping[str, np.ndarray]) -> tuple[Any, np.ndarray | None] | None:
    """(weighted metric, strata) of ``metric`` from classification outcomes; ``None`` when there are none."""
    from ssld_eval.stats import map11_metric, mean_per_class_metric, top1_metric  # scipy: only when asked

    parsed = _split(metric)
    if parsed is None:
        return None
    prefix, base = parsed
    needs = {"map11": (f"{prefix}scores", "targets"), "top5": (f"{prefix}top5", "label")}.get(
        base, (f"{prefix}pred", "label"))
    missing = [name for name in needs if name not in arrays]
    if missing:
        raise OutcomesError(f"metric {metric!r} needs outcome arrays {missing}; present: {sorted(arrays)}")
    if base == "map11":
        return map11_metric(arrays[needs[0]], arrays[needs[1]]), None
    pred, label = arrays[needs[0]], arrays[needs[1]]
    if base == "top1":
        return top1_metric(pred == label), None
    if base == "top5":  # the label among the five highest scores
        return top1_metric((pred == label[:, None]).any(axis=1)), None
    return mean_per_class_metric(label, pred), label


def intervals(metrics: Mapping[str, float], arrays: Mapping[str, np.ndarray], *, B: int = BOOTSTRAP_B,
              seed: int = BOOTSTRAP_SEED) -> dict[str, list[float]]:
    """The 95% interval of every metric the outcomes re-accumulate; each checked against the reported value."""
    from ssld_eval.stats import bootstrap_interval

    n = len(arrays["sample_id"]) if "sample_id" in arrays else 0
    if n == 0:
        raise OutcomesError("outcomes without sample ids: nothing to resample")
    result = {}
    for name, reported in metrics.items():
        found = weighted_metric(name, arrays)
        if found is None:
            continue
        metric, strata = found
        interval = bootstrap_interval(metric, n, B=B, seed=seed, strata=strata)
        if abs(interval.value - reported) > UNIT_TOLERANCE:
            raise OutcomesError(f"metric {name!r}: the outcomes give {interval.value!r} at unit weights, the task "
                                f"reported {reported!r}")
        result[name] = [interval.low, interval.high]
    return result


def bootstrap_description(B: int = BOOTSTRAP_B, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    return {"B": B, "seed": seed, "method": "percentile bootstrap over test samples (class-stratified for "
                                            "mean_per_class)", "level": 0.95}
