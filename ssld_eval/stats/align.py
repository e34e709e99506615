"""Pairing two runs' stored per-sample results by sample id before any paired comparison.

A paired test is only valid when both runs were scored on the same samples, matched one to one. Runs
store their results in their own order (mmseg's results, for one, follow the data loader's order after
``collect_results``), so pairing is by id, never by position, and a mismatch is an error rather than a
silent intersection: dropping the samples one run failed on would bias the comparison.
"""

from __future__ import annotations

import numpy as np


class NotComparableError(ValueError):
    """Two runs were not scored on the same set of samples."""


def _unique_ids(name: str, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"{name} must be a vector of sample ids, got shape {ids.shape}")
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise NotComparableError(f"{name} repeats sample ids, e.g. {values[counts > 1][:5].tolist()}")
    return ids


def align_ids(ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(index_a, index_b)`` with ``ids_a[index_a] == ids_b[index_b]``, in the order of ``ids_a``; raises
    :class:`NotComparableError` unless both hold the same ids, each once."""
    ids_a, ids_b = _unique_ids("ids_a", ids_a), _unique_ids("ids_b", ids_b)
    only_a, only_b = np.setdiff1d(ids_a, ids_b), np.setdiff1d(ids_b, ids_a)
    if len(only_a) or len(only_b):
        raise NotComparableError(
            f"the runs were scored on different samples: {len(only_a)} ids only in a (e.g. "
            f"{only_a[:5].tolist()}), {len(only_b)} only in b (e.g. {only_b[:5].tolist()})")
    order_b = np.argsort(ids_b, kind="stable")
    index_b = order_b[np.searchsorted(ids_b[order_b], ids_a)]
    return np.arange(len(ids_a)), index_b
