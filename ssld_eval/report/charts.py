"""Inline SVG charts drawn by matplotlib: deterministic, self-contained, a bounded number per report.

Determinism: a fixed ``svg.hashsalt`` per chart (distinct per chart, so the ids of several SVGs inlined in
one page never collide), no date in the metadata, and text kept as ``<text>`` (``svg.fonttype: none``),
which is also smaller and lets the browser render it with the page's font. The number of charts is bounded
(one per task, at most :data:`MAX_TASK_CHARTS`, plus one scatter): a task with many data sets is drawn as
one bar per backbone averaged over its data sets instead of one chart per data set, so 10,000 records
render as fast as 100.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

matplotlib.use("Agg")  # no display, and never a GUI backend even if pyplot gets imported later

MAX_TASK_CHARTS = 12
MAX_GROUPED_SETTINGS = 6  # above this a task's chart averages over its data sets
MAX_PANELS = 4  # averaged task panels per figure
BASELINE_COLOUR = "#8a8a8a"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
_RC = {"svg.fonttype": "none", "font.size": 8, "axes.spines.top": False, "axes.spines.right": False}
_SVG_START = re.compile(r"<svg\b[^>]*>", re.S)


def plain(text: str) -> str:
    """A user string as literal chart text: matplotlib would read ``$...$`` as mathtext."""
    return str(text).replace("\\", "\\\\").replace("$", r"\$")


def colours_for(backbones: list[str], baseline: str | None) -> dict[str, str]:
    """One stable colour per backbone for every chart; the baseline is grey."""
    others = [b for b in sorted(backbones) if b != baseline]
    colours = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(others)}
    if baseline is not None:
        colours[baseline] = BASELINE_COLOUR
    return colours


def svg_of(fig: Figure, salt: str) -> str:
    """The figure as an ``<svg>`` element (no XML prolog or doctype), at most its natural width."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    opening = _SVG_START.match(text).group(0)
    # keep the natural width (so a small chart is not blown up to the page width), let CSS scale it down
    cleaned = re.sub(r'\sheight="[^"]*"', "", opening).replace("<svg", '<svg class="chart"', 1)
    return cleaned + text[len(opening):]


