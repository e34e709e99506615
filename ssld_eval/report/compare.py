"""``ssld-eval compare --results DIR --baseline NAME``: which differences to a baseline are real.

For every (task, data set, setting, metric) where the baseline and another backbone both have complete
records with per-sample outcomes, the difference ``backbone - baseline`` is computed on the *same* test
samples (aligned by sample id) with *identical* bootstrap resamples for both (:mod:`ssld_eval.stats`):

- the 95% interval of the delta: paired percentile bootstrap (class-stratified for mean per-class accuracy);
  with several seeds per backbone a two-level bootstrap, seeds then samples;
- the p-value: exact McNemar on the discordant test samples for top-1 with one seed each (McNemar 1947),
  else the paired bootstrap's two-sided p-value;
- ``significant``: after Holm's step-down correction across every comparison shown (Holm 1979).

A backbone whose records hold other test samples than the baseline's (another test set, other dropped images)
is reported as not comparable, never paired. Torch-free, like the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssld_eval.records import ResultRecord, ResultStore
from ssld_eval.records import outcomes as per_sample
from ssld_eval.records.frame import setting_text
from ssld_eval.report.aggregate import MIN_ID_PREFIX


@dataclass(frozen=True)
class Comparison:
    task: str
    setting: str
    backbone: str
    baseline: str
    metric: str
    value: float | None
    baseline_value: float | None
    delta: float | None
    ci95: list[float] | None
    p_value: float | None
    significant: bool
    seeds: int
    baseline_seeds: int
    samples: int
    method: str
    weights_id: str = ""
    comparable: bool = True
    reason: str = ""


class CompareError(ValueError):
    """A ``--baseline`` that names no backbone, or several."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
    parser.add_argument("--baseline", required=True, help="display name (or weights id prefix) of the baseline")
    parser.add_argument("--json", action="store_true", help="one JSON object per comparison, a line each")
    parser.add_argument("--bootstrap", type=int, default=per_sample.BOOTSTRAP_B, metavar="B",
                        help=f"bootstrap resamples (default {per_sample.BOOTSTRAP_B})")


def _baseline_id(records: Iterable[ResultRecord], name: str) -> str:
    """The weights id ``name`` means: a weights id, a display name, or a weights id prefix of at least
    :data:`~ssld_eval.report.aggregate.MIN_ID_PREFIX` characters, tried in that order (as the report does)."""
    records = list(records)
    ids = sorted({r.weights_id for r in records})
    for found in ([w for w in ids if w == name], sorted({r.weights_id for r in records if r.backbone == name}),
                  [w for w in ids if len(name) >= MIN_ID_PREFIX and w.startswith(name)]):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CompareError(f"--baseline {name!r} is ambiguous: it names {len(found)} weights ({found})")
    raise CompareError(f"--baseline {name!r} names no backbone; display names: {sorted({r.backbone for r in records})}")


def _aligned(store: ResultStore, records: list[ResultRecord], order: np.ndarray | None) -> tuple[list[dict], str]:
    """Each record's outcome arrays in the order of ``order`` (sample ids), or why they cannot be paired."""
    from ssld_eval.stats import NotComparableError, align_ids

    result = []
    for record in records:
        arrays = store.read_outcomes(record)
        if order is None:
            order = arrays["sample_id"]
        try:
            _, index = align_ids(order, arrays["sample_id"])
        except NotComparableError as exc:
            return [], f"{record.backbone} seed {record.seed}: {exc}"
        result.append({k: v[index] for k, v in arrays.items()})
    return result, ""


