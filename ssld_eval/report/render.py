"""Build the report's context from the records frame and render it to one self-contained HTML file.

Everything a user typed (backbone names, paths, config values, failure reasons) reaches the page only
through jinja2's autoescaping; the only markup marked safe is the SVG that :mod:`ssld_eval.report.charts`
produced, in which matplotlib has already XML-escaped every label.

Rows, charts and provenance are per weights identity (``weights_id``); what they show is the frame's
``label`` for it, the display name made unique (see :mod:`ssld_eval.records.frame`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from ssld_eval.records.frame import invalid_of, load_frame
from ssld_eval.records.store import InvalidRecord
from ssld_eval.report import aggregate, charts
from ssld_eval.report.templating import environment

MAX_FAILED_ROWS = 500
DEFAULT_TITLE = "ssld-eval report"


@dataclass(frozen=True)
class Cell:
    value: str  # "81.23 ± 0.40"
    n: int
    delta: str  # "+1.20" or ""
    verdict: str  # css class: better, worse, better-weak, worse-weak, same, undirected, ""
    title: str  # tooltip with the exact numbers
    excluded: int = 0  # undecodable images the run left out (the most over its seeds), shown when any


@dataclass(frozen=True)
class TableRow:
    backbone: str  # the label
    is_baseline: bool
    cells: tuple[Cell | None, ...]


@dataclass(frozen=True)
class TaskTable:
    task: str
    columns: tuple[tuple[str, str], ...]  # (setting, metric)
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class Chart:
    title: str
    caption: str
    svg: Markup


@dataclass(frozen=True)
class ProvenanceRow:
    backbone: str
    arch: str
    method: str
    teacher: str
    weights: str
    source_top1: str
    config_hashes: str
    git_shas: str
    matched: str
    matched_ok: bool
    runs: str
    duration: str


@dataclass(frozen=True)
class FailedRow:
    backbone: str
    task: str
    setting: str
    seed: int
    key: str
    reason: str


@dataclass(frozen=True)
class ReportContext:
    title: str
    n_records: int
    n_complete: int
    n_failed: int
    baseline: str | None  # the label
    baseline_note: str
    tables: tuple[TaskTable, ...]
    charts: tuple[Chart, ...]
    provenance: tuple[ProvenanceRow, ...]
    failed: tuple[FailedRow, ...]
    failed_omitted: int
    invalid: tuple[InvalidRecord, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    baseline_weights: str | None = None
    undeclared: tuple[tuple[str, str], ...] = ()  # (task, metric) compared without a declared direction


def _fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cell(row: dict) -> Cell:
    std = "" if math.isnan(row["std"]) else f" ± {row['std']:.2f}"
    if not std and not math.isnan(row["ci_low"]):  # one run: its 95% interval over the test samples
        std = f" [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
    delta = "" if math.isnan(row["delta"]) or not row["verdict"] else f"{row['delta']:+.2f}"
    title = f"{row['metric']}: mean {row['mean']:.4f}, std {_fmt(row['std'], 4)}, n {int(row['n'])}"
    if delta:
        verdict = "direction unknown" if row["verdict"] == aggregate.UNDIRECTED else row["verdict"]
        title += f", delta vs baseline {row['delta']:+.4f} ({verdict.replace('-weak', ', within noise')})"
    excluded = int(row.get("excluded") or 0)
    if excluded:
        title += f", {excluded} undecodable image(s) excluded (listed in the record's bad_images)"
    return Cell(value=f"{row['mean']:.2f}{std}", n=int(row["n"]), delta=delta, verdict=row["verdict"],
                title=title, excluded=excluded)


def _ordered(part: pd.DataFrame, baseline: str | None) -> list[tuple[str, str]]:
    """(weights id, label) of the backbones in ``part``: the baseline weights first, then by label."""
    pairs = set(zip(part["weights_id"], part["backbone"], strict=True))
    return sorted(pairs, key=lambda p: (p[0] != baseline, p[1]))


def task_tables(summary: pd.DataFrame, baseline: str | None) -> tuple[TaskTable, ...]:
    """One table per task: a row per weights identity, a column per (setting, metric)."""
    tables = []
    for task, part in summary.groupby("task", sort=True):
        columns = tuple(part[["setting", "metric"]].drop_duplicates().sort_values("setting").itertuples(
            index=False, name=None))
        cells = {(r["weights_id"], r["setting"]): _cell(r) for r in part.to_dict("records")}
        rows = tuple(TableRow(label, w == baseline, tuple(cells.get((w, s)) for s, _ in columns))
                     for w, label in _ordered(part, baseline))
        tables.append(TaskTable(str(task), columns, rows))
    return tuple(tables)


def build_charts(values: pd.DataFrame, summary: pd.DataFrame, baseline: str | None,
                 frame: pd.DataFrame) -> tuple[tuple[Chart, ...], tuple[str, ...]]:
    """The charts, drawn with the labels (one per weights identity) as backbone names; ``baseline`` is the
    baseline's weights id."""
    notes: list[str] = []
    if summary.empty:
        return (), ()
    base_label = next((label for w, label in _ordered(summary, baseline) if w == baseline), None)
    colours = charts.colours_for(list(summary["backbone"].unique()), base_label)
    tasks = sorted(summary["task"].unique())
    if len(tasks) > charts.MAX_TASK_CHARTS:
        notes.append(f"{len(tasks) - charts.MAX_TASK_CHARTS} task(s) have no chart (at most "
                     f"{charts.MAX_TASK_CHARTS} are drawn); their numbers are in the tables.")
    result, wide = [], []
    for index, task in enumerate(tasks[: charts.MAX_TASK_CHARTS]):
        part = summary[summary["task"] == task]
        if part["setting"].nunique() > charts.MAX_GROUPED_SETTINGS:
            wide.append((task, str(part["metric"].mode().iloc[0]), aggregate.seedwise_means(values, task)))
            continue
        backbones = [label for _, label in _ordered(part, baseline)]
        svg = charts.grouped_bars(part, task, backbones, colours, salt=f"ssld-eval-{index}")
        caption = (f"{task}: primary metric per data set, mean over seeds with ± one std as error bar. "
                   "The y axis does not start at zero.")
        result.append(Chart(title=task, caption=caption, svg=Markup(svg)))
    backbones = [label for _, label in _ordered(summary, baseline)]
    per_figure = math.ceil(len(wide) / math.ceil(len(wide) / charts.MAX_PANELS)) if wide else 1  # 5 -> 3 + 2
    for start in range(0, len(wide), per_figure):
        panels = wide[start:start + per_figure]
        svg = charts.averaged_panels(panels, backbones, base_label, colours, salt=f"ssld-eval-panels-{start}")
        caption = (f"Tasks with more than {charts.MAX_GROUPED_SETTINGS} data sets: each bar is a backbone's mean "
                   "over the task's data sets, the error bar the std over seeds of that mean, the dashed line "
                   "the baseline. Per-data-set numbers are in the tables above.")
        result.append(Chart(title=", ".join(t for t, _, _ in panels), caption=caption, svg=Markup(svg)))
    points = _scatter_points(summary, frame)
    if not points.empty:
        svg = charts.source_scatter(points, salt="ssld-eval-scatter")
        result.append(Chart("source top-1 against transfer",
                            "One point per backbone and task, for backbones whose source top-1 is known.",
                            Markup(svg)))
    return tuple(result), tuple(notes)


