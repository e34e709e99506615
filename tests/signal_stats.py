"""The statistics of the signal tests: a claim "A beats B" is asserted only with a stated confidence.

- :func:`paired_claim`: A and B trained with the same seeds; a one-sided Wilcoxon signed-rank test over the
  per-seed differences (the training noise is what decides such a claim, not the test set's).
- :func:`mcnemar_claim`: one run each with its per-sample outcomes on the same test samples; the exact
  one-sided McNemar test (a binomial test on the samples only one of the two gets right).
- :func:`proportions_claim`: one run each, judged on the same test images; a one-sided lower confidence
  bound of the difference of two accuracies treated as independent binomial proportions (Newcombe's
  hybrid score interval). Treating paired outcomes as independent overstates the variance, so the bound
  is conservative.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class PairedClaim:
    """The claim "``better`` beats ``baseline``" over seeds: seed ``s`` of both shares its initialisation and
    data order, and the one-sided Wilcoxon signed-rank test over the per-seed differences decides. Ranks,
    not means: a baseline seed that collapses (a short run's EMA can land at chance) counts as one win,
    not as a 60-point one that would carry the mean, or inflate the variance of a t-test until it fails."""

    better: str
    baseline: str
    differences: tuple[float, ...]  # better - baseline, per seed
    p_value: float
    alpha: float
    margin: float = 0.0  # > 0: non-inferiority, "better is no more than ``margin`` points worse"

    @property
    def holds(self) -> bool:
        return self.p_value < self.alpha

    def __str__(self) -> str:
        wins = sum(d + self.margin > 0 for d in self.differences)
        claim = f" + {self.margin:g} > 0" if self.margin else " > 0"
        return (f"{self.better} - {self.baseline}: median {statistics.median(self.differences):+.2f} points, "
                f"{wins}/{len(self.differences)} seeds with the difference{claim} "
                f"({', '.join(f'{d:+.2f}' for d in self.differences)}); "
                f"one-sided Wilcoxon p = {self.p_value:.4f} (claimed at p < {self.alpha})")


def paired_claim(results: dict[str, list[float]], better: str, baseline: str, alpha: float = 0.05,
                 margin: float = 0.0) -> PairedClaim:
    """``better`` beats ``baseline`` (``margin`` 0), or is at most ``margin`` points worse (non-inferiority)."""
    differences = [a - b for a, b in zip(results[better], results[baseline], strict=True)]
    test = stats.wilcoxon([d + margin for d in differences], alternative="greater", method="exact",
                          zero_method="zsplit")
    return PairedClaim(better, baseline, tuple(differences), float(test.pvalue), alpha, margin)


@dataclass(frozen=True)
class McNemarClaim:
    """The claim "A is right more often than B" on the same test samples."""

    a_only: int  # samples A gets right and B wrong
    b_only: int
    n: int
    p_value: float
    alpha: float

    @property
    def holds(self) -> bool:
        return self.p_value < self.alpha

    def __str__(self) -> str:
        delta = 100 * (self.a_only - self.b_only) / self.n
        return (f"{100 * self.a_only / self.n:.1f}% of {self.n} samples right only for A, "
                f"{100 * self.b_only / self.n:.1f}% only for B (delta {delta:+.2f} points); "
                f"exact one-sided McNemar p = {self.p_value:.2e} (claimed at p < {self.alpha})")


def mcnemar_claim(correct_a: Sequence[bool], correct_b: Sequence[bool], alpha: float = 0.01) -> McNemarClaim:
    pairs = list(zip(correct_a, correct_b, strict=True))
    a_only = sum(a and not b for a, b in pairs)
    b_only = sum(b and not a for a, b in pairs)
    p_value = stats.binomtest(a_only, a_only + b_only, 0.5, alternative="greater").pvalue if a_only + b_only else 1.0
    return McNemarClaim(a_only, b_only, len(pairs), float(p_value), alpha)


def _wilson(percent: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson's score interval of an accuracy (percent of ``n``) as proportions; each bound one-sided at
    ``confidence`` (scipy's two-sided interval at ``2 * confidence - 1``)."""
    interval = stats.binomtest(round(percent * n / 100), n).proportion_ci(2 * confidence - 1, method="wilson")
    return interval.low, interval.high


@dataclass(frozen=True)
class ProportionsClaim:
    """The claim "accuracy ``a`` beats accuracy ``b``" on ``n`` test samples each (percent)."""

    a: float
    b: float
    n: int
    lower_bound: float  # one-sided lower confidence bound of a - b, points
    confidence: float

    @property
    def holds(self) -> bool:
        return self.lower_bound > 0

    def __str__(self) -> str:
        return (f"{self.a:.2f} - {self.b:.2f} = {self.a - self.b:+.2f} points on {self.n} samples, "
                f"{self.confidence:.0%} lower bound {self.lower_bound:+.2f}")


def proportions_claim(a: float, b: float, n: int, confidence: float = 0.99) -> ProportionsClaim:
    """Newcombe's (1998) method 10 for the difference of two proportions, one-sided at ``confidence``."""
    pa, pb = a / 100, b / 100
    la, _ = _wilson(a, n, confidence)
    _, ub = _wilson(b, n, confidence)
    low = pa - pb - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    return ProportionsClaim(a, b, n, 100 * low, confidence)
