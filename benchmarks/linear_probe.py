"""The linear probe's L2 sweep: ours (torch L-BFGS, path following) against scikit-learn, one process.

Both solve the same 45 problems of the Kornblith et al. (2019) sweep on the same fixed synthetic features
(N = 5000 train and 1250 validation, D = 512, 50 classes, class means ~ N(0, 0.15^2), unit-variance noise,
seed 0; standardised with the training statistics), from the strongest L2 to the weakest:

- ours: :func:`ssld_eval.probe.lbfgs.sweep_l2`, objective ``mean CE + l2 / 2 ||W||^2`` in float32;
- scikit-learn: ``LogisticRegression(solver="lbfgs", warm_start=True, C=1 / (l2 * n))`` refitted for each
  value in turn, on float64 features (its native precision; float32 input made it slower here). Its
  objective ``C * sum CE + 1/2 ||W||^2`` equals ``(1 / l2)`` times ours, so the minimisers coincide.
  Defaults otherwise (tol 1e-4, max_iter 100; its own threading).

Ours uses torch's thread count (one for small products, ``ssld_eval.features.threads``), reported as ``threads``.

Prints one JSON line: ``ours_s``, ``sklearn_s``, ``ratio`` (sklearn / ours), the validation top-1 (percent)
of the value each chose, the chosen values, and the solver work (evaluations / iterations).
"""

from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ssld_eval.features.threads import cpu_threads
from ssld_eval.probe.lbfgs import Standardizer, l2_grid, sweep_l2
from ssld_eval.probe.metrics import top1

N_TRAIN, N_VAL, DIM, CLASSES, MEAN_STD, SEED = 5000, 1250, 512, 50, 0.15, 0


def synthetic_features() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(SEED)
    means = rng.normal(0.0, MEAN_STD, (CLASSES, DIM))

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = rng.integers(0, CLASSES, n)
        return torch.from_numpy(means[labels] + rng.normal(size=(n, DIM))).float(), torch.from_numpy(labels)

    x_train, y_train = draw(N_TRAIN)
    x_val, y_val = draw(N_VAL)
    scaler = Standardizer.fit(x_train)
    return scaler(x_train), y_train, scaler(x_val), y_val


def run_ours(x_train, y_train, x_val, y_val, values: list[float]) -> dict:
    started = time.perf_counter()
    path = sweep_l2(x_train, y_train, x_val, y_val, top1, l2_values=values, num_classes=CLASSES)
    seconds = time.perf_counter() - started
    return {"s": seconds, "val_acc": path.points[path.best].val_score, "l2": path.best_l2,
            "evals": sum(p.n_evals for p in path.points)}


def run_sklearn(x_train, y_train, x_val, y_val, values: list[float]) -> dict:
    x_train64, x_val64 = x_train.double().numpy(), x_val.double().numpy()
    labels, val_labels = y_train.numpy(), y_val.numpy()
    clf = LogisticRegression(solver="lbfgs", warm_start=True)
    accuracies, iterations = [], 0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for l2 in values:
            clf.set_params(C=1.0 / (l2 * len(labels)))
            clf.fit(x_train64, labels)
            accuracies.append(100.0 * float((clf.predict(x_val64) == val_labels).mean()))
            iterations += int(clf.n_iter_.max())
    seconds = time.perf_counter() - started
    best = int(np.argmax(accuracies))
    return {"s": seconds, "val_acc": accuracies[best], "l2": values[best], "iterations": iterations}


def ours_threads() -> int:
    """Threads the solver uses for this problem (one for small products, see ssld_eval.features.threads)."""
    with cpu_threads(N_TRAIN * DIM * CLASSES) as threads:
        return threads


def main() -> None:
    torch.manual_seed(SEED)
    data = synthetic_features()
    values = l2_grid()  # 45 values, strongest first
    ours = run_ours(*data, values)
    sklearn = run_sklearn(*data, values)
    print(json.dumps({
        "ours_s": round(ours["s"], 3), "sklearn_s": round(sklearn["s"], 3),
        "ratio": round(sklearn["s"] / ours["s"], 2),
        "ours_val_acc": round(ours["val_acc"], 2), "sklearn_val_acc": round(sklearn["val_acc"], 2),
        "ours_l2": ours["l2"], "sklearn_l2": sklearn["l2"], "ours_evaluations": ours["evals"],
        "sklearn_iterations": sklearn["iterations"], "num_l2_values": len(values),
        "torch_threads": torch.get_num_threads(),
        "ours_threads_now": ours_threads(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
