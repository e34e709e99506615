"""Backbone b against backbone a over several data sets at once: the mean delta and the probability of
improvement, with bootstrap intervals stratified by data set.

Each data set keeps its own test samples: a replicate resamples the samples within every set,
independently per set (set ``s`` draws from the seed ``(seed, s)``, so sets of equal size do not share
draws), and then averages over the fixed list of sets, as rliable's stratified bootstrap does (Agarwal
et al. 2021) with the sets as strata. The sets themselves are not resampled: the interval says how sure
the comparison is on *these* data sets, not on data sets at large.

Probability of improvement: rliable's ``probability_of_improvement`` is, per task, the Mann-Whitney
statistic ``P(X_b > X_a) + P(X_b = X_a) / 2`` over the runs, averaged over tasks. With one run per backbone
and set it reduces to the share of sets on which b beats a (a tie counting a half), which is what is
computed here, point and replicates alike. It counts sets, not sizes: a 0.1 pp win counts as much as a
10 pp one, so read it beside the mean delta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ssld_eval.stats.bootstrap import (
    DEFAULT_B,
    DEFAULT_LEVEL,
    WeightedMetric,
    check_level,
    full_sample,
    percentile_interval,
    replicates,
)
from ssld_eval.stats.paired import bootstrap_p_value
from ssld_eval.stats.resample import Seed


@dataclass(frozen=True)
class PairedSet:
    """One data set of a comparison: the two backbones' weighted metrics on its ``n`` aligned samples,
    and ``strata`` where its metric is resampled within classes."""

    name: str
    metric_a: WeightedMetric
    metric_b: WeightedMetric
    n: int
    strata: np.ndarray | None = None


@dataclass(frozen=True)
class AcrossSetsResult:
    """Mean over sets of ``delta = b - a`` and the probability of improvement, each with its interval."""

    names: tuple[str, ...]
    deltas: tuple[float, ...]
    mean_delta: float
    low: float
    high: float
    p_value: float
    prob_improvement: float
    prob_improvement_low: float
    prob_improvement_high: float
    B: int
    seed: Seed
    method: str
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["names"], out["deltas"] = list(self.names), list(self.deltas)
        out["seed"] = self.seed if isinstance(self.seed, int) else list(self.seed)
        return out


def _wins(deltas: np.ndarray) -> np.ndarray:
    """Per set: 1 where b beats a, 1/2 on a tie, 0 otherwise (the Mann-Whitney kernel)."""
    return (deltas > 0) + 0.5 * (deltas == 0)


def across_sets(
    sets: Sequence[PairedSet], *, B: int = DEFAULT_B, seed: Seed = 0, level: float = DEFAULT_LEVEL,
) -> AcrossSetsResult:
    """Mean delta and probability of improvement of b over a across ``sets``, stratified by set."""
    if not sets:
        raise ValueError("across_sets needs at least one data set")
    names = tuple(s.name for s in sets)
    if len(set(names)) != len(names):
        raise ValueError(f"data set names repeat: {names}")
    check_level(level)
    entropy = [seed] if isinstance(seed, int) else list(seed)
    deltas = np.empty(len(sets))
    replicate_deltas = np.empty((len(sets), B))
    for index, paired in enumerate(sets):
        value_a, value_b = full_sample([paired.metric_a, paired.metric_b], paired.n)
        reps = replicates([paired.metric_a, paired.metric_b], paired.n, B, [*entropy, index], paired.strata)
        deltas[index] = value_b - value_a
        replicate_deltas[index] = reps[1] - reps[0]
    mean_reps = replicate_deltas.mean(axis=0)
    mean_delta = float(deltas.mean())
    low, high = percentile_interval(mean_reps, level)
    wins_low, wins_high = percentile_interval(_wins(replicate_deltas).mean(axis=0), level)
    return AcrossSetsResult(
        names=names, deltas=tuple(float(d) for d in deltas), mean_delta=mean_delta, low=low, high=high,
        p_value=bootstrap_p_value(mean_delta, mean_reps), prob_improvement=float(_wins(deltas).mean()),
        prob_improvement_low=wins_low, prob_improvement_high=wins_high, B=B, seed=seed,
        method=f"paired percentile bootstrap stratified by data set ({len(sets)} sets)", level=level)
