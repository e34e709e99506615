"""``ssld-eval report --results DIR --out reports/NAME/index.html``: one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
    parser.add_argument("--out", type=Path, help="HTML file to write (default: reports/<results name>/index.html)")
    parser.add_argument("--baseline", help="backbone the others are compared with: a display name, a label as "
                                           "the report shows it, a weights id or a prefix of one (default: one "
                                           "named like 'supervised' or 'baseline', else the first alphabetically)")
    parser.add_argument("--title", default=None, help="page title (default: 'ssld-eval report: <results name>')")


def run(args: argparse.Namespace) -> int:
    from ssld_eval.report.render import write_report

    name = args.results.resolve().name or "results"
    out = args.out or Path("reports") / name / "index.html"
    if not args.results.is_dir():
        print(f"error: --results {args.results}: no such folder", file=sys.stderr)
        return 2
    try:
        context = write_report(args.results, out, baseline=args.baseline,
                               title=args.title or f"ssld-eval report: {name}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}: {context.n_records} records ({context.n_complete} complete, {context.n_failed} failed), "
          f"{len(context.invalid)} invalid file(s), baseline {context.baseline}")
    if context.n_records == 0:
        print(f"warning: no valid record in {args.results}", file=sys.stderr)
    for item in context.invalid:
        print(f"warning: {item.reason}", file=sys.stderr)
    for task, metric in context.undeclared:
        print(f"warning: {task} declares no direction for {metric!r}: its deltas are not coloured", file=sys.stderr)
    return 0
