"""Cosine kNN votes against scikit-learn (k = 1) and a plain reference of DINO's weighted vote (k = 20)."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from ssld_eval.tasks.knn import knn_scores


def data(seed: int, n_bank: int = 120, n_query: int = 40, dim: int = 8, classes: int = 4):
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, dim, generator=gen)
    bank_y = torch.randint(0, classes, (n_bank,), generator=gen)
    query_y = torch.randint(0, classes, (n_query,), generator=gen)
    noise = lambda n: torch.randn(n, dim, generator=gen)  # noqa: E731
    return means[bank_y] + noise(n_bank), bank_y, means[query_y] + noise(n_query), query_y


def reference_votes(bank, bank_y, queries, k, temperature, classes):
    bank = bank.numpy() / np.linalg.norm(bank.numpy(), axis=1, keepdims=True)
    votes = np.zeros((len(queries), classes))
    for q, query in enumerate(queries.numpy()):
        similarity = bank @ (query / np.linalg.norm(query))
        for j in np.argsort(-similarity, kind="stable")[:k]:
            votes[q, bank_y[j]] += np.exp(similarity[j] / temperature)
    return votes


@pytest.mark.parametrize("seed", [0, 1])
def test_k1_matches_sklearn_cosine_nearest_neighbour(seed):
    bank, bank_y, queries, _ = data(seed)
    ours = knn_scores(bank, bank_y, queries, 1, 0.07, 4).argmax(1)
    theirs = KNeighborsClassifier(n_neighbors=1, metric="cosine").fit(bank.numpy(), bank_y.numpy())
    assert ours.tolist() == theirs.predict(queries.numpy()).tolist()


def test_k20_matches_weighted_vote_reference():
    bank, bank_y, queries, query_y = data(2)
    ours = knn_scores(bank, bank_y, queries, 20, 0.07, 4, chunk=7)
    expected = reference_votes(bank, bank_y, queries, 20, 0.07, 4)
    assert np.allclose(ours.numpy(), expected, rtol=1e-4)
    assert (ours.argmax(1) == query_y).float().mean() > 0.5


def test_multilabel_neighbours_vote_for_each_of_their_classes():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    bank_y = torch.tensor([[1, 1, 0], [1, -1, 0], [0, 0, 1]])
    scores = knn_scores(bank, bank_y, torch.tensor([[1.0, 0.05]]), 2, 1.0, 3)
    assert scores[0, 0] > scores[0, 1] > 0 and scores[0, 2] == 0  # difficult (-1) is no vote


def test_k_larger_than_the_bank_is_an_error():
    with pytest.raises(ValueError, match="bank size 3"):
        knn_scores(torch.randn(3, 2), torch.tensor([0, 1, 0]), torch.randn(1, 2), 20, 0.07, 2)
