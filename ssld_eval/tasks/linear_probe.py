"""``linear-probe``: logistic regression on frozen pooled features, as Kornblith, Shlens & Le (CVPR 2019,
"Do Better ImageNet Models Transfer Better?").

Recipe:
1. Features: ``model(x)`` of the frozen backbone (timm, ``num_classes=0``: pooled penultimate layer) on
   images resized (bicubic) and centre-cropped at the backbone's resolution, no augmentation
   (:mod:`ssld_eval.features.transforms`); computed once per (weights, data, transform) and cached on disk.
2. Standardise with the training statistics; multinomial logistic regression (per-class sigmoids for
   multi-label VOC2007) by full-batch L-BFGS (:mod:`ssld_eval.probe.lbfgs`).
3. The L2 strength is chosen on the validation split (the data set's own for Aircraft, DTD, Flowers,
   VOC2007 and the built-in sets; else a random 20% of train, drawn with the run's seed) among 45 values
   log-spaced in [1e-6, 1e5], solved as one warm-started path from strong to weak.
4. Refit on train + validation at the chosen strength; report on test: top-1, plus mean per-class accuracy
   for Aircraft, Pets, Caltech-101 and Flowers, or 11-point mAP for VOC2007 (percent).

Non-finite features (raw or standardised), objective values or scores make the run ``failed`` with the
reason: L-BFGS's line search would quietly reject NaN steps and the metrics would still print a number.
"""

from __future__ import annotations

import time

import torch

from ssld_eval.features.extract import Features
from ssld_eval.features.finite import NonFiniteError, require_finite
from ssld_eval.features.pipeline import SplitFeatures, compute_split_features, train_val
from ssld_eval.probe.lbfgs import Standardizer, fit_logistic, l2_grid, sweep_l2
from ssld_eval.probe.metrics import METRICS, classification_metrics, classification_outcomes
from ssld_eval.tasks import register_task
from ssld_eval.tasks.base import Task, TaskContext, TaskResult
from ssld_eval.tasks.configs import LinearProbeConfig
from ssld_eval.tasks.directions import METRIC_DIRECTIONS


@register_task("linear-probe")
class LinearProbe(Task):
    Config = LinearProbeConfig
    metric_directions = METRIC_DIRECTIONS["linear-probe"]  # all higher-is-better; declared there

    def run(self, ctx: TaskContext, config: LinearProbeConfig) -> TaskResult:  # type: ignore[override]
        feats = compute_split_features(ctx, config)
        data = feats.data
        reason = feats.non_finite_reason()
        if not reason:
            try:
                return self._probe(ctx, config, feats)
            except NonFiniteError as exc:  # the metrics' own check, e.g. on validation scores of the path
                reason = str(exc)
        return TaskResult.failed(data.metric, reason, protocol=feats.protocol(), bad_images=feats.bad_images)

    def _probe(self, ctx: TaskContext, config: LinearProbeConfig, feats: SplitFeatures) -> TaskResult:
        """The probe on finite features; raises :class:`NonFiniteError` where a value turns non-finite."""
        data = feats.data
        train, val, val_how = train_val(feats, config.val_fraction, ctx.seed)
        test = feats.splits["test"]
        started = time.perf_counter()
        scaler = Standardizer.fit(train.features)
        x_train, x_val = scaler(train.features), scaler(val.features)
        require_finite({"standardised train features": x_train, "standardised val features": x_val})
        values = l2_grid(config.num_l2, config.l2_min, config.l2_max)
        path = sweep_l2(x_train, train.targets, x_val, val.targets, METRICS[data.metric], l2_values=values,
                        num_classes=data.num_classes, max_iter=config.max_iter, gtol=config.gtol, ftol=config.ftol)
        trainval = Features.concat([train, val])
        scaler = Standardizer.fit(trainval.features)
        x_trainval, x_test = scaler(trainval.features), scaler(test.features)
        require_finite({"standardised train+val features": x_trainval, "standardised test features": x_test,
                        "probe objective on the L2 path": torch.tensor([p.loss for p in path.points])})
        fit = fit_logistic(x_trainval, trainval.targets, path.best_l2, num_classes=data.num_classes, init=path.head,
                           max_iter=config.refit_max_iter, gtol=config.refit_gtol, ftol=config.refit_ftol)
        scores = fit.head.scores(x_test)
        require_finite({"refit objective": fit.loss, "test scores": scores})
        metrics = classification_metrics(scores, test.targets, data.metric)
        protocol = {
            **feats.protocol(),
            "chosen_l2": path.best_l2, "num_l2_values": len(values), "l2_range": [min(values), max(values)],
            "val_metric": data.metric, "val_score_at_chosen_l2": path.points[path.best].val_score,
            "val_split": val_how, "n_train": len(train), "n_val": len(val), "n_test": len(test),
            "num_classes": data.num_classes, "multilabel": data.multilabel,
            "path": [[p.l2, round(p.val_score, 4)] for p in path.points],
            "solver_evaluations": sum(p.n_evals for p in path.points) + fit.n_evals,
            "refit_converged": fit.converged, "solver_s": round(time.perf_counter() - started, 3),
        }
        outcomes = classification_outcomes(scores, test.targets, data.idents("test", test.indices))
        return TaskResult(metrics=metrics, primary_metric=data.metric, protocol=protocol, bad_images=feats.bad_images,
                          outcomes=outcomes)
