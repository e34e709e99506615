"""``ssld-eval data``: build the built-in data sets and teachers (``ssld-eval data builtin --out DIR``)."""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    builtin = actions.add_parser(
        "builtin",
        help="write Fashion/Animal-MNIST and digits ImageFolders, COCO and ADE composites, an ImageNet-layout "
        "mini val set of real photos, the teachers",
        description="Build the built-in data sets and teachers from packaged real images and weights "
        "(offline, deterministic per seed; finished sets are skipped on a re-run).",
    )
    builtin.add_argument("--data-root", "--out", dest="out", type=Path, required=True,
                         help="output folder, e.g. data/builtin (what the other commands' --data-root then names)")
    builtin.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    builtin.add_argument("--size", choices=("tiny", "small"), default="small",
                         help="tiny: seconds, for tests; small: enough for real signal (default)")


def run(args: argparse.Namespace) -> int:
    if args.action != "builtin":  # argparse only lets known actions through
        raise ValueError(f"unknown action {args.action!r}")
    from ssld_eval.data.builtin import build_builtin

    try:
        manifest = build_builtin(args.out, seed=args.seed, size=args.size)
    except (FileNotFoundError, FileExistsError, pickle.UnpicklingError) as exc:
        print(f"ssld-eval data builtin: {exc}", file=sys.stderr)
        return 1
    print(f"built-in data ({manifest.size}, seed {manifest.seed}) in {manifest.root}")
    for name, counts in manifest.counts.items():
        print(f"  {name:<18} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"  {manifest.num_files} files; manifest sha256 {manifest.digest}")
    return 0
