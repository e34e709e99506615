"""The L-BFGS logistic-regression solver: same objective and optimum as scikit-learn, exact gradients,
and a warm-started regularisation path that lands where cold starts do."""

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from ssld_eval.probe.lbfgs import LogisticProblem, Standardizer, fit_logistic, l2_grid, sweep_l2
from ssld_eval.probe.metrics import top1


def gaussian_classes(n: int, dim: int, classes: int, seed: int, spread: float = 0.6):
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, dim, generator=gen) * spread
    labels = torch.randint(0, classes, (n,), generator=gen)
    return means[labels] + torch.randn(n, dim, generator=gen), labels


def params_of(problem: LogisticProblem, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    params = problem.initial_params()
    w, b = problem.split(params)
    w.copy_(weight)
    b.copy_(bias)
    return params


def test_l2_grid_is_45_log_spaced_values_strong_first():
    values = l2_grid()
    assert len(values) == 45
    assert values[0] == pytest.approx(1e5) and values[-1] == pytest.approx(1e-6)
    ratios = [a / b for a, b in itertools.pairwise(values)]
    assert max(ratios) == pytest.approx(min(ratios)) == pytest.approx(10 ** (11 / 44))


def test_standardizer_uses_training_statistics():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    scaler = Standardizer.fit(x)
    z = scaler(x)
    assert torch.allclose(z[:, 0], torch.tensor([-1.2247449, 0.0, 1.2247449]))
    assert torch.equal(z[:, 1], torch.zeros(3))  # a constant feature becomes 0, not NaN


@pytest.mark.parametrize("l2", [1e-1, 1e-2, 1e-3])
def test_solver_reaches_sklearn_optimum(l2):
    x, y = gaussian_classes(400, 16, 4, seed=1)
    x = Standardizer.fit(x)(x)
    sk = LogisticRegression(C=1.0 / (l2 * len(y)), tol=1e-10, max_iter=10_000).fit(x.double().numpy(), y.numpy())
    ours = fit_logistic(x, y, l2, gtol=1e-7, ftol=1e-12)
    problem = LogisticProblem(x, y)
    theirs, _ = problem.evaluate(
        params_of(problem, torch.from_numpy(sk.coef_.T).float(), torch.from_numpy(sk.intercept_).float()), l2)
    assert ours.converged
    assert ours.loss == pytest.approx(theirs, rel=2e-5)
    assert ours.loss <= theirs + 1e-5
    assert torch.allclose(ours.head.weight, torch.from_numpy(sk.coef_.T).float(), atol=2e-3 * (1 + 1 / l2) ** 0.5)


@pytest.mark.parametrize("multilabel", [False, True])
def test_gradient_matches_autograd(multilabel):
    x, y = gaussian_classes(50, 6, 3, seed=2)
    if multilabel:
        y = torch.randint(-1, 2, (50, 3), generator=torch.Generator().manual_seed(3))
    problem = LogisticProblem(x, y, num_classes=3)
    params = torch.randn(6 * 3 + 3, generator=torch.Generator().manual_seed(4)) * 0.3
    loss, grad = problem.evaluate(params, 0.05)

    p = params.double().requires_grad_()
    w, b = p[:18].view(6, 3), p[18:]
    logits = x.double() @ w + b
    if multilabel:
        mask, pos = (y >= 0).double(), (y > 0).double()
        data = (torch.nn.functional.binary_cross_entropy_with_logits(logits, pos, reduction="none") * mask).sum() / 50
    else:
        data = torch.nn.functional.cross_entropy(logits, y)
    reference = data + 0.025 * (w ** 2).sum()
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-5)
    assert torch.allclose(grad.double(), p.grad, atol=1e-5)


def test_path_solutions_match_cold_starts_and_choice_is_best_on_val():
    x, y = gaussian_classes(600, 32, 5, seed=5, spread=0.25)
    xv, yv = gaussian_classes(300, 32, 5, seed=5, spread=0.25)
    scaler = Standardizer.fit(x)
    x, xv = scaler(x), scaler(xv)
    values = l2_grid(12, 1e-4, 1e2)
    path = sweep_l2(x, y, xv, yv, top1, l2_values=values)
    assert [p.l2 for p in path.points] == sorted(values, reverse=True)
    scores = [p.val_score for p in path.points]
    assert path.points[path.best].val_score == max(scores)
    assert path.best == scores.index(max(scores))  # the strongest L2 among ties
    assert 40 < max(scores) < 100 and min(scores) < max(scores) - 5  # the choice matters on this data
    for point in (path.points[2], path.points[path.best], path.points[9]):
        cold = fit_logistic(x, y, point.l2, gtol=1e-7, ftol=1e-12)
        at_zero = fit_logistic(x, y, point.l2, max_iter=0)  # W = 0, prior bias: the path must do better
        assert cold.loss <= point.loss + 1e-6
        assert point.loss <= cold.loss + 1e-4 * max(1.0, abs(cold.loss))
        assert point.loss < at_zero.loss


def test_solver_is_finite_on_separable_data_with_weak_l2():
    x, y = gaussian_classes(60, 100, 3, seed=6, spread=3.0)  # more features than samples: separable
    fit = fit_logistic(x, y, 1e-6, max_iter=50)
    assert math.isfinite(fit.loss) and fit.loss < 0.05
    assert torch.isfinite(fit.head.weight).all()
    assert top1(fit.head.scores(x), y) == 100.0


def test_sweep_is_deterministic():
    x, y = gaussian_classes(200, 8, 3, seed=7)
    xv, yv = gaussian_classes(100, 8, 3, seed=8)
    first = sweep_l2(x, y, xv, yv, top1, l2_values=l2_grid(8))
    second = sweep_l2(x, y, xv, yv, top1, l2_values=l2_grid(8))
    assert first.points == second.points
    assert np.array_equal(first.head.weight.numpy(), second.head.weight.numpy())


def test_loss_is_exact_when_a_label_probability_underflows():
    x, y = gaussian_classes(40, 6, 3, seed=9, spread=2.0)
    problem = LogisticProblem(x, y)
    params = torch.randn(6 * 3 + 3, generator=torch.Generator().manual_seed(10)) * 60.0  # logit gaps >> 70
    loss, _ = problem.evaluate(params, 0.0)
    w, b = params.double()[:18].view(6, 3), params.double()[18:]
    reference = torch.nn.functional.cross_entropy(x.double() @ w + b, y).item()
    assert torch.softmax(x @ w.float() + b.float(), 1).gather(1, y[:, None]).min() < 1e-30  # the case tested
    assert math.isfinite(loss) and loss == pytest.approx(reference, rel=1e-4)
