"""The paper's tables as Markdown, LaTeX or HTML: published value, ours beside it, or the command to run.

Output is a pure function of the shipped CSV and the records (rows and columns in the CSV's order, no
timestamps), so regenerating a table gives the same bytes. Every user-visible string is escaped for its
format: LaTeX specials in model names, Markdown's table pipes, HTML through jinja2's autoescaping.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from ssld_eval.records.schema import ResultRecord
from ssld_eval.tables.mapping import command_for, matches
from ssld_eval.tables.papers import PaperCell, paper_cells

FORMATS = ("md", "tex", "html")
UNVERIFIED_NOTE = "not read in the source (inferred); see the CSV's source column"


@dataclass(frozen=True)
class CellView:
    published: str
    verified: bool
    ours: str  # "97.30 ± 0.10 (n=3)" or ""
    diff: str  # "+0.12" or ""
    command: int | None  # 1-based number in the table's command list, when there is no record


@dataclass(frozen=True)
class TableView:
    paper: str
    table: str
    metrics: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[CellView | None, ...]], ...]  # (model, setting, cells)
    commands: tuple[str, ...]


def _ours(values: list[float], published: float | None) -> tuple[str, str]:
    mean = statistics.fmean(values)
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    diff = f"{mean - published:+.2f}" if published is not None else ""
    return f"{mean:.2f}{spread} (n={len(values)})", diff


def build_tables(paper: str, records: Iterable[ResultRecord] = (), results: str = "results") -> list[TableView]:
    """The shipped paper's tables with ``records`` matched in (see :mod:`ssld_eval.tables.mapping`)."""
    return tables_of(paper_cells(paper), records, results)


def tables_of(cells: list[PaperCell], records: Iterable[ResultRecord] = (), results: str = "results"
              ) -> list[TableView]:
    """Group ``cells`` by table; rows (model, setting) and metric columns in first-appearance order."""
    if not cells:
        return []
    paper = cells[0].paper
    complete = sorted((r for r in records if r.status == "complete"), key=lambda r: r.key)
    rows = []
    for cell in cells:
        values = [v for r in complete if (v := matches(cell, r)) is not None]
        rows.append({"table": cell.table, "model": cell.model, "setting": cell.setting, "metric": cell.metric,
                     "cell": cell, "values": values})
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
        found = {id(c): v for c, v in zip(part["cell"], part["values"], strict=True)}
        commands: list[str] = []
        table_rows = []
        for (model, setting), line in grid.iterrows():
            table_rows.append((model, setting, tuple(
                _view(c, found[id(c)], commands, results) if isinstance(c, PaperCell) else None for c in line)))
        views.append(TableView(paper, str(table), tuple(metrics), tuple(table_rows), tuple(commands)))
    return views


def _view(cell: PaperCell, values: list[float], commands: list[str], results: str) -> CellView:
    if values:
        ours, diff = _ours(values, cell.number)
        return CellView(cell.value, cell.verified, ours, diff, None)
    command = command_for(cell, results)
    if command not in commands:
        commands.append(command)
    return CellView(cell.value, cell.verified, "", "", commands.index(command) + 1)


def _any_unverified(views: list[TableView]) -> bool:
    return any(c is not None and not c.verified for v in views for _, _, cells in v.rows for c in cells)


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
        return f"{text}; ours {md_escape(view.ours)}, Δ {view.diff}" if view.diff else f"{text}; ours {view.ours}"
    return f"{text} \\[{view.command}\\]"


def to_markdown(views: list[TableView]) -> str:
    out = [f"# {md_escape(views[0].paper) if views else ''}: published tables and ssld-eval", ""]
    for view in views:
        out += [f"## {md_escape(view.table)}", ""]
        out.append("| model | setting | " + " | ".join(md_escape(m) for m in view.metrics) + " |")
        out.append("|---|---|" + "---:|" * len(view.metrics))
        for model, setting, cells in view.rows:
            out.append(f"| {md_escape(model)} | {md_escape(setting)} | " + " | ".join(map(_md_cell, cells)) + " |")
        out.append("")
        if view.commands:
            out += ["Commands for the cells without a result:", ""]
            out += [f"{i}. {md_code(c)}" for i, c in enumerate(view.commands, 1)]
            out.append("")
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
        return f"{text} (ours {ours}" + (f", $\\Delta$ {tex_escape(view.diff)})" if view.diff else ")")
    return f"{text} [{view.command}]"


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
        if view.commands:
            out.append(r"\par\smallskip\raggedright\footnotesize Commands for the cells without a result:")
            out.append(r"\begin{enumerate}")
            out += [f"\\item \\texttt{{{tex_escape(c)}}}" for c in view.commands]
            out.append(r"\end{enumerate}")
        if _any_unverified([view]):
            out.append(f"\\par\\footnotesize $^\\dagger$ {tex_escape(UNVERIFIED_NOTE)}.")
        out += [r"\end{table}", ""]
    return "\n".join(out)


# --- HTML -----------------------------------------------------------------------------------------------

def to_html(views: list[TableView]) -> str:
    from ssld_eval.report.templating import environment

    paper = views[0].paper if views else ""
    return environment().get_template("tables.html.j2").render(paper=paper, views=views, note=UNVERIFIED_NOTE,
                                                                 any_unverified=_any_unverified(views))


def render(views: list[TableView], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {FORMATS}")
    return {"md": to_markdown, "tex": to_latex, "html": to_html}[fmt](views)
