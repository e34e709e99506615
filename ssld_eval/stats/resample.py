"""Bootstrap resamples as per-sample count vectors, the same ones for every model compared.

A resample of ``n`` samples is stored as how often each sample was drawn (a multinomial count vector that
sums to ``n``), not as a list of drawn indices: every metric here is a weighted re-accumulation over
per-sample results, and one ``(B, n)`` count matrix drives all of them. This is the dfouhey/coco
bootstrap of COCO AP (``np.bincount`` of drawn image indices, one fixed seed, so that every method is
scored on identical replicates), generalised to any metric.

Determinism is the point: identical ``(n, B, seed)`` give identical counts, whatever chunk size the
consumer asks for, so two backbones scored in two processes get the same resamples. Counts are drawn from
``numpy.random.default_rng(seed)`` in sub-blocks whose size depends on ``n`` only (cache-sized bincounts:
that is what keeps a B=1000, n=50,000 draw well under a second), and handed out in chunks of whole rows,
so memory stays bounded by one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

#: Seed of a resample: an int, or a sequence of ints (``(seed, set_index)`` gives independent streams).
Seed = int | Sequence[int]

_DRAW_ELEMENTS = 1 << 19  # random draws per sub-block: the bincount's output stays in cache
_CHUNK_ELEMENTS = 1 << 22  # count entries per chunk handed to a metric (16 MiB of int32)


def _draw_rows(n: int) -> int:
    return max(1, _DRAW_ELEMENTS // n)


def _check(n: int, B: int) -> None:
    if n < 1:
        raise ValueError(f"cannot resample n={n} samples: need at least one")
    if B < 1:
        raise ValueError(f"B={B} resamples: need at least one")


def _counts_of(indices: np.ndarray, n: int) -> np.ndarray:
    """(rows, n) draws of sample indices -> (rows, n) int32 counts, one bincount per sub-block."""
    rows = indices.shape[0]
    flat = (indices + (np.arange(rows, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.int32)


class _StratifiedDraw:
    """Draws within each stratum: every stratum keeps its own size in every resample (the stratified
    bootstrap; Davison & Hinkley 1997), which is what mean per-class accuracy and a mean over data sets
    need, since their weights per class or set are fixed by design, not sampled."""

    def __init__(self, strata: np.ndarray) -> None:
        strata = np.asarray(strata)
        if strata.ndim != 1:
            raise ValueError(f"strata must be one label per sample, got shape {strata.shape}")
        self.order = np.argsort(strata, kind="stable")
        _, start, size = np.unique(strata[self.order], return_index=True, return_counts=True)
        self.low = np.repeat(start, size)
        self.high = self.low + np.repeat(size, size)

    def __call__(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        positions = rng.integers(self.low, self.high, size=(rows, len(self.order)))
        return self.order[positions]


def iter_counts(
    n: int, B: int, seed: Seed, *, strata: np.ndarray | None = None, chunk_rows: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield the ``(B, n)`` count matrix in chunks of whole rows (``chunk_rows``, default about 4M
    entries). With ``strata`` (one label per sample), each stratum is resampled on its own."""
    _check(n, B)
    if strata is not None and len(strata) != n:
        raise ValueError(f"strata has {len(strata)} labels for n={n} samples")
    if chunk_rows is not None and chunk_rows < 1:
        raise ValueError(f"chunk_rows={chunk_rows}: need at least one row per chunk")
    rng = np.random.default_rng(seed)
    draw = _StratifiedDraw(strata) if strata is not None else None
    step = _draw_rows(n)
    chunk_rows = chunk_rows or max(1, _CHUNK_ELEMENTS // n)
    pending: list[np.ndarray] = []
    held = 0
    for start in range(0, B, step):
        rows = min(step, B - start)
        indices = draw(rng, rows) if draw is not None else rng.integers(0, n, size=(rows, n))
        pending.append(_counts_of(indices, n))
        held += rows
        while held >= chunk_rows:
            block = np.concatenate(pending)
            yield block[:chunk_rows]
            pending, held = [block[chunk_rows:]], held - chunk_rows
    if held:
        yield np.concatenate(pending)


def resample_counts(n: int, B: int, seed: Seed) -> np.ndarray:
    """All ``B`` multinomial count vectors over ``n`` samples, ``(B, n)`` int32, each row summing to ``n``."""
    return np.concatenate(list(iter_counts(n, B, seed)))


def stratified_counts(strata: np.ndarray, B: int, seed: Seed) -> np.ndarray:
    """``(B, n)`` int32 counts that resample within each stratum (class label): each row gives every
    stratum exactly as many draws as it has samples."""
    strata = np.asarray(strata)
    return np.concatenate(list(iter_counts(len(strata), B, seed, strata=strata)))