def _scatter_points(summary: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    known = frame.dropna(subset=["source_top1"]).groupby("weights_id")["source_top1"].first()
    if known.empty:
        return pd.DataFrame()
    scores = summary.groupby(["weights_id", "backbone", "task"])["mean"].mean().rename("score").reset_index()
    scores = scores[scores["weights_id"].isin(known.index)]
    scores["source_top1"] = scores["weights_id"].map(known)
    return scores


def _distinct(values: pd.Series, width: int = 0, shown: int = 3) -> str:
    items = sorted({v for v in values.unique() if isinstance(v, str) and v})
    items = [v[:width] if width else v for v in items]
    more = f" (+{len(items) - shown})" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{seconds / 60:.1f} min"


def provenance_rows(frame: pd.DataFrame) -> tuple[ProvenanceRow, ...]:
    """One row per weights identity, in label order; ``weights`` shows its id (16 characters)."""
    rows = []
    for (_, backbone), part in sorted(frame.groupby(["weights_id", "label"]), key=lambda item: item[0][1]):
        matched = part["key_audit.matched_fraction"].min()
        source = part["source_top1"].dropna()
        complete = int((part["status"] == "complete").sum())
        rows.append(ProvenanceRow(
            backbone=str(backbone), arch=_distinct(part["arch"]), method=_distinct(part["method"]) or "–",
            teacher=_distinct(part["teacher"]) or "–", weights=_distinct(part["weights_id"], 16),
            source_top1=_fmt(source.iloc[0]) if len(source) else "–",
            config_hashes=_distinct(part["config_hash"], 8, shown=2), git_shas=_distinct(part["git_sha"], 10, 2),
            matched="–" if math.isnan(matched) else f"{matched:.3f}",
            matched_ok=math.isnan(matched) or matched >= 1.0,
            runs=f"{complete} complete" + (f", {len(part) - complete} failed" if len(part) > complete else ""),
            duration=_duration(float(part["duration_s"].sum())),
        ))
    return tuple(rows)


def failed_rows(frame: pd.DataFrame) -> tuple[tuple[FailedRow, ...], int]:
    failed = frame[frame["status"] == "failed"].sort_values(["label", "task", "dataset", "seed", "key"])
    rows = tuple(
        FailedRow(r.label, r.task, aggregate.setting_of(r.dataset, r.overrides), int(r.seed), r.key, r.reason)
        for r in failed.head(MAX_FAILED_ROWS).itertuples(index=False)
    )
    return rows, max(0, len(failed) - MAX_FAILED_ROWS)


def paired_verdicts(results: Path, baseline_weights: str | None) -> tuple[aggregate.Paired, tuple[str, ...]]:
    """``compare``'s significance of every paired comparison to the baseline, and notes on what failed."""
    from ssld_eval.records.outcomes import OutcomesError
    from ssld_eval.report.compare import CompareError, compare

    if baseline_weights is None:
        return {}, ()
    try:
        rows = compare(results, baseline_weights)
    except (CompareError, OutcomesError) as exc:
        return {}, (f"Paired comparisons unavailable ({exc}); deltas are judged over seeds only.",)
    paired = {(r.task, r.setting, r.weights_id, r.metric): r.significant for r in rows if r.comparable}
    skipped = [f"{r.backbone} ({r.task}, {r.setting}): {r.reason}" for r in rows if not r.comparable]
    return paired, (f"Not comparable with the baseline: {'; '.join(skipped)}",) if skipped else ()


def build_context(frame: pd.DataFrame, baseline: str | None = None, title: str = DEFAULT_TITLE,
                  results: Path | None = None) -> ReportContext:
    """Everything the template shows. Raises ``ValueError`` when ``baseline`` names no backbone, or names
    several weights identities (a display name that two different files share). With ``results`` (the
    folder ``frame`` was read from), deltas are judged by ``compare``'s paired tests where outcomes exist."""
    values = aggregate.complete_values(frame)
    summary = aggregate.summarise(values)
    with_results = frame[frame["weights_id"].isin(set(summary["weights_id"]))]
    candidates = with_results[["weights_id", "label", "backbone"]].drop_duplicates().rename(
        columns={"backbone": "name"})
    choice = aggregate.choose_baseline(candidates, baseline)
    paired, paired_notes = paired_verdicts(results, choice.weights_id) if results is not None else ({}, ())
    summary = aggregate.add_deltas(summary, choice.weights_id, paired)
    chart_list, notes = build_charts(values, summary, choice.weights_id, frame)
    notes = (*notes, *paired_notes)
    undeclared = tuple(aggregate.undeclared_metrics(summary))
    if undeclared:
        listed = ", ".join(f"{task} / {metric}" for task, metric in undeclared)
        notes = (*notes, f"No task declares whether higher or lower is better for: {listed} (see "
                         "ssld_eval/tasks/directions.py). Their deltas are shown uncoloured, as "
                         "'direction unknown', never as better or worse.")
    failed, omitted = failed_rows(frame)
    n_complete = int((frame["status"] == "complete").sum())
    return ReportContext(
        title=title, n_records=len(frame), n_complete=n_complete, n_failed=len(frame) - n_complete,
        baseline=choice.label, baseline_note=choice.note, tables=task_tables(summary, choice.weights_id),
        charts=chart_list, provenance=provenance_rows(frame), failed=failed, failed_omitted=omitted,
        invalid=tuple(invalid_of(frame)), notes=notes, baseline_weights=choice.weights_id, undeclared=undeclared,
    )


def render_html(context: ReportContext) -> str:
    return environment().get_template("report.html.j2").render(ctx=context)


def write_report(results: str | Path, out: str | Path, baseline: str | None = None,
                 title: str = DEFAULT_TITLE) -> ReportContext:
    """Load ``results``, render, and write ``out`` (atomically, creating its folder)."""
    from ssld_core.atomic import atomic_write_text

    context = build_context(load_frame(results), baseline=baseline, title=title, results=Path(results))
    atomic_write_text(Path(out), render_html(context))
    return context
