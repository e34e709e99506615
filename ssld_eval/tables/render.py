"""The paper's tables as Markdown, LaTeX or HTML: published value, ours beside it, or the command to run.

Output is a pure function of the shipped CSV, the records and the files the weights' identities are read
from (rows and columns in the CSV's order, records sorted by key, no timestamps), so regenerating a table
gives the same bytes. Every user-visible string is escaped for its format: LaTeX specials in model names,
Markdown's table pipes, HTML through jinja2's autoescaping.

A cell with records shows their value beside the published one: one record with its 95% interval over the
test samples (``record.ci95``), several (seeds) as mean ± standard deviation. It is flagged
``reproduced (in the 95% interval)`` when the published value lies inside that interval, else
``reproduced (within T)`` when it is within the paper-level tolerance T (0.2 top-1, 0.3 AP, 0.5 mIoU), else
``not reproduced``. A cell without records points at an entry of the table's list: the command that would
make one (with what differs from the paper's run), or why there is none.
"""

from __future__ import annotations

import re
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from ssld_eval.records.schema import ResultRecord
from ssld_eval.tables.catalogue import recipe_for
from ssld_eval.tables.cells import PLACEHOLDERS, tolerance_of
from ssld_eval.tables.mapping import DEFAULT_WHERE, Match, Where, command_for, match
from ssld_eval.tables.papers import BUILTIN, BUILTIN_NOTE, PaperCell, paper_cells

FORMATS = ("md", "tex", "html")
UNVERIFIED_NOTE = "not read in the source (inferred); see the CSV's source column"
FLAGS_NOTE = ("'reproduced (in the 95% interval)': the published value lies inside the record's 95% interval over "
              "its test samples; 'reproduced (within T)': it lies within the paper-level tolerance T of ours (0.2 "
              "top-1, 0.3 AP, 0.5 mIoU), checked when the interval misses it, the record has none, or several "
              "seeds are averaged; 'matched by method': a student trained here, matched by its recipe's "
              "architecture and method because its work dir is not on this machine")
HEADING = "published tables and ssld-eval"


@dataclass(frozen=True)
class Entry:
    """One item of a table's list: a command (with what differs from the paper's run), or a note alone."""

    command: str | None
    note: str


@dataclass(frozen=True)
class CellView:
    published: str
    verified: bool
    ours: str  # "82.95 [82.62, 83.28] on 50000 images", "97.20 ± 0.20 (n=3)" or ""
    diff: str  # "+0.12" or ""
    flag: str  # "reproduced (in the 95% interval)", "reproduced (within 0.2 top-1)", "not reproduced" or ""
    entry: int | None  # 1-based number in the table's list, when there is no record


@dataclass(frozen=True)
class TableView:
    paper: str
    table: str
    metrics: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[CellView | None, ...]], ...]  # (model, setting, cells)
    entries: tuple[Entry, ...]
    notes: tuple[str, ...] = ()  # said under the table's heading

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(e.command for e in self.entries if e.command)


def _flag(cell: PaperCell, value: float, interval: tuple[float, float] | None, method: bool) -> str:
    published = cell.number
    if published is None:
        return ""
    tolerance, unit = tolerance_of(cell.metric)
    if interval is not None and interval[0] <= published <= interval[1]:
        flag = "reproduced (in the 95% interval)"
    elif abs(value - published) <= tolerance + 1e-9:
        flag = f"reproduced (within {tolerance:g} {unit})"
    else:
        flag = "not reproduced"
    return flag + ("; matched by method" if method else "")


def _ours(cell: PaperCell, found: list[Match]) -> tuple[str, str, str]:
    values = [m.value for m in found]
    mean = statistics.fmean(values)
    method = any(m.how == "method" for m in found)
    if len(found) == 1:
        interval = found[0].interval
        ours = f"{mean:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else " (no interval)")
        ours += f" on {found[0].samples} images" if found[0].samples else ""
    else:
        interval = None
        ours = f"{mean:.2f} ± {statistics.stdev(values):.2f} (n={len(values)})"
    diff = f"{mean - cell.number:+.2f}" if cell.number is not None else ""
    return ours, diff, _flag(cell, mean, interval, method)


def build_tables(paper: str, records: Iterable[ResultRecord] = (), results: str = "results",
                 where: Where | None = None) -> list[TableView]:
    """The shipped paper's tables with ``records`` matched in (see :mod:`ssld_eval.tables.mapping`)."""
    where = where or Where(results, DEFAULT_WHERE.checkpoints, DEFAULT_WHERE.builtin)
    return tables_of(paper_cells(paper), records, where)


