"""One sweep: load the spec, expand, skip what is complete, run the rest, say what failed.

Restarting a sweep is always safe and cheap: finished jobs are recognised by their complete record (and
each job also passes ``--skip-existing``, so two overlapping sweeps do not redo each other's work); failed
or interrupted jobs have no complete record and run again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ssld_eval.records.store import ResultStore
from ssld_eval.sweep import jobs as jobs_module
from ssld_eval.sweep.executors import JobOutcome, LocalExecutor, SlurmExecutor
from ssld_eval.sweep.jobs import Job, RunOptions, expand, plan
from ssld_eval.sweep.spec import SlurmSpec, SpecError, SweepSpec

DEFAULT_RESULTS = "results"


@dataclass(frozen=True)
class FailedJob:
    key: str
    label: str
    reason: str
    log: str


@dataclass(frozen=True)
class SweepOutcome:
    total: int
    skipped: int
    ran: int
    failed: tuple[FailedJob, ...]


def _why(job: Job, outcome: JobOutcome | None, store: ResultStore) -> str:
    path = store.path_for(job.key)
    if path.is_file():
        try:
            record = store.read(path)
            if record.status == "failed":
                return f"failed record: {record.reason}"
        except ValueError as exc:
            return f"invalid record: {exc}"
    if outcome is None:
        return "not run"
    if outcome.error:
        return outcome.error
    return f"exit code {outcome.returncode}, no complete record written"


def run_sweep(spec: SweepSpec, *, executor: str = "local", jobs: int = 1, dry_run: bool = False,
              results: str | Path | None = None, program: tuple[str, ...] | None = None,
              cluster: str = "slurm", out: TextIO | None = None) -> SweepOutcome:
    """Plan and (unless ``dry_run``) run ``spec``. Raises :class:`SpecError` for a spec that cannot run.

    ``program`` starts ssld-eval in each job (default :data:`ssld_eval.sweep.jobs.DEFAULT_PROGRAM`, read at
    call time); tests give a fake transfer script that writes the record under the same key. ``out``: where
    the plan is printed (default: ``sys.stdout`` as it is at call time, not at import)."""
    out = sys.stdout if out is None else out
    root = Path(results or spec.results or DEFAULT_RESULTS)
    store = ResultStore(root)
    all_jobs = expand(spec)
    todo = plan(all_jobs, store)
    out.write(f"sweep {spec.source}: {len(all_jobs)} jobs, {len(todo.complete)} complete (skipped), "
              f"{len(todo.to_run)} to run -> {root}\n")
    if dry_run:
        done = {job.key for job in todo.complete}
        out.write("".join(f"{'skip' if job.key in done else 'run '}  {job.key}  {job.label}\n" for job in all_jobs))
        return SweepOutcome(len(all_jobs), len(todo.complete), 0, ())
    if not todo.to_run:
        return SweepOutcome(len(all_jobs), len(todo.complete), 0, ())
    slurm = spec.slurm or SlurmSpec()
    options = RunOptions(results=root, data_root=spec.data_root, device=spec.device,
                         program=program or jobs_module.DEFAULT_PROGRAM,
                         torchrun_tasks=slurm.torchrun_tasks)
    if executor == "local":
        runner = LocalExecutor(jobs)
    elif executor == "slurm":
        runner = SlurmExecutor(slurm, jobs, cluster=cluster)
    else:
        raise SpecError(f"--executor {executor!r}: expected local or slurm")
    counter = iter(range(1, len(todo.to_run) + 1))
    outcomes: dict[str, JobOutcome] = {}

    def report(job: Job, outcome: JobOutcome) -> None:
        outcomes[job.key] = outcome
        ok = outcome.returncode == 0 and not outcome.error
        out.write(f"[{next(counter)}/{len(todo.to_run)}] {'done' if ok else 'FAIL'}  {job.key}  {job.label}  "
                  f"({outcome.seconds:.1f}s)\n")
        out.flush()

    runner.run(todo.to_run, options, report)
    failed = tuple(
        FailedJob(job.key, job.label, _why(job, outcomes.get(job.key), store),
                  outcomes[job.key].log if job.key in outcomes else "")
        for job in todo.to_run if not store.has_complete(job.key)
    )
    return SweepOutcome(len(all_jobs), len(todo.complete), len(todo.to_run), failed)
