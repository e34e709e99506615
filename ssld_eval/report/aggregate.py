"""From one row per record to one row per (task, setting, backbone): mean, std, n and the delta.

A *backbone* is a weights identity (``weights_id``); its display name is only shown, as the frame's
``label`` (the name, disambiguated by a short weights id when two weights share it), so two different files
saved under the same name are never averaged together. A *setting* is a data set, plus the run's ``--set``
overrides when it has any: runs with different overrides are different experiments, and averaging them over
seeds would mix two recipes into one number.
The delta is against the baseline backbone on the same task and setting; it counts as *clear* when it
exceeds twice its standard error (both sides need two or more seeds), otherwise it is shown as within noise.
Whether a positive delta is better comes from the task's declaration in :mod:`ssld_eval.tasks.directions`;
a metric without one gets the verdict ``undirected``: its delta is shown, never coloured as a gain or a loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ssld_eval.records.frame import CI_PREFIX, METRIC_PREFIX
from ssld_eval.tasks.directions import HIGHER, direction_of

#: ``backbone`` is the weights' label (unique per ``weights_id``), for display and the charts' legends
SUMMARY_COLUMNS = ("task", "setting", "weights_id", "backbone", "metric", "mean", "std", "n", "ci_low", "ci_high",
                   "excluded")
BASELINE_HINTS = ("supervised", "baseline")
UNDIRECTED = "undirected"
MIN_ID_PREFIX = 4  # shorter --baseline strings are not tried as weights id prefixes


def setting_of(dataset: str, overrides: str) -> str:
    return f"{dataset} [{overrides}]" if overrides else dataset


def _mode(values: pd.Series) -> str:
    counts = values[values != ""].value_counts()
    if counts.empty:
        return ""
    top = counts.max()
    return sorted(counts[counts == top].index)[0]  # ties: alphabetical, so the choice is stable


def complete_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Complete runs with ``setting``, ``metric`` and ``value``: the primary metric of their (task, setting).

    When runs of one (task, setting) disagree on the primary metric, the most common one is used for all
    of them (read from their ``metric.*`` columns), so a column never mixes two metrics.
    """
    done = frame[frame["status"] == "complete"].copy()
    if done.empty:
        return done.assign(setting=pd.Series(dtype=str), metric=pd.Series(dtype=str),
                           value=pd.Series(dtype=float))
    with_overrides = done["dataset"] + " [" + done["overrides"] + "]"
    done["setting"] = done["dataset"].where(done["overrides"] == "", with_overrides)
    done["metric"] = done.groupby(["task", "setting"], sort=False)["primary_metric"].transform(_mode)
    values = done["primary_value"].copy()
    differs = done["metric"] != done["primary_metric"]
    for metric in done.loc[differs, "metric"].unique():
        column = METRIC_PREFIX + metric
        rows = differs & (done["metric"] == metric)
        values[rows] = done.loc[rows, column] if column in done else float("nan")
    done["value"] = values
    low, high = (pd.Series(float("nan"), index=done.index) for _ in range(2))
    for metric in done["metric"].unique():
        rows = done["metric"] == metric
        for bound, series in (("low", low), ("high", high)):
            column = f"{CI_PREFIX}{metric}.{bound}"
            if column in done:
                series[rows] = done.loc[rows, column]
    done["ci_low"], done["ci_high"] = low, high
    return done[done["value"].notna()]