def tables_of(cells: list[PaperCell], records: Iterable[ResultRecord] = (), where: Where | str | None = None
              ) -> list[TableView]:
    """Group ``cells`` by table; rows (model, setting) and metric columns in first-appearance order."""
    if not cells:
        return []
    if where is None or isinstance(where, str):
        where = Where(where or "results", DEFAULT_WHERE.checkpoints, DEFAULT_WHERE.builtin)
    paper = cells[0].paper
    complete = sorted((r for r in records if r.status == "complete"), key=lambda r: r.key)
    rows = []
    for cell in cells:
        recipe = recipe_for(cell)
        found = [m for r in complete if (m := match(cell, r, where, recipe)) is not None]
        rows.append({"table": cell.table, "model": cell.model, "setting": cell.setting, "metric": cell.metric,
                     "cell": cell, "found": found, "recipe": recipe})
    frame = pd.DataFrame(rows)
    views = []
    for table in frame["table"].unique():  # CSV order
        part = frame[frame["table"] == table]
        duplicated = part.duplicated(["model", "setting", "metric"])
        if duplicated.any():
            first = part[duplicated].iloc[0]
            raise ValueError(f"papers/{paper}.csv: table {table} has {first['model']}/{first['setting']}/"
                             f"{first['metric']} twice")
        grid = part.pivot(index=["model", "setting"], columns="metric", values="cell")
        order = list(dict.fromkeys(zip(part["model"], part["setting"], strict=True)))
        metrics = list(dict.fromkeys(part["metric"]))
        grid = grid.reindex(index=pd.MultiIndex.from_tuples(order), columns=metrics)
        found = {id(c): (f, r) for c, f, r in zip(part["cell"], part["found"], part["recipe"], strict=True)}
        entries: list[Entry] = []
        table_rows = []
        for (model, setting), line in grid.iterrows():
            table_rows.append((model, setting, tuple(
                _view(c, *found[id(c)], entries, where) if isinstance(c, PaperCell) else None for c in line)))
        notes = (BUILTIN_NOTE,) if paper == BUILTIN else ()
        views.append(TableView(paper, str(table), tuple(metrics), tuple(table_rows), tuple(entries), notes))
    return views


def _view(cell: PaperCell, found: list[Match], recipe, entries: list[Entry], where: Where) -> CellView:
    if found:
        ours, diff, flag = _ours(cell, found)
        return CellView(cell.value, cell.verified, ours, diff, flag, None)
    entry = Entry(command_for(cell, where, recipe), recipe.note)
    if entry not in entries:
        entries.append(entry)
    return CellView(cell.value, cell.verified, "", "", "", entries.index(entry) + 1)


def _any_unverified(views: list[TableView]) -> bool:
    return any(c is not None and not c.verified for v in views for _, _, cells in v.rows for c in cells)


def _any_ours(views: list[TableView]) -> bool:
    return any(c is not None and c.ours for v in views for _, _, cells in v.rows for c in cells)


def placeholders_used(views: list[TableView]) -> list[tuple[str, str]]:
    """The data-folder placeholders the commands name, with what each folder must hold."""
    words: set[str] = set()
    for view in views:
        for command in view.commands:
            for token in shlex.split(command):
                words.update(re.findall(r"[A-Z][A-Z0-9_]+", token.partition("=")[2] or token))
    return [(name, meaning) for name, meaning in PLACEHOLDERS.items() if name in words]


# --- Markdown -------------------------------------------------------------------------------------------

_MD_SPECIAL = "\\`*_[]<>|~"


def md_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in _MD_SPECIAL else ch for ch in str(text)).replace("\n", " ")


def md_code(text: str) -> str:
    """Inline code whose fence is longer than any run of backticks inside (CommonMark), one line."""
    text = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_cell(view: CellView | None) -> str:
    if view is None:
        return ""
    text = md_escape(view.published) + ("†" if not view.verified else "")
    if view.ours:
        parts = [f"ours {md_escape(view.ours)}"] + ([f"Δ {view.diff}"] if view.diff else []) + (
            [md_escape(view.flag)] if view.flag else [])
        return f"{text}; " + ", ".join(parts)
    return f"{text} \\[{view.entry}\\]"


def _md_entry(number: int, entry: Entry) -> str:
    if entry.command is None:
        return f"{number}. {md_escape(entry.note)}"
    return f"{number}. {md_code(entry.command)}" + (f" — {md_escape(entry.note)}" if entry.note else "")