def _compare(metric: str, base: list[dict], other: list[dict], B: int) -> dict[str, Any]:
    from ssld_eval.stats import mcnemar, paired_bootstrap, two_level_bootstrap

    metric_a = [per_sample.weighted_metric(metric, arrays) for arrays in base]
    metric_b = [per_sample.weighted_metric(metric, arrays) for arrays in other]
    strata = metric_a[0][1]
    n = len(base[0]["sample_id"])
    seed = per_sample.BOOTSTRAP_SEED
    if len(base) == len(other) == 1:
        paired = paired_bootstrap(metric_a[0][0], metric_b[0][0], n, B=B, seed=seed, strata=strata)
        p_value, method = paired.p_value, paired.method
        if metric.endswith("top1"):
            prefix = metric[: -len("top1")]
            correct = [arrays[f"{prefix}pred"] == arrays["label"] for arrays in (base[0], other[0])]
            p_value, method = mcnemar(*correct).p_value, f"{paired.method}; exact McNemar p"
    else:
        paired = two_level_bootstrap([m for m, _ in metric_a], [m for m, _ in metric_b], n, B=B, seed=seed,
                                     strata=strata)
        p_value, method = paired.p_value, paired.method
    return {"value": paired.value_b, "baseline_value": paired.value_a, "delta": paired.delta,
            "ci95": [paired.low, paired.high], "p_value": p_value, "method": method, "samples": n}


def compare(results: Path, baseline: str, B: int = per_sample.BOOTSTRAP_B) -> list[Comparison]:
    """Every comparison to ``baseline`` in ``results``, Holm-corrected across all of them."""
    from ssld_eval.stats import holm

    store = ResultStore(results)
    records = [r for r in store.scan().records if r.status == "complete" and r.outcomes]
    base_id = _baseline_id(records, baseline)
    groups: dict[tuple[str, str, str], dict[str, list[ResultRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        groups[(record.task, record.dataset, setting_text(record))][record.weights_id].append(record)
    rows: list[dict[str, Any]] = []
    for (task, dataset, setting), by_backbone in sorted(groups.items()):
        if base_id not in by_backbone:
            continue
        base_records = sorted(by_backbone[base_id], key=lambda r: r.seed)
        base, _ = _aligned(store, base_records, None)
        shown = f"{dataset} [{setting}]" if setting else dataset
        for weights_id, others in sorted(by_backbone.items()):
            if weights_id == base_id:
                continue
            others = sorted(others, key=lambda r: r.seed)
            other, reason = _aligned(store, others, base[0]["sample_id"])
            common = {"task": task, "setting": shown, "backbone": others[0].backbone, "weights_id": weights_id,
                      "baseline": base_records[0].backbone, "seeds": len(others), "baseline_seeds": len(base)}
            for metric in sorted(set(base_records[0].ci95) & set(others[0].ci95)):
                if reason:
                    rows.append({**common, "metric": metric, "comparable": False, "reason": reason})
                else:
                    rows.append({**common, "metric": metric, **_compare(metric, base, other, B)})
    tested = [i for i, row in enumerate(rows) if row.get("comparable", True)]
    adjusted = holm([rows[i]["p_value"] for i in tested]) if tested else None
    significant = dict(zip(tested, adjusted.significant if adjusted else (), strict=True))
    empty = {"value": None, "baseline_value": None, "delta": None, "ci95": None, "p_value": None, "samples": 0,
             "method": ""}
    return [Comparison(**{**empty, **row, "significant": bool(significant.get(i, False))})
            for i, row in enumerate(rows)]


def run(args: argparse.Namespace) -> int:
    try:
        rows = compare(args.results, args.baseline, args.bootstrap)
    except (CompareError, per_sample.OutcomesError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        if args.json:
            print(json.dumps(asdict(row)))
        elif not row.comparable:
            print(f"{row.task:<12} {row.setting:<24} {row.metric:<16} {row.backbone}: not comparable ({row.reason})")
        else:
            mark = "*" if row.significant else " "
            print(f"{row.task:<12} {row.setting:<24} {row.metric:<16} {row.backbone} {row.value:6.2f} vs "
                  f"{row.baseline_value:6.2f}: {row.delta:+6.2f} [{row.ci95[0]:+.2f}, {row.ci95[1]:+.2f}] "
                  f"p={row.p_value:.3g}{mark}")
    if not args.json:
        print("* significant after Holm's correction over the comparisons shown (alpha 0.05); intervals: 95%, "
              "paired bootstrap over the test samples (and seeds when there are several)")
    return 0
