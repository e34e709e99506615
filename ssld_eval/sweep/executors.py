"""Running a sweep's jobs: locally with N concurrent processes, or on Slurm through submitit.

Either way each job is one ``ssld-eval transfer`` process (or one torchrun group) writing its own record;
the executors only launch, wait and collect return codes, and the sweep then checks the store for the
complete record, which is the one proof a job finished. Job output goes to ``<results>/sweep-logs/<key>.log``
(local) or submitit's folder ``<results>/submitit/`` (Slurm).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssld_eval.sweep.jobs import Job, RunOptions, torchrun_command, transfer_command
from ssld_eval.sweep.spec import SlurmSpec


@dataclass(frozen=True)
class JobOutcome:
    key: str
    returncode: int
    seconds: float
    log: str
    error: str = ""  # why the executor could not run it (Slurm timeout, cancelled ...)


Report = Callable[[Job, JobOutcome], None]


class LocalExecutor:
    """``jobs`` job processes at a time. Threads only wait on the processes, so no pickling is involved
    and a KeyboardInterrupt or SIGTERM stops the running processes instead of orphaning them."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def _run_one(self, job: Job, options: RunOptions) -> JobOutcome:
        log = Path(options.results) / "sweep-logs" / f"{job.key}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if self._stopping.is_set():
            return JobOutcome(job.key, -1, 0.0, str(log), "sweep interrupted before the job started")
        with open(log, "w", encoding="utf-8") as handle:
            handle.write(" ".join(transfer_command(job, options)) + "\n")
            handle.flush()
            process = subprocess.Popen(transfer_command(job, options), stdout=handle, stderr=subprocess.STDOUT)
            with self._lock:
                self._running.add(process)
            try:
                code = process.wait()
            finally:
                with self._lock:
                    self._running.discard(process)
        return JobOutcome(job.key, code, time.perf_counter() - started, str(log))

    def stop(self) -> None:
        """Terminate the running job processes (SIGTERM, then SIGKILL after 10 s)."""
        self._stopping.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            process.terminate()
        deadline = time.monotonic() + 10
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()

    def run(self, jobs: Sequence[Job], options: RunOptions, report: Report) -> list[JobOutcome]:
        outcomes = []
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sweep-job")
        try:
            futures = {pool.submit(self._run_one, job, options): job for job in jobs}
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                report(futures[future], outcome)
        except BaseException:
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return outcomes


@dataclass(frozen=True)
class SlurmJobPlan:
    """What one Slurm job runs, resolved on the compute node (the master host is known only there)."""

    job: Job
    options: RunOptions
    gpus: int
    nodes: int
    torchrun: bool


def slurm_entry(plan: SlurmJobPlan) -> int:
    """Runs on the compute node (once per node): the transfer command, under torchrun when asked. Returns
    the exit code instead of raising so that a failed task reads as a failed job, not a lost one."""
    if not plan.torchrun:
        command = transfer_command(plan.job, plan.options)
    else:
        node_rank, master = 0, None
        if plan.nodes > 1:
            import submitit

            environment = submitit.JobEnvironment()
            node_rank, master = environment.node, environment.hostnames[0]
        command = torchrun_command(plan.job, plan.options, nproc=plan.gpus, nnodes=plan.nodes,
                                   node_rank=node_rank, master=master)
    print(" ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


class SlurmExecutor:
    """One submitit job per sweep job, submitted as one array (``--jobs N`` = array parallelism).

    ``cluster`` is ``"slurm"`` in use; tests pass ``"local"`` to run the same path through submitit's
    local executor. A job runs under torchrun when its task is in ``slurm.torchrun_tasks`` and it has more
    than one GPU or node; other tasks run as one process on the job's first GPU.
    """

    def __init__(self, slurm: SlurmSpec, jobs: int = 0, cluster: str = "slurm") -> None:
        self.slurm = slurm
        self.jobs = jobs
        self.cluster = cluster

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "timeout_min": self.slurm.time_min, "mem_gb": self.slurm.mem_gb, "nodes": self.slurm.nodes,
            "gpus_per_node": self.slurm.gpus_per_job, "tasks_per_node": 1, "name": "ssld-eval-sweep",
        }
        if self.slurm.cpus_per_task:
            params["cpus_per_task"] = self.slurm.cpus_per_task
        if self.cluster == "slurm":
            for key in ("partition", "account", "constraint"):
                if getattr(self.slurm, key):
                    params[f"slurm_{key}"] = getattr(self.slurm, key)
            if self.jobs:
                params["slurm_array_parallelism"] = self.jobs
        if self.cluster == "local":
            params["gpus_per_node"] = 0  # the local executor would pin CUDA_VISIBLE_DEVICES to absent GPUs
        return params

    def plan_for(self, job: Job, options: RunOptions) -> SlurmJobPlan:
        multi = self.slurm.gpus_per_job > 1 or self.slurm.nodes > 1
        return SlurmJobPlan(job, options, max(1, self.slurm.gpus_per_job), self.slurm.nodes,
                            torchrun=multi and job.task in self.slurm.torchrun_tasks)

    def run(self, jobs: Sequence[Job], options: RunOptions, report: Report) -> list[JobOutcome]:
        import submitit

        folder = Path(options.results) / "submitit"
        executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=self.cluster)
        executor.update_parameters(**self.parameters())
        started = time.perf_counter()
        with executor.batch():
            submitted = [(job, executor.submit(slurm_entry, self.plan_for(job, options))) for job in jobs]
        outcomes = []
        try:
            for job, handle in submitted:
                error, code = "", -1
                try:
                    code = int(handle.result())
                except Exception as exc:  # submitit's UncompletedJobError and the job's own failures
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                outcome = JobOutcome(job.key, code, time.perf_counter() - started, str(handle.paths.stdout), error)
                outcomes.append(outcome)
                report(job, outcome)
        except BaseException:
            for _, handle in submitted:
                handle.cancel(check=False)
            raise
        return outcomes


def install_sigterm_as_interrupt() -> None:
    """SIGTERM (a scheduler's or the user's kill) stops the running jobs like Ctrl-C does."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)