def to_markdown(views: list[TableView]) -> str:
    out = [f"# {md_escape(views[0].paper) if views else ''}: {HEADING}", ""]
    for view in views:
        out += [f"## {md_escape(view.table)}", ""]
        out += [*(md_escape(note) for note in view.notes), *([""] if view.notes else [])]
        out.append("| model | setting | " + " | ".join(md_escape(m) for m in view.metrics) + " |")
        out.append("|---|---|" + "---:|" * len(view.metrics))
        for model, setting, cells in view.rows:
            out.append(f"| {md_escape(model)} | {md_escape(setting)} | " + " | ".join(map(_md_cell, cells)) + " |")
        out.append("")
        if view.entries:
            out += ["Commands and notes for the cells without a result:", ""]
            out += [_md_entry(i, e) for i, e in enumerate(view.entries, 1)]
            out.append("")
    used = placeholders_used(views)
    if used:
        out += ["Data folders named in the commands:", ""]
        out += [f"- {md_escape(name)}: {md_escape(meaning)}" for name, meaning in used]
        out.append("")
    if _any_ours(views):
        out += [f"Flags: {md_escape(FLAGS_NOTE)}.", ""]
    if _any_unverified(views):
        out += [f"† {UNVERIFIED_NOTE}.", ""]
    return "\n".join(out)


# --- LaTeX ----------------------------------------------------------------------------------------------

_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "<": r"\textless{}",
        ">": r"\textgreater{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text)).replace("\n", " ")


def _tex_cell(view: CellView | None) -> str:
    if view is None:
        return ""
    text = tex_escape(view.published) + ("$^\\dagger$" if not view.verified else "")
    if view.ours:
        ours = tex_escape(view.ours).replace("±", r"$\pm$")
        parts = [f"ours {ours}"] + ([f"$\\Delta$ {tex_escape(view.diff)}"] if view.diff else []) + (
            [tex_escape(view.flag)] if view.flag else [])
        return f"{text} (" + ", ".join(parts) + ")"
    return f"{text} [{view.entry}]"


def _tex_entry(entry: Entry) -> str:
    if entry.command is None:
        return f"\\item {tex_escape(entry.note)}"
    return f"\\item \\texttt{{{tex_escape(entry.command)}}}" + (f" --- {tex_escape(entry.note)}" if entry.note else "")


def to_latex(views: list[TableView]) -> str:
    out = ["% Generated by 'ssld-eval tables'; needs \\usepackage{booktabs}.", ""]
    for view in views:
        out += [r"\begin{table}[ht]", r"\centering\small",
                f"\\caption{{{tex_escape(view.paper)}: {tex_escape(view.table)}}}",
                r"\begin{tabular}{ll" + "r" * len(view.metrics) + "}", r"\toprule",
                "model & setting & " + " & ".join(tex_escape(m) for m in view.metrics) + r" \\", r"\midrule"]
        for model, setting, cells in view.rows:
            out.append(f"{tex_escape(model)} & {tex_escape(setting)} & "
                       + " & ".join(map(_tex_cell, cells)) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        out += [f"\\par\\footnotesize {tex_escape(note)}" for note in view.notes]
        if view.entries:
            out.append(r"\par\smallskip\raggedright\footnotesize Commands and notes for the cells without a result:")
            out.append(r"\begin{enumerate}")
            out += [_tex_entry(e) for e in view.entries]
            out.append(r"\end{enumerate}")
        if _any_ours([view]):
            out.append(f"\\par\\footnotesize Flags: {tex_escape(FLAGS_NOTE)}.")
        if _any_unverified([view]):
            out.append(f"\\par\\footnotesize $^\\dagger$ {tex_escape(UNVERIFIED_NOTE)}.")
        out += [r"\end{table}", ""]
    used = placeholders_used(views)
    if used:
        out.append("% Data folders named in the commands:")
        out += [f"% {name}: {meaning}" for name, meaning in used]
        out.append("")
    return "\n".join(out)


# --- HTML -----------------------------------------------------------------------------------------------

def to_html(views: list[TableView]) -> str:
    from ssld_eval.report.templating import environment

    paper = views[0].paper if views else ""
    return environment().get_template("tables.html.j2").render(
        paper=paper, heading=HEADING, views=views, note=UNVERIFIED_NOTE, any_unverified=_any_unverified(views),
        flags=FLAGS_NOTE if _any_ours(views) else "", placeholders=placeholders_used(views))


def render(views: list[TableView], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {FORMATS}")
    return {"md": to_markdown, "tex": to_latex, "html": to_html}[fmt](views)
