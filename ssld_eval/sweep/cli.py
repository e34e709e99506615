"""``ssld-eval sweep SPEC.yaml [--executor local|slurm] [--jobs N] [--dry-run] [--results DIR]``."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="the sweep spec (YAML); see docs/sweeps.md")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: N processes on this machine; slurm: one submitit job per run (default: local)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="local: concurrent job processes; slurm: array parallelism (default: 1)")
    parser.add_argument("--dry-run", action="store_true", help="list the jobs and which would be skipped, run none")
    parser.add_argument("--results", type=Path, help="results folder (default: the spec's 'results', else results)")


def run(args: argparse.Namespace) -> int:
    from ssld_eval.sweep.executors import install_sigterm_as_interrupt
    from ssld_eval.sweep.runner import run_sweep
    from ssld_eval.sweep.spec import SpecError, load_spec

    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.executor == "slurm" and not args.dry_run and shutil.which("sbatch") is None:
        print("error: --executor slurm needs Slurm's sbatch on PATH (run from a login node)", file=sys.stderr)
        return 2
    install_sigterm_as_interrupt()
    try:
        spec = load_spec(args.spec)
        outcome = run_sweep(spec, executor=args.executor, jobs=args.jobs, dry_run=args.dry_run,
                            results=args.results)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: running jobs were stopped; run the same command again to resume", file=sys.stderr)
        return 130
    if outcome.failed:
        print(f"{len(outcome.failed)} of {outcome.ran} job(s) failed:", file=sys.stderr)
        for job in outcome.failed:
            print(f"  {job.key}  {job.label}: {job.reason}" + (f" (log: {job.log})" if job.log else ""),
                  file=sys.stderr)
        return 1
    if not args.dry_run:
        print(f"sweep finished: {outcome.ran} run, {outcome.skipped} already complete")
    return 0
