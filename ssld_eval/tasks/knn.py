"""``knn``: cosine k-nearest-neighbour classification on frozen features (the linear probe's cached
features, so a kNN after a probe does no forward pass).

Recipe (Wu et al. 2018, as used by DINO, Caron et al. 2021, and SimReg, Navaneet et al. 2021): features
L2-normalised; the bank is train + validation; for each test image the k most cosine-similar bank
images vote for their class with weight ``exp(similarity / T)``, ``T = 0.07``; the class with the largest
vote wins. Reported for k = 20 and k = 1 (``knn20_top1``, ``knn1_top1``; for the data sets whose metric
is mean per-class accuracy also ``knn{k}_mean_per_class``; for multi-label VOC2007 the votes are
per-class scores and the metric is 11-point mAP, ``knn{k}_map11``). Non-finite features or votes (a tiny
``temperature`` overflows ``exp``) make the run ``failed`` with the reason, never a score.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ssld_eval.features.extract import Features
from ssld_eval.features.finite import non_finite_reason
from ssld_eval.features.pipeline import compute_split_features
from ssld_eval.probe.metrics import classification_metrics, classification_outcomes
from ssld_eval.tasks import register_task
from ssld_eval.tasks.base import Task, TaskContext, TaskResult
from ssld_eval.tasks.configs import KnnConfig
from ssld_eval.tasks.directions import METRIC_DIRECTIONS

BANKS = ("train+val", "train")


def knn_scores(bank: torch.Tensor, bank_targets: torch.Tensor, queries: torch.Tensor, k: int, temperature: float,
               num_classes: int, chunk: int = 1024) -> torch.Tensor:
    """Temperature-weighted votes (Q, C) of the ``k`` most cosine-similar bank rows for each query."""
    if not 1 <= k <= len(bank):
        raise ValueError(f"k={k}: must be between 1 and the bank size {len(bank)}")
    bank = F.normalize(bank.float(), dim=1)
    if bank_targets.ndim == 2:  # multi-label: a neighbour votes for each class it has
        votes_of = (bank_targets > 0).float()
    else:
        votes_of = F.one_hot(bank_targets.long(), num_classes).float()
    out = torch.empty(len(queries), votes_of.shape[1])
    for start in range(0, len(queries), chunk):
        block = F.normalize(queries[start:start + chunk].float(), dim=1)
        similarity, neighbours = (block @ bank.t()).topk(k, dim=1)
        weights = (similarity / temperature).exp()
        out[start:start + chunk] = torch.einsum("qk,qkc->qc", weights, votes_of[neighbours])
    return out


@register_task("knn")
class KNN(Task):
    Config = KnnConfig
    metric_directions = METRIC_DIRECTIONS["knn"]  # all higher-is-better; declared there

    def run(self, ctx: TaskContext, config: KnnConfig) -> TaskResult:  # type: ignore[override]
        if config.bank not in BANKS:
            raise ValueError(f"bank={config.bank!r}: expected one of {BANKS}")
        if not config.ks:
            raise ValueError("ks: give at least one k")
        feats = compute_split_features(ctx, config)
        data = feats.data
        primary = f"knn{config.ks[0]}_{'map11' if data.multilabel else data.metric}"
        reason = feats.non_finite_reason()
        if reason:
            return TaskResult.failed(primary, reason, protocol=feats.protocol(), bad_images=feats.bad_images)
        with_val = "val" in feats.splits and config.bank == "train+val"
        bank = Features.concat([feats.splits["train"], *([feats.splits["val"]] if with_val else [])])
        test = feats.splits["test"]
        started = time.perf_counter()
        metrics: dict[str, float] = {}
        outcomes: dict[str, np.ndarray] = {}
        idents = data.idents("test", test.indices)
        for k in config.ks:
            scores = knn_scores(bank.features, bank.targets, test.features, k, config.temperature, data.num_classes,
                                config.chunk)
            reason = non_finite_reason({f"knn{k} votes (temperature {config.temperature})": scores})
            if reason:
                return TaskResult.failed(primary, reason, protocol=feats.protocol(), bad_images=feats.bad_images)
            metrics.update(classification_metrics(scores, test.targets, data.metric, prefix=f"knn{k}_"))
            outcomes.update(classification_outcomes(scores, test.targets, idents, prefix=f"knn{k}_"))
        protocol = {**feats.protocol(), "ks": list(config.ks), "temperature": config.temperature,
                    "similarity": "cosine", "bank": "train+val" if with_val else "train",
                    "n_bank": len(bank), "n_test": len(test), "num_classes": data.num_classes,
                    "knn_s": round(time.perf_counter() - started, 3)}
        return TaskResult(metrics=metrics, primary_metric=primary, protocol=protocol, bad_images=feats.bad_images,
                          outcomes=outcomes)