def _figure(width: float, height: float, left: float, right: float, bottom: float, top: float) -> Figure:
    """A one-axes figure with margins in inches, estimated from label lengths: matplotlib's constrained
    or tight layout would measure every text several times, the slowest part of drawing these charts."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)
    fig.add_subplot()
    return fig


def _text_width(labels: list[str], size: float = 8.0) -> float:
    """Rough width in inches of the longest label at ``size`` pt (about 0.55 em per character)."""
    return max((len(label) for label in labels), default=0) * size * 0.55 / 72


def _zoomed_limits(lows: list[float], highs: list[float]) -> tuple[float, float]:
    lo, hi = min(lows), max(highs)
    pad = max(0.5, 0.08 * (hi - lo))
    return (max(0.0, lo - pad) if lo >= 0 else lo - pad), hi + pad


def grouped_bars(summary: pd.DataFrame, task: str, backbones: list[str], colours: dict[str, str],
                 salt: str) -> str:
    """Bars per setting (x) and backbone (colour), error bars = std over seeds."""
    settings = sorted(summary["setting"].unique())
    table = summary.set_index(["setting", "backbone"])
    with matplotlib.rc_context(_RC):
        legend = 0.55 + _text_width(backbones, 6.5) * (1 if len(backbones) <= 14 else 2)
        plot = min(9.0, max(3.0, 0.14 * len(settings) * len(backbones) + 0.6 * len(settings)))
        fig = _figure(plot + legend + 0.75, 3.6, left=0.7, right=legend, top=0.3,
                      bottom=0.35 + 0.26 * _text_width(settings) + 0.1)
        ax = fig.axes[0]
        width = 0.8 / len(backbones)
        lows, highs = [], []
        for i, backbone in enumerate(backbones):
            xs, means, stds = [], [], []
            for j, setting in enumerate(settings):
                if (setting, backbone) in table.index:
                    row = table.loc[(setting, backbone)]
                    std = 0.0 if math.isnan(row["std"]) else float(row["std"])
                    xs.append(j - 0.4 + width * (i + 0.5))
                    means.append(float(row["mean"]))
                    stds.append(std)
                    lows.append(means[-1] - std)
                    highs.append(means[-1] + std)
            if xs:
                ax.bar(xs, means, width * 0.92, yerr=stds, color=colours[backbone], label=plain(backbone),
                       error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": "#333333"})
        ax.set_xticks(range(len(settings)), [plain(s) for s in settings], rotation=15, ha="right")
        ax.set_ylim(*_zoomed_limits(lows, highs))
        metric = summary["metric"].iloc[0]
        ax.set_ylabel(plain(f"{metric} (mean ± std over seeds)"))
        ax.set_title(plain(f"{task}"), loc="left", fontweight="bold")
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                  ncols=1 if len(backbones) <= 14 else 2)
        ax.grid(axis="y", alpha=0.3)
    return svg_of(fig, salt)


def averaged_panels(panels: list[tuple[str, str, pd.DataFrame]], backbones: list[str], baseline: str | None,
                    colours: dict[str, str], salt: str) -> str:
    """One panel per task (``(task, metric, seedwise means)``), one horizontal bar per backbone: its mean over
    the task's data sets, error bar = std over seeds of that mean. The panels share the backbone axis, so its
    labels are laid out once, and the dashed line marks the baseline."""
    left = 0.25 + _text_width(backbones)
    panel_width = 2.6
    width = left + panel_width * len(panels) + 0.3 * (len(panels) - 1) + 0.25
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, 1.0 + 0.19 * len(backbones)))
        height = fig.get_figheight()
        fig.subplots_adjust(left=left / width, right=1 - 0.25 / width, bottom=0.62 / height, top=1 - 0.3 / height,
                            wspace=0.3 / panel_width)
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        position = {b: i for i, b in enumerate(backbones)}
        for ax, (task, metric, data) in zip(axes, panels, strict=True):
            stds = [0.0 if math.isnan(v) else float(v) for v in data["std"]]
            means = [float(v) for v in data["mean"]]
            ax.barh([position[b] for b in data["backbone"]], means, xerr=stds, height=0.7,
                    color=[colours[b] for b in data["backbone"]],
                    error_kw={"elinewidth": 0.7, "capsize": 1.2, "ecolor": "#333333"})
            ax.set_xlim(*_zoomed_limits([m - v for m, v in zip(means, stds, strict=True)],
                                        [m + v for m, v in zip(means, stds, strict=True)]))
            if baseline in set(data["backbone"]):
                ax.axvline(float(data.loc[data["backbone"] == baseline, "mean"].iloc[0]), color=BASELINE_COLOUR,
                           linestyle="--", linewidth=0.8)
            settings = int(data["n_settings"].max()) if len(data) else 0
            ax.set_xlabel(plain(f"{metric}, mean of {settings} data sets"))
            ax.set_title(plain(task), loc="left", fontweight="bold")
            ax.grid(axis="x", alpha=0.3)
        axes[0].set_yticks(range(len(backbones)), [plain(b) for b in backbones])
        axes[0].set_ylim(len(backbones) - 0.5, -0.5)  # first backbone on top, as in the tables
    return svg_of(fig, salt)


def source_scatter(points: pd.DataFrame, salt: str) -> str:
    """Source top-1 (x) against the mean transfer score over a task's settings (y), one colour per task."""
    tasks = sorted(points["task"].unique())
    with matplotlib.rc_context(_RC):
        legend = 0.55 + _text_width(tasks, 6.5)
        fig = _figure(6.5 + legend, 3.8, left=0.7, right=legend, bottom=0.5, top=0.2)
        ax = fig.axes[0]
        for i, task in enumerate(tasks):
            sub = points[points["task"] == task]
            ax.scatter(sub["source_top1"], sub["score"], s=18, color=PALETTE[i % len(PALETTE)],
                       label=plain(task), alpha=0.85, edgecolors="none")
        if len(points) <= 40:
            for row in points.itertuples(index=False):
                ax.annotate(plain(row.backbone), (row.source_top1, row.score), fontsize=5.5,
                            xytext=(3, 2), textcoords="offset points", color="#444444")
        ax.margins(x=0.08, y=0.08)  # room for the point labels inside the axes
        ax.set_xlabel("source top-1 (%)")
        ax.set_ylabel("transfer score: mean primary metric over the task's data sets")
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.3)
    return svg_of(fig, salt)
