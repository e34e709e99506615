"""The percentile bootstrap interval of one metric over the test samples.

Every metric is given as a *weighted metric*: a function from a ``(b, n)`` matrix of per-sample weights
(bootstrap counts) to the ``b`` metric values, so that the same resamples can drive any metric and any
number of models. The value on the full test set is the metric at unit weights.

The interval is Efron & Tibshirani's percentile interval (*An Introduction to the Bootstrap*, 1993,
ch. 13): the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the ``B`` replicates. It is
transformation-respecting and needs no variance formula, which is why it suits metrics such as COCO AP
or mIoU that have none; what it does not do is correct bias (BCa would, at the price of a jackknife per
metric, and dfouhey/coco's bias correction is left out for the same reason).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ssld_eval.stats.resample import Seed, iter_counts

#: (b, n) per-sample weights -> (b,) metric values.
WeightedMetric = Callable[[np.ndarray], np.ndarray]

DEFAULT_B = 1000
DEFAULT_LEVEL = 0.95
PERCENTILE = "percentile bootstrap"


@dataclass(frozen=True)
class BootstrapResult:
    """A metric on the full test set and its bootstrap interval, with what it takes to redo it."""

    value: float
    low: float
    high: float
    B: int
    seed: Seed
    method: str
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seed"] = self.seed if isinstance(self.seed, int) else list(self.seed)
        return out


def check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level}: a confidence level lies strictly between 0 and 1")


def percentile_interval(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The equal-tailed percentile interval of bootstrap replicates (linear interpolation, numpy's default)."""
    check_level(level)
    replicates = np.asarray(replicates, dtype=np.float64)
    if replicates.ndim != 1 or len(replicates) == 0:
        raise ValueError(f"replicates must be a non-empty vector, got shape {replicates.shape}")
    if not np.isfinite(replicates).all():
        raise ValueError("replicates contain NaN or Inf: the metric is undefined on some resample")
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def full_sample(metrics: Sequence[WeightedMetric], n: int) -> np.ndarray:
    """Each metric at unit weights: its value on the test set as it is."""
    ones = np.ones((1, n), dtype=np.int32)
    return np.array([float(np.asarray(metric(ones))[0]) for metric in metrics])


def replicates(
    metrics: Sequence[WeightedMetric], n: int, B: int, seed: Seed, strata: np.ndarray | None = None,
) -> np.ndarray:
    """``(len(metrics), B)`` replicates: every metric sees the same ``B`` count vectors."""
    out = np.empty((len(metrics), B))
    done = 0
    for counts in iter_counts(n, B, seed, strata=strata):
        rows = counts.shape[0]
        for row, metric in enumerate(metrics):
            values = np.asarray(metric(counts), dtype=np.float64)
            if values.shape != (rows,):
                raise ValueError(f"a weighted metric returned shape {values.shape} for {rows} weight rows")
            out[row, done:done + rows] = values
        done += rows
    return out


def bootstrap_interval(
    metric: WeightedMetric, n: int, *, B: int = DEFAULT_B, seed: Seed = 0, level: float = DEFAULT_LEVEL,
    strata: np.ndarray | None = None,
) -> BootstrapResult:
    """Percentile bootstrap interval of ``metric`` over ``n`` samples (stratified when ``strata`` is given)."""
    check_level(level)
    value = full_sample([metric], n)[0]
    low, high = percentile_interval(replicates([metric], n, B, seed, strata)[0], level)
    method = PERCENTILE if strata is None else f"stratified {PERCENTILE}"
    return BootstrapResult(value=value, low=low, high=high, B=B, seed=seed, method=method, level=level)