def summarise(values: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and n over seeds for every (task, setting, weights identity)."""
    if values.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    grouped = values.groupby(["task", "setting", "weights_id", "label", "metric"], sort=True)
    summary = grouped.agg(mean=("value", "mean"), std=("value", "std"), n=("value", "count"),
                          ci_low=("ci_low", "first"), ci_high=("ci_high", "first"),
                          excluded=("excluded_images", "max"))
    summary = summary.reset_index().rename(columns={"label": "backbone"})
    several = summary["n"] > 1  # a test-set interval is one run's: with several seeds the std is shown
    summary.loc[several, ["ci_low", "ci_high"]] = float("nan")
    return summary[list(SUMMARY_COLUMNS)]


def undeclared_metrics(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """The (task, metric) pairs the report compares whose direction no task declares, sorted."""
    pairs = summary[["task", "metric"]].drop_duplicates().itertuples(index=False, name=None)
    return sorted((str(t), str(m)) for t, m in pairs if direction_of(str(t), str(m)) is None)


@dataclass(frozen=True)
class BaselineChoice:
    weights_id: str | None
    label: str | None  # as the report shows it
    note: str  # why this one, shown in the report


def choose_baseline(backbones: pd.DataFrame, requested: str | None) -> BaselineChoice:
    """``--baseline`` when given; else the first label (alphabetically) named like 'supervised'/'baseline';
    else the first label. ``backbones`` has one row per (``weights_id``, ``label``, ``name``), ``name`` being
    every display name the weights' records carry. ``requested`` may be a weights id, a label, a display name
    or a weights id prefix of at least :data:`MIN_ID_PREFIX` characters; raises ``ValueError`` naming the
    candidates when it matches several weights identities, and the known backbones when it matches none."""
    labels = dict(sorted(set(zip(backbones["weights_id"], backbones["label"], strict=True)), key=lambda p: p[1]))
    if requested is not None:
        return _requested(backbones, labels, requested)
    if not labels:
        return BaselineChoice(None, None, "no backbone has results")
    for hint in BASELINE_HINTS:
        for weights_id, label in labels.items():
            if hint in label.lower():
                return BaselineChoice(weights_id, label, f"default: the first backbone named like '{hint}'; "
                                                         "pass --baseline NAME to choose another")
    weights_id, label = next(iter(labels.items()))
    return BaselineChoice(weights_id, label,
                          "default: the first backbone alphabetically; pass --baseline NAME to choose")


def _requested(backbones: pd.DataFrame, labels: dict[str, str], requested: str) -> BaselineChoice:
    by_name = sorted(set(backbones.loc[backbones["name"] == requested, "weights_id"]), key=labels.__getitem__)
    by_prefix = [w for w in labels if len(requested) >= MIN_ID_PREFIX and w.startswith(requested)]
    for kind, found in (("weights id", [w for w in labels if w == requested]),
                        ("label", [w for w, label in labels.items() if label == requested]),
                        ("display name", by_name), ("weights id prefix", by_prefix)):
        if len(found) == 1:
            return BaselineChoice(found[0], labels[found[0]], f"chosen with --baseline (by {kind})")
        if len(found) > 1:
            candidates = ", ".join(f"{labels[w]!r} (weights {w})" for w in found)
            raise ValueError(f"--baseline {requested!r} is ambiguous: it is the {kind} of {len(found)} different "
                             f"weights: {candidates}; pass one of their labels or weights ids")
    raise ValueError(f"--baseline {requested!r} is not among the backbones {sorted(labels.values())} "
                     "(a display name, label, weights id or weights id prefix)")


#: (task, setting, weights id, metric) -> whether ``compare`` found the paired difference to the baseline real
Paired = dict[tuple[str, str, str, str], bool]


def add_deltas(summary: pd.DataFrame, baseline: str | None, paired: Paired | None = None) -> pd.DataFrame:
    """Adds ``delta`` (mean minus the mean of the baseline weights ``baseline``) and ``verdict``: better,
    worse, better-weak, worse-weak (not shown to be real), same, undirected (the metric's direction is not
    declared), or '' (no baseline value). Where ``paired`` has the comparison (per-sample outcomes on both
    sides: a paired bootstrap on the same test samples, Holm-corrected), its significance decides; else the
    difference must exceed two standard errors over seeds, which needs two or more seeds on each side."""
    paired = paired or {}
    out = summary.copy()
    if out.empty or baseline is None:
        return out.assign(delta=float("nan"), verdict="")
    base = out[out["weights_id"] == baseline][["task", "setting", "mean", "std", "n"]]
    base = base.rename(columns={"mean": "b_mean", "std": "b_std", "n": "b_n"})
    out = out.merge(base, on=["task", "setting"], how="left")
    out["delta"] = out["mean"] - out["b_mean"]
    out["verdict"] = [
        _verdict(row.delta, row.std, row.n, row.b_std, row.b_n, direction_of(row.task, row.metric),
                 row.weights_id == baseline, paired.get((row.task, row.setting, row.weights_id, row.metric)))
        for row in out.itertuples(index=False)
    ]
    return out.drop(columns=["b_mean", "b_std", "b_n"])


def _verdict(delta: float, std: float, n: int, b_std: float, b_n: float, direction: str | None,
             is_base: bool, significant: bool | None = None) -> str:
    if is_base or delta != delta:  # NaN: the baseline has no value here
        return ""
    if delta == 0:
        return "same"
    if direction is None:
        return UNDIRECTED
    good = (delta > 0) == (direction == HIGHER)
    word = "better" if good else "worse"
    if significant is not None:
        return word if significant else f"{word}-weak"
    if n < 2 or not b_n or b_n < 2:
        return f"{word}-weak"
    stderr = math.sqrt(std**2 / n + b_std**2 / b_n)
    return word if abs(delta) > 2 * stderr else f"{word}-weak"


def seedwise_means(values: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per backbone (weights identity, shown by its label in ``backbone``): mean over settings per seed, then
    mean and std of that over seeds (the chart of a task with many data sets). ``n_settings`` says over how
    many settings each backbone was averaged."""
    rows = values[values["task"] == task]
    if rows.empty:
        return pd.DataFrame(columns=["backbone", "mean", "std", "n", "n_settings"])
    keys = ["weights_id", "label"]  # one label per weights id: the label only rides along for display
    per_seed = rows.groupby([*keys, "seed"])["value"].mean()
    result = per_seed.groupby(level=keys).agg(mean="mean", std="std", n="count")
    result["n_settings"] = rows.groupby(keys)["setting"].nunique().reindex(result.index)
    return result.reset_index().rename(columns={"label": "backbone"})[["backbone", "mean", "std", "n", "n_settings"]]
