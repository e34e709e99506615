"""``ssld-eval tables --paper ssld|scalekd|simreg|builtin [--results DIR] [--format md|tex|html] [--out FILE]
[--plan FILE.yaml [--data-root DIR]] [--checkpoints DIR] [--builtin DIR]``.

``--paper builtin`` is the built-in teachers' table (beside the TensorFlow release's published top-1).
``--plan FILE.yaml`` writes, instead of the tables, a sweep spec of every cell reproducible from released
weights (:mod:`ssld_eval.tables.plan`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssld_eval.tables.papers import TABLES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paper", required=True, choices=TABLES,
                        help="whose tables to regenerate (builtin: the built-in teachers)")
    parser.add_argument("--results", type=Path, help="results folder whose records fill in 'ours' (optional)")
    parser.add_argument("--format", choices=("md", "tex", "html"), default="md", help="output format (default: md)")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    parser.add_argument("--plan", type=Path, metavar="FILE.yaml",
                        help="write a sweep spec of every cell reproducible from released weights instead")
    parser.add_argument("--data-root", help="the plan's data_root: one folder holding every data set of the plan "
                                            "(default: data; for --paper builtin the built-in mini val set)")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"),
                        help="where the released ScaleKD / SimReg files are downloaded to (default: checkpoints)")
    parser.add_argument("--builtin", type=Path,
                        help="the built-in data folder holding teachers/ (default: $SSLD_EVAL_DATA or data/builtin)")


def run(args: argparse.Namespace) -> int:
    from ssld_core.atomic import atomic_write_text
    from ssld_eval.records.store import ResultStore
    from ssld_eval.tables.mapping import default_where

    results = str(args.results) if args.results is not None else "results"
    where = default_where(results, args.checkpoints, args.builtin)
    if args.plan is not None:
        from ssld_eval.tables.plan import PlanError, missing_weights, plan_spec, plan_text

        try:
            text = plan_text(args.paper, where, args.data_root)
        except PlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        atomic_write_text(args.plan, text)
        spec = plan_spec(args.paper, where, args.data_root)
        print(f"wrote {args.plan}: {len(spec['include'])} jobs; run 'ssld-eval sweep {args.plan} --dry-run'",
              file=sys.stderr)
        for line in missing_weights(args.paper, where):
            print(f"warning: {line}", file=sys.stderr)
        return 0

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
    text = render(build_tables(args.paper, records, where=where), args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
