"""The distillation losses and the top-k target reconstruction, on known values."""

from __future__ import annotations

import math

import torch

from distill.losses import hinton_kd, js_divergence, kl_divergence, masked_cross_entropy, symmetric_kl
from distill.methods.base import log_probs_from_topk


def test_divergences_are_zero_on_equal_inputs_and_match_hand_values() -> None:
    p = torch.tensor([[0.7, 0.2, 0.1]]).log()
    q = torch.tensor([[0.2, 0.5, 0.3]]).log()
    assert float(kl_divergence(p, p)) == 0.0 and float(js_divergence(p, p)) == 0.0
    kl_pq = sum(a * math.log(a / b) for a, b in zip([0.7, 0.2, 0.1], [0.2, 0.5, 0.3], strict=True))
    kl_qp = sum(b * math.log(b / a) for a, b in zip([0.7, 0.2, 0.1], [0.2, 0.5, 0.3], strict=True))
    assert math.isclose(float(kl_divergence(p, q)), kl_pq, rel_tol=1e-5)
    assert math.isclose(float(symmetric_kl(q, p)), (kl_pq + kl_qp) / 2, rel_tol=1e-5)
    m = [(a + b) / 2 for a, b in zip([0.7, 0.2, 0.1], [0.2, 0.5, 0.3], strict=True)]
    js = 0.5 * sum(a * math.log(a / c) for a, c in zip([0.7, 0.2, 0.1], m, strict=True)) + \
        0.5 * sum(b * math.log(b / c) for b, c in zip([0.2, 0.5, 0.3], m, strict=True))
    assert math.isclose(float(js_divergence(q, p)), js, rel_tol=1e-5)
    assert float(js_divergence(q, p)) < math.log(2)


def test_hinton_kd_equals_t_squared_kl_of_tempered_softmaxes() -> None:
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 5), torch.randn(4, 5) * 3
    t = 4.0
    expected = t * t * torch.nn.functional.kl_div(
        torch.log_softmax(student / t, -1), torch.softmax(teacher / t, -1), reduction="batchmean")
    # the teacher enters as log-probabilities at T = 1, as the cache replays it
    assert torch.allclose(hinton_kd(student, teacher.log_softmax(-1), t), expected, atol=1e-6)


def test_topk_reconstruction_is_exact_at_full_k_and_spreads_the_rest_uniformly() -> None:
    probs = torch.tensor([[0.5, 0.25, 0.15, 0.1]])
    values, indices = probs.topk(4)
    assert torch.allclose(log_probs_from_topk(values.half(), indices, 4).exp(), probs, atol=1e-3)
    values, indices = probs.topk(2)
    dense = log_probs_from_topk(values, indices, 4).exp()
    assert torch.allclose(dense, torch.tensor([[0.5, 0.25, 0.125, 0.125]]), atol=1e-6)


def test_masked_cross_entropy_ignores_unlabeled_and_keeps_the_graph() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    labelled_only = masked_cross_entropy(logits, torch.tensor([0, -1]))
    assert torch.isclose(labelled_only, torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0])))
    none = masked_cross_entropy(logits, torch.tensor([-1, -1]))
    none.backward()
    assert float(none.detach()) == 0.0 and logits.grad is not None
