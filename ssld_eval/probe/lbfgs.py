"""L2-regularised logistic regression on frozen features, solved full-batch with L-BFGS in torch.

The protocol is that of Kornblith, Shlens & Le (CVPR 2019, "Do Better ImageNet Models Transfer Better?"):
multinomial logistic regression on standardised penultimate features, the L2 strength chosen on a
validation split among 45 log-spaced values in [1e-6, 1e5], then a refit on train + validation.

Objective (single-label, ``C`` classes, ``n`` samples, weights ``W`` of shape (D, C), bias ``b`` not
penalised)::

    f(W, b) = 1/n * sum_i CE(softmax(x_i W + b), y_i) + l2 / 2 * ||W||_F^2

It has the same minimiser as scikit-learn's ``LogisticRegression(C=1 / (l2 * n))``, whose objective is
``C * sum_i CE_i + 1/2 ||W||^2 = (1 / l2) * f``. Multi-label data (PASCAL VOC2007) uses one independent
sigmoid per class, ``1/n * sum_i sum_c BCE(x_i w_c + b_c, y_ic)`` + the same penalty, skipping
"difficult" entries (target -1).

Speed (``benchmarks/linear_probe.py``: the 45-value sweep several times faster than scikit-learn's
warm-started lbfgs at the same validation accuracy):
- path following from strong to weak regularisation: each value starts from the previous solution, whose
  objective and gradient at the new strength are known exactly without an evaluation; a predictor step
  ``-H^{-1} (l2' - l2) W`` (the derivative of the solution along the path) is tried first;
- the L-BFGS memory is kept across values with the penalty's (exact, known) curvature taken out of the
  stored gradient differences and put back for the current strength (:class:`Curvature`);
- W = 0 starts with the bias that is optimal for it (log class frequencies);
- each fit stops when the gradient's largest entry is below ``gtol`` or an iteration gains less than
  ``ftol`` (relative); float32 products (which dominate), float64 scalars; small problems use one
  thread, larger ones the run's configured count (:mod:`ssld_eval.features.threads`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ssld_eval.features.threads import cpu_threads
from ssld_eval.probe.metrics import Metric
from ssld_eval.tasks.configs import L2_RANGE, NUM_L2_VALUES


def l2_grid(num: int = NUM_L2_VALUES, low: float = L2_RANGE[0], high: float = L2_RANGE[1]) -> list[float]:
    """``num`` log-spaced L2 strengths from ``high`` down to ``low`` (the order the path is solved in)."""
    if num < 1 or not 0 < low <= high:
        raise ValueError(f"l2 grid needs num >= 1 and 0 < low <= high, got {num}, {low}, {high}")
    if num == 1:
        return [high]
    step = (math.log10(low) - math.log10(high)) / (num - 1)
    return [10 ** (math.log10(high) + i * step) for i in range(num)]


@dataclass(frozen=True)
class Standardizer:
    """Per-feature z-scoring with statistics of the training features (constant features map to 0)."""

    mean: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def fit(cls, features: torch.Tensor) -> Standardizer:
        x = features.double()
        std = x.std(0, unbiased=False)
        return cls(mean=x.mean(0).float(), scale=torch.where(std > 1e-12, std, torch.ones_like(std)).float())

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return (features.float() - self.mean) / self.scale


@dataclass(frozen=True)
class LinearHead:
    weight: torch.Tensor  # (D, C)
    bias: torch.Tensor  # (C,)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, features, self.weight)


@dataclass(frozen=True)
class Fit:
    head: LinearHead
    loss: float  # the objective f above at the returned point
    n_iter: int
    n_evals: int
    converged: bool


class LogisticProblem:
    """The data term of the objective on fixed features, and the objective at any L2 strength.

    Parameters are one flat float32 vector ``[W.flatten(), b]``. ``targets`` are class indices (N,) for
    softmax, or a multi-label matrix (N, C) in {+1, 0, -1 = ignored} for per-class sigmoids.
    """

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None) -> None:
        self.x = features.float().contiguous()
        self.n, self.dim = self.x.shape
        # [X, 1]^T, contiguous: one product gives the gradient of [W; b] (the flat parameter layout)
        self.xt = torch.cat([self.x.t(), torch.ones(1, self.n)]).contiguous()
        self.multilabel = targets.ndim == 2
        if self.multilabel:
            self.classes = targets.shape[1]
            self.positive = (targets > 0).float()
            self.mask = (targets >= 0).float()
        else:
            labels = targets.long()
            self.classes = num_classes or int(labels.max()) + 1
            self.counts = torch.bincount(labels, minlength=self.classes).float()
            self.labels = labels[:, None]
            self.minus_ones = -torch.ones(self.n, 1)
        self.penalised = torch.zeros(self.dim * self.classes + self.classes)
        self.penalised[: self.dim * self.classes] = 1.0

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return params[: self.dim * self.classes].view(self.dim, self.classes), params[self.dim * self.classes:]

    def initial_params(self) -> torch.Tensor:
        """W = 0 and the bias that is optimal for W = 0 (log class frequencies, or per-class log-odds)."""
        params = torch.zeros(self.dim * self.classes + self.classes)
        _, bias = self.split(params)
        if self.multilabel:
            rate = ((self.positive * self.mask).sum(0) + 0.5) / (self.mask.sum(0) + 1.0)
            bias.copy_(torch.log(rate) - torch.log1p(-rate))
        else:
            bias.copy_(torch.log((self.counts + 0.5) / (self.n + 0.5 * self.classes)))
        return params

    def penalty(self, params: torch.Tensor) -> float:
        """``||W||^2 / 2``."""
        weight, _ = self.split(params)
        return 0.5 * weight.pow(2).sum(dtype=torch.float64).item()

    def evaluate(self, params: torch.Tensor, l2: float) -> tuple[float, torch.Tensor]:
        """The objective ``f`` (see the module docstring) and its gradient."""
        weight, bias = self.split(params)
        logits = torch.addmm(bias, self.x, weight)
        if self.multilabel:
            per_entry = torch.nn.functional.softplus(logits).sub_(self.positive * logits).mul_(self.mask)
            data = per_entry.sum(dtype=torch.float64).item()
            residual = torch.sigmoid(logits).sub_(self.positive).mul_(self.mask)
        else:
            # one fused softmax kernel (torch.logsumexp measured 20-40x slower on (5000, 50)); the log of the
            # labels' probabilities is taken on those n entries only, exactly via log_softmax if one underflows
            probs = torch.softmax(logits, 1)
            picked = probs.gather(1, self.labels)
            if picked.min().item() > 1e-30:
                data = -picked.log_().sum(dtype=torch.float64).item()
            else:
                data = -torch.log_softmax(logits, 1).gather(1, self.labels).sum(dtype=torch.float64).item()
            residual = probs.scatter_add_(1, self.labels, self.minus_ones)  # softmax - one-hot, in place
        grad = torch.empty_like(params)
        torch.mm(self.xt, residual, out=grad.view(self.dim + 1, self.classes))
        grad.div_(self.n)
        grad_w, _ = self.split(grad)
        grad_w.add_(weight, alpha=l2)
        return data / self.n + l2 * self.penalty(params), grad


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """Inner product through ATen's own reduction (float64 accumulation). BLAS ``torch.dot`` spawns threads
    for vectors this size and measured 100x slower on a loaded 2-core machine."""
    return (a * b).sum(dtype=torch.float64).item()


class Curvature:
    """L-BFGS memory kept free of the penalty, so that it stays exact when the L2 strength changes.

    A pair is (s, y - l2 * s_W): the penalty's contribution to a gradient difference is known exactly, so it
    is removed when storing and re-added for the current strength when the direction is computed.
    """

    def __init__(self, penalised: torch.Tensor, history: int = 10) -> None:
        self.penalised = penalised
        self.pairs: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=history)

    def add(self, s: torch.Tensor, y: torch.Tensor, l2: float) -> None:
        if _dot(s, y) > 1e-12:  # curvature condition (convex: holds unless noise)
            self.pairs.append((s, y - l2 * self.penalised * s))

    def apply_inverse(self, vector: torch.Tensor, l2: float) -> torch.Tensor:
        """``H^{-1} vector`` with the two-loop recursion (``vector / (l2 + 1)`` without history)."""
        if not self.pairs:
            return vector / (l2 + 1.0)
        pairs = [(s, y_data + l2 * self.penalised * s) for s, y_data in self.pairs]
        rhos = [1.0 / _dot(s, y) for s, y in pairs]
        q = vector.clone()
        alphas = []
        for (s, y), rho in zip(reversed(pairs), reversed(rhos), strict=True):
            alpha = rho * _dot(s, q)
            q.add_(y, alpha=-alpha)
            alphas.append(alpha)
        s, y = pairs[-1]
        q.mul_(_dot(s, y) / _dot(y, y))
        for (s, y), rho, alpha in zip(pairs, rhos, reversed(alphas), strict=True):
            q.add_(s, alpha=alpha - rho * _dot(y, q))
        return q


@dataclass
class _State:
    params: torch.Tensor
    loss: float
    grad: torch.Tensor


def _minimize(problem: LogisticProblem, state: _State, l2: float, memory: Curvature, *, max_iter: int,
              gtol: float, ftol: float) -> tuple[_State, int, int, bool]:
    """L-BFGS from ``state`` (already evaluated at ``l2``), Armijo backtracking with quadratic
    interpolation; stops when max |grad| <= gtol or an iteration gains less than ftol (relative)."""
    evals = 0
    for iteration in range(max_iter):
        if state.grad.abs().max().item() <= gtol:
            return state, iteration, evals, True
        direction = memory.apply_inverse(state.grad, l2).neg_()
        slope = _dot(state.grad, direction)
        if slope >= 0:  # numerical trouble: forget the memory, take a steepest-descent step
            memory.pairs.clear()
            direction = memory.apply_inverse(state.grad, l2).neg_()
            slope = _dot(state.grad, direction)
        step = 1.0
        while True:
            candidate = state.params + step * direction
            loss, grad = problem.evaluate(candidate, l2)
            evals += 1
            if loss <= state.loss + 1e-4 * step * slope:
                break
            if step < 1e-10:
                return state, iteration + 1, evals, False
            curvature = loss - state.loss - slope * step  # quadratic through f(0), f'(0), f(step)
            trial = -slope * step * step / (2 * curvature) if curvature > 0 else 0.5 * step
            step = min(max(trial, 0.1 * step), 0.5 * step)
        memory.add(candidate - state.params, grad - state.grad, l2)
        gain = state.loss - loss
        state = _State(candidate, loss, grad)
        if gain <= ftol * max(abs(loss), 1.0):
            return state, iteration + 1, evals, True
    return state, max_iter, evals, state.grad.abs().max().item() <= gtol


def _head(problem: LogisticProblem, params: torch.Tensor) -> LinearHead:
    weight, bias = problem.split(params)
    return LinearHead(weight.clone(), bias.clone())


def fit_logistic(
    features: torch.Tensor, targets: torch.Tensor, l2: float, *, num_classes: int | None = None,
    init: LinearHead | None = None, max_iter: int = 500, gtol: float = 1e-4, ftol: float = 1e-7,
) -> Fit:
    """Fit one head at L2 strength ``l2`` (from ``init``, or from W = 0 and the prior's bias)."""
    problem = LogisticProblem(features, targets, num_classes)
    params = problem.initial_params()
    if init is not None:
        weight, bias = problem.split(params)
        weight.copy_(init.weight)
        bias.copy_(init.bias)
    with cpu_threads(problem.n * problem.dim * problem.classes):
        state = _State(params, *problem.evaluate(params, l2))
        state, n_iter, evals, converged = _minimize(problem, state, l2, Curvature(problem.penalised),
                                                    max_iter=max_iter, gtol=gtol, ftol=ftol)
    return Fit(_head(problem, state.params), state.loss, n_iter, evals + 1, converged)


@dataclass(frozen=True)
class PathPoint:
    l2: float
    val_score: float
    loss: float  # the training objective at the solution
    n_iter: int
    n_evals: int
    converged: bool


@dataclass(frozen=True)
class PathResult:
    points: tuple[PathPoint, ...]  # strongest regularisation first
    best: int  # index of the chosen point: the best validation score, the strongest L2 among ties
    head: LinearHead  # the solution at the chosen point (warm start of the refit)

    @property
    def best_l2(self) -> float:
        return self.points[self.best].l2


def sweep_l2(
    x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor, score: Metric, *,
    l2_values: list[float] | None = None, num_classes: int | None = None, max_iter: int = 100,
    gtol: float = 1e-4, ftol: float = 1e-6, on_point: Callable[[PathPoint], None] | None = None,
) -> PathResult:
    """Solve the regularisation path from strong to weak L2 and score each solution on validation data.

    Path following: moving from ``l2`` to ``l2'`` changes the gradient by ``(l2' - l2) W`` exactly, so
    the next start costs no evaluation; a predictor step ``-H^{-1} (l2' - l2) W`` (the implicit-function
    derivative of the solution, with the carried-over L-BFGS memory as ``H^{-1}``) is taken when it
    lowers the new objective. Features are used as given: standardise them first (:class:`Standardizer`).
    """
    values = sorted(l2_values if l2_values is not None else l2_grid(), reverse=True)
    problem = LogisticProblem(x_train, y_train, num_classes)
    with cpu_threads(problem.n * problem.dim * problem.classes):
        return _solve_path(problem, values, x_val.float().contiguous(), y_val, score, max_iter=max_iter, gtol=gtol,
                           ftol=ftol, on_point=on_point)


def _solve_path(problem: LogisticProblem, values: list[float], x_val: torch.Tensor, y_val: torch.Tensor,
                score: Metric, *, max_iter: int, gtol: float, ftol: float,
                on_point: Callable[[PathPoint], None] | None) -> PathResult:
    memory = Curvature(problem.penalised)
    params = problem.initial_params()
    state = _State(params, *problem.evaluate(params, values[0]))
    points: list[PathPoint] = []
    best_head, best_score, previous = None, -math.inf, values[0]
    for l2 in values:
        evals = 1 if l2 == previous else 0  # the first point's starting evaluation
        if l2 != previous:
            delta, shift = l2 - previous, problem.penalised * state.params
            state = _State(state.params, state.loss + delta * problem.penalty(state.params),
                           state.grad + delta * shift)
            if memory.pairs:
                predicted = state.params - memory.apply_inverse(delta * shift, l2)
                loss, grad = problem.evaluate(predicted, l2)
                evals += 1
                if loss < state.loss:
                    state = _State(predicted, loss, grad)
        state, n_iter, used, converged = _minimize(problem, state, l2, memory, max_iter=max_iter, gtol=gtol,
                                                   ftol=ftol)
        head = _head(problem, state.params)
        point = PathPoint(l2, score(head.scores(x_val), y_val), state.loss, n_iter, evals + used, converged)
        points.append(point)
        if on_point is not None:
            on_point(point)
        if point.val_score > best_score:
            best_score, best_head = point.val_score, head
        previous = l2
    best = next(i for i, p in enumerate(points) if p.val_score == best_score)
    assert best_head is not None
    return PathResult(points=tuple(points), best=best, head=best_head)
