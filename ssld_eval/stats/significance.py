"""Tests that need no resampling: McNemar's test for paired top-1, and Holm's correction over many.

McNemar (1947): two classifiers on the same samples differ only where exactly one of them is right. Of
those discordant samples, ``b`` favour backbone a and ``c`` backbone b; under "equally good" each is a
fair coin, so the exact test is the two-sided binomial test of ``b`` out of ``b + c`` at 1/2
(``scipy.stats.binomtest``). The exact form is used at every size: it is what the chi-square
approximation approximates, and it costs nothing.

Holm (1979): comparing several backbones or data sets at once, the step-down correction keeps the
family-wise error rate at ``alpha`` under any dependence between the tests, and is uniformly more
powerful than Bonferroni. Adjusted p-values: sort ascending, multiply the ``i``-th smallest (0-based) by
``m - i``, take the running maximum, cap at 1; a hypothesis is rejected when its adjusted p <= alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class McNemarResult:
    """Discordant counts (``b``: only a right, ``c``: only b right) of ``n`` samples and the exact p."""

    b: int
    c: int
    n: int
    p_value: float
    method: str = "exact McNemar (two-sided binomial on discordant pairs)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HolmResult:
    """Holm-adjusted p-values in the input order, and which are significant at ``alpha``."""

    adjusted: tuple[float, ...]
    significant: tuple[bool, ...]
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {"adjusted": list(self.adjusted), "significant": list(self.significant), "alpha": self.alpha}


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """Exact McNemar test of two boolean ``correct`` vectors over the same, aligned samples."""
    correct_a, correct_b = np.asarray(correct_a), np.asarray(correct_b)
    if correct_a.dtype != np.bool_ or correct_b.dtype != np.bool_:
        raise ValueError(f"correct vectors must be boolean, got {correct_a.dtype} and {correct_b.dtype}")
    if correct_a.ndim != 1 or correct_a.shape != correct_b.shape:
        raise ValueError(f"correct vectors must be equal-length vectors, got {correct_a.shape} and "
                         f"{correct_b.shape}")
    b = int(np.count_nonzero(correct_a & ~correct_b))
    c = int(np.count_nonzero(~correct_a & correct_b))
    p_value = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return McNemarResult(b=b, c=c, n=len(correct_a), p_value=p_value)


def holm(p_values: Sequence[float], alpha: float = DEFAULT_ALPHA) -> HolmResult:
    """Holm's step-down adjusted p-values and rejections at family-wise level ``alpha``."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0:
        raise ValueError(f"p_values must be a non-empty list, got shape {p.shape}")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"p_values must lie in [0, 1], got {p.tolist()}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie strictly between 0 and 1")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return HolmResult(adjusted=tuple(float(x) for x in adjusted),
                      significant=tuple(bool(x <= alpha) for x in adjusted), alpha=alpha)
