"""Paired comparison of two backbones on the same test samples: the bootstrap of the difference.

Both backbones are scored on the *same* resamples (one count matrix, see :mod:`ssld_eval.stats.resample`),
so the interval of ``delta = value_b - value_a`` carries the covariance between them: on ImageNet-val
two backbones that disagree on 5% of the images have SE(delta) of about 0.1 pp, against the 0.23 pp an
unpaired comparison of two 0.16 pp standard errors would suggest (shared/notes/uncertainty.md, section 2a).

The p-value is the two-sided bootstrap achieved significance level (Efron & Tibshirani 1993, ch. 16):
twice the share of replicate deltas on the other side of 0 from the observed delta, with the +1 in
numerator and denominator of Monte Carlo p-values (North, Curtis & Sham 2002), capped at 1:
``p = min(1, 2 (1 + #{delta* on the other side}) / (1 + B))``. A replicate exactly at 0 counts as the
other side, so identical predictions give p = 1, and an observed delta of exactly 0 gives p = 1. It
agrees with the percentile interval: p <= 1 - level roughly when the interval excludes 0; the smallest p
that B replicates can show is 2 / (1 + B).

With several training seeds per backbone, :func:`two_level_bootstrap` resamples seeds, then samples
(the seeds of one backbone are drawn with replacement, each replicate averaging the drawn seeds' metrics
on the shared sample resample), so that the interval also reflects training noise, which a test-set
bootstrap alone cannot (section 2e of the notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ssld_eval.stats.bootstrap import (
    DEFAULT_B,
    DEFAULT_LEVEL,
    PERCENTILE,
    WeightedMetric,
    check_level,
    full_sample,
    percentile_interval,
    replicates,
)
from ssld_eval.stats.resample import Seed

_SEED_STREAM = 1  # appended to the seed for the seed-level draws of the two-level bootstrap


@dataclass(frozen=True)
class PairedResult:
    """``delta = value_b - value_a`` with its bootstrap interval and two-sided p-value."""

    value_a: float
    value_b: float
    delta: float
    low: float
    high: float
    p_value: float
    B: int
    seed: Seed
    method: str
    level: float = DEFAULT_LEVEL

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies strictly on one side of 0: the difference is called real."""
        return self.low > 0.0 or self.high < 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seed"] = self.seed if isinstance(self.seed, int) else list(self.seed)
        out["excludes_zero"] = self.excludes_zero
        return out


def bootstrap_p_value(delta: float, replicate_deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value of an observed ``delta`` (see the module docstring for the formula)."""
    replicate_deltas = np.asarray(replicate_deltas)
    if delta > 0:
        other_side = np.count_nonzero(replicate_deltas <= 0)
    elif delta < 0:
        other_side = np.count_nonzero(replicate_deltas >= 0)
    else:
        return 1.0
    return min(1.0, 2.0 * (1 + other_side) / (1 + len(replicate_deltas)))


def paired_result(
    value_a: float, value_b: float, replicate_deltas: np.ndarray, *, B: int, seed: Seed, method: str,
    level: float,
) -> PairedResult:
    delta = value_b - value_a
    low, high = percentile_interval(replicate_deltas, level)
    return PairedResult(value_a=value_a, value_b=value_b, delta=delta, low=low, high=high,
                        p_value=bootstrap_p_value(delta, replicate_deltas), B=B, seed=seed, method=method,
                        level=level)


def paired_bootstrap(
    metric_a: WeightedMetric, metric_b: WeightedMetric, n: int, *, B: int = DEFAULT_B, seed: Seed = 0,
    level: float = DEFAULT_LEVEL, strata: np.ndarray | None = None,
) -> PairedResult:
    """Paired percentile bootstrap of ``metric_b - metric_a`` over ``n`` shared, aligned samples (see
    :func:`~ssld_eval.stats.align.align_ids`); ``strata`` resamples within each class."""
    check_level(level)
    value_a, value_b = full_sample([metric_a, metric_b], n)
    reps = replicates([metric_a, metric_b], n, B, seed, strata)
    method = f"paired {PERCENTILE}" if strata is None else f"paired stratified {PERCENTILE}"
    return paired_result(value_a, value_b, reps[1] - reps[0], B=B, seed=seed, method=method, level=level)


def _seed_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(S, B) replicates of S seeds -> (B,) means over S seeds drawn with replacement, per replicate."""
    seeds, count = values.shape
    drawn = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=count)  # (B, S)
    return (drawn * values.T).sum(axis=1) / seeds


def two_level_bootstrap(
    metrics_a: Sequence[WeightedMetric], metrics_b: Sequence[WeightedMetric], n: int, *, B: int = DEFAULT_B,
    seed: Seed = 0, level: float = DEFAULT_LEVEL, strata: np.ndarray | None = None,
) -> PairedResult:
    """Delta of the seed-mean metric of backbone b over backbone a, one weighted metric per training seed
    and backbone, every one on the same ``n`` samples. Each replicate draws each backbone's seeds with
    replacement (independently: seed ``i`` of a has nothing to do with seed ``i`` of b), then the samples
    (shared by all), and compares the means. With one seed each it is :func:`paired_bootstrap`."""
    if not metrics_a or not metrics_b:
        raise ValueError(f"need at least one seed per backbone, got {len(metrics_a)} and {len(metrics_b)}")
    check_level(level)
    metrics = [*metrics_a, *metrics_b]
    values = full_sample(metrics, n)
    reps = replicates(metrics, n, B, seed, strata)
    split = len(metrics_a)
    entropy = [seed] if isinstance(seed, int) else list(seed)
    rng = np.random.default_rng([*entropy, _SEED_STREAM])
    deltas = _seed_means(reps[split:], rng) - _seed_means(reps[:split], rng)
    method = f"two-level {PERCENTILE} ({split} and {len(metrics_b)} seeds, then samples)"
    return paired_result(float(values[:split].mean()), float(values[split:].mean()), deltas, B=B, seed=seed,
                         method=method, level=level)
