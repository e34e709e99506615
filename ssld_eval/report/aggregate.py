"""From one row per record to one row per (task, setting, backbone): mean, std, n and the delta.

A *setting* is a data set, plus the run's ``--set`` overrides when it has any: runs with different
overrides are different experiments, and averaging them over seeds would mix two recipes into one number.
The delta is against the baseline backbone on the same task and setting; it counts as *clear* when it
exceeds twice its standard error (both sides need two or more seeds), otherwise it is shown as within noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ssld_eval.records.frame import METRIC_PREFIX

#: metric name fragments where a smaller number is the better one
LOWER_IS_BETTER = ("error", "loss", "nll", "ece")
SUMMARY_COLUMNS = ("task", "setting", "backbone", "metric", "mean", "std", "n")
BASELINE_HINTS = ("supervised", "baseline")


def higher_is_better(metric: str) -> bool:
    return not any(part in metric.lower() for part in LOWER_IS_BETTER)


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
    return done[done["value"].notna()]


def summarise(values: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and n over seeds for every (task, setting, backbone)."""
    if values.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    grouped = values.groupby(["task", "setting", "backbone", "metric"], sort=True)["value"]
    summary = grouped.agg(mean="mean", std="std", n="count").reset_index()
    return summary[list(SUMMARY_COLUMNS)]


@dataclass(frozen=True)
class BaselineChoice:
    name: str | None
    note: str  # why this one, shown in the report


def choose_baseline(backbones: list[str], requested: str | None) -> BaselineChoice:
    """``--baseline`` when given (it must exist); else a backbone named like 'supervised'/'baseline'; else the
    first in alphabetical order. Raises ``ValueError`` naming the known backbones when ``requested`` is absent."""
    names = sorted(backbones)
    if requested is not None:
        if requested not in names:
            raise ValueError(f"--baseline {requested!r} is not among the backbones {names}")
        return BaselineChoice(requested, "chosen with --baseline")
    if not names:
        return BaselineChoice(None, "no backbone has results")
    for hint in BASELINE_HINTS:
        for name in names:
            if hint in name.lower():
                return BaselineChoice(name, f"default: the first backbone named like '{hint}'; "
                                            "pass --baseline NAME to choose another")
    return BaselineChoice(names[0], "default: the first backbone alphabetically; pass --baseline NAME to choose")


def add_deltas(summary: pd.DataFrame, baseline: str | None) -> pd.DataFrame:
    """Adds ``delta`` (mean minus the baseline's mean) and ``verdict``: better, worse, better-weak,
    worse-weak (within two standard errors, or too few seeds to tell), same, or '' (no baseline value)."""
    out = summary.copy()
    if out.empty or baseline is None:
        return out.assign(delta=float("nan"), verdict="")
    base = out[out["backbone"] == baseline][["task", "setting", "mean", "std", "n"]]
    base = base.rename(columns={"mean": "b_mean", "std": "b_std", "n": "b_n"})
    out = out.merge(base, on=["task", "setting"], how="left")
    out["delta"] = out["mean"] - out["b_mean"]
    out["verdict"] = [
        _verdict(row.delta, row.std, row.n, row.b_std, row.b_n, row.metric, row.backbone == baseline)
        for row in out.itertuples(index=False)
    ]
    return out.drop(columns=["b_mean", "b_std", "b_n"])


def _verdict(delta: float, std: float, n: int, b_std: float, b_n: float, metric: str, is_base: bool) -> str:
    if is_base or delta != delta:  # NaN: the baseline has no value here
        return ""
    if delta == 0:
        return "same"
    good = (delta > 0) == higher_is_better(metric)
    word = "better" if good else "worse"
    if n < 2 or not b_n or b_n < 2:
        return f"{word}-weak"
    stderr = math.sqrt(std**2 / n + b_std**2 / b_n)
    return word if abs(delta) > 2 * stderr else f"{word}-weak"


def seedwise_means(values: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per backbone: mean over settings per seed, then mean and std of that over seeds (the chart of a task
    with many data sets). ``n_settings`` says over how many settings each backbone was averaged."""
    rows = values[values["task"] == task]
    if rows.empty:
        return pd.DataFrame(columns=["backbone", "mean", "std", "n", "n_settings"])
    per_seed = rows.groupby(["backbone", "seed"])["value"].mean()
    result = per_seed.groupby(level="backbone").agg(mean="mean", std="std", n="count").reset_index()
    result["n_settings"] = rows.groupby("backbone")["setting"].nunique().reindex(result["backbone"]).to_numpy()
    return result
