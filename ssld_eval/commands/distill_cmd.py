"""``ssld-eval distill --config RECIPE [--set key.sub=value ...]``: train one student, write its checkpoint.

Also runs under ``torchrun --nproc_per_node N -m ssld_eval.cli distill ...`` (gloo on CPU, NCCL on CUDA).
The work is done by :func:`distill.run_recipe`; this module only maps the command line onto it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssld_core.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, raised_by_us


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="recipe YAML, e.g. configs/distill/kd/....yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.SUB=VALUE", dest="overrides",
                        help="override a recipe key, e.g. --set train.steps=200 (repeatable; values are YAML)")
    parser.add_argument("--data-root", type=Path,
                        help="the recipe's data.root (the folder its splits are relative to), like transfer's")
    parser.add_argument("--work-dir", type=Path, help="output folder (default: work_dirs/<method>/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the work dir's newest checkpoint")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--on-bad-image", choices=("skip", "fail"),
                        help="undecodable images: skip (excluded, counted and listed in student.json) or fail "
                             "(default: the recipe's data.on_bad_image, skip unless set, as transfer does)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from distill import run_recipe
    from distill.cache import CacheMismatchError
    from distill.checkpoint import NonFiniteError
    from distill.data import DataError
    from distill.models import CheckpointError
    from distill.recipe import RecipeError

    try:
        overrides = [*args.overrides, *([f"data.root={args.data_root}"] if args.data_root else [])]
        work_dir = run_recipe(args.config, args.work_dir, overrides=overrides, device=args.device,
                              resume=args.resume, on_bad_image=args.on_bad_image,
                              progress=False if args.no_progress else None)
    except NonFiniteError as exc:  # the run diverged: it failed, the input was fine
        print(f"failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (RecipeError, DataError, CheckpointError, CacheMismatchError, FileNotFoundError, FileExistsError,
            ValueError) as exc:
        if not raised_by_us(exc):
            raise  # a bug inside torch or timm: its traceback, exit 1
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(work_dir / "student.safetensors")
    return EXIT_OK
