"""``ssld-eval tables --paper ssld|scalekd|simreg [--results DIR] [--format md|tex|html] [--out FILE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssld_eval.tables.papers import PAPERS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paper", required=True, choices=PAPERS, help="whose tables to regenerate")
    parser.add_argument("--results", type=Path, help="results folder whose records fill in 'ours' (optional)")
    parser.add_argument("--format", choices=("md", "tex", "html"), default="md", help="output format (default: md)")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")


def run(args: argparse.Namespace) -> int:
    from ssld_core.atomic import atomic_write_text
    from ssld_eval.records.store import ResultStore
    from ssld_eval.tables.render import build_tables, render

    records = ()
    if args.results is not None:
        if not args.results.is_dir():
            print(f"error: --results {args.results}: no such folder", file=sys.stderr)
            return 2
        scan = ResultStore(args.results).scan()
        for item in scan.invalid:
            print(f"warning: skipped {item.reason}", file=sys.stderr)
        records = scan.records
    results = str(args.results) if args.results is not None else "results"
    text = render(build_tables(args.paper, records, results=results), args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
