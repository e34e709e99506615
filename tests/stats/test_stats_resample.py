"""Seeded count vectors: rows sum to n, identical inputs give identical counts whatever the chunking,
strata keep their sizes."""

from __future__ import annotations

import numpy as np
import pytest

from ssld_eval.stats.resample import iter_counts, resample_counts, stratified_counts


def test_rows_are_multinomial_counts_summing_to_n():
    counts = resample_counts(37, 50, seed=4)
    assert counts.shape == (50, 37) and counts.dtype == np.int32
    assert (counts.sum(axis=1) == 37).all() and (counts >= 0).all()
    assert (counts == 0).any() and (counts > 1).any()  # resampling with replacement, not a permutation


def test_same_seed_same_counts_and_chunking_does_not_matter():
    whole = resample_counts(1000, 64, seed=11)
    assert np.array_equal(whole, resample_counts(1000, 64, seed=11))
    chunks = list(iter_counts(1000, 64, seed=11, chunk_rows=5))
    assert [len(c) for c in chunks] == [5] * 12 + [4]
    assert np.array_equal(np.concatenate(chunks), whole)
    assert not np.array_equal(whole, resample_counts(1000, 64, seed=12))


def test_sequence_seeds_are_distinct_streams():
    assert not np.array_equal(resample_counts(100, 4, seed=(3, 0)), resample_counts(100, 4, seed=(3, 1)))


def test_imagenet_sized_draw_stays_chunked():
    rows = 0
    for chunk in iter_counts(50_000, 1000, seed=0):
        assert chunk.nbytes <= 32 * 2**20
        assert (chunk.sum(axis=1) == 50_000).all()
        rows += len(chunk)
    assert rows == 1000


def test_stratified_counts_keep_every_stratum_size():
    labels = np.array([2, 0, 2, 1, 2, 0, 2, 2, 1, 1, 1, 2])
    counts = stratified_counts(labels, 200, seed=1)
    for label in np.unique(labels):
        members = labels == label
        assert (counts[:, members].sum(axis=1) == members.sum()).all()
    # within a stratum the draws still vary
    assert len({tuple(row) for row in counts[:, labels == 2]}) > 50


@pytest.mark.parametrize(("n", "B", "match"), [(0, 10, "n=0"), (5, 0, "B=0")])
def test_empty_requests_are_refused(n, B, match):
    with pytest.raises(ValueError, match=match):
        resample_counts(n, B, seed=0)


def test_strata_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="strata has 3 labels for n=4"):
        next(iter_counts(4, 2, seed=0, strata=np.array([0, 1, 1])))
