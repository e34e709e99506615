"""Pairing by sample id: a permutation is undone, a different sample set is an error."""

from __future__ import annotations

import numpy as np
import pytest

from ssld_eval.stats.align import NotComparableError, align_ids


def test_alignment_undoes_a_permutation():
    ids_a = np.array(["img3", "img1", "img7", "img2"])
    ids_b = np.array(["img7", "img2", "img3", "img1"])
    index_a, index_b = align_ids(ids_a, ids_b)
    assert (ids_a[index_a] == ids_b[index_b]).all()
    assert index_b.tolist() == [2, 3, 0, 1]


def test_different_sample_sets_are_not_comparable():
    with pytest.raises(NotComparableError, match=r"1 ids only in a \(e.g. \[4\]\), 1 only in b \(e.g. \[5\]\)"):
        align_ids(np.array([1, 2, 4]), np.array([1, 2, 5]))
    with pytest.raises(NotComparableError, match="0 ids only in a"):
        align_ids(np.array([1, 2]), np.array([1, 2, 3]))


def test_repeated_ids_are_not_comparable():
    with pytest.raises(NotComparableError, match=r"ids_b repeats sample ids, e.g. \[2\]"):
        align_ids(np.array([1, 2, 3]), np.array([1, 2, 2]))
