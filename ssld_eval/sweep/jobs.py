"""Expanding a spec into jobs, each named by the record key its ``ssld-eval transfer`` run will write.

The key comes from :func:`ssld_eval.records.experiment.resolve_experiment`, the same torch-free function
``transfer`` calls: the weights' identity (hashed once per backbone per sweep), the task and its protocol
version, the data's identity (computed once per data set per sweep), the typed config and the seed. Because
sweep and transfer agree on the key, the sweep knows which jobs are finished from one directory listing,
without importing torch or loading a model.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ssld_eval.config import ConfigError
from ssld_eval.data_identity import memoised_data_identity
from ssld_eval.provenance import weights_id_for_spec
from ssld_eval.records.experiment import Experiment, resolve_experiment
from ssld_eval.records.store import ResultStore
from ssld_eval.sweep.spec import BackboneEntry, SpecError, SweepSpec

#: how a job's process starts ssld-eval; tests substitute a fake transfer script here
DEFAULT_PROGRAM = (sys.executable, "-m", "ssld_eval.cli")


@dataclass(frozen=True)
class Job:
    backbone: BackboneEntry
    task: str
    dataset: str
    seed: int
    overrides: tuple[tuple[str, str], ...]
    experiment: Experiment

    @property
    def weights_id(self) -> str:
        return self.experiment.weights_id

    @property
    def key(self) -> str:
        return self.experiment.key

    @property
    def label(self) -> str:
        sets = " ".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.backbone.display} {self.task} {self.dataset} seed={self.seed}" + (f" {sets}" if sets else "")


@dataclass(frozen=True)
class RunOptions:
    """What every job of a sweep shares."""

    results: Path
    data_root: str | None = None
    device: str | None = None
    program: tuple[str, ...] = DEFAULT_PROGRAM
    torchrun_tasks: tuple[str, ...] = field(default=())


def weights_ids(backbones: Iterable[BackboneEntry], where: str = "sweep") -> dict[BackboneEntry, str]:
    """``weights_id`` per backbone, hashing each weights file once; a missing file is a :class:`SpecError`."""
    result = {}
    for entry in backbones:
        try:
            result[entry] = weights_id_for_spec(entry.spec, entry.pretrained)
        except FileNotFoundError as exc:
            raise SpecError(f"{where}: backbone {entry.spec!r}: {exc}") from exc
    return result


def _selected(values: Mapping[str, tuple[str, ...]], filters: Iterable[Mapping[str, tuple[str, ...]]]) -> bool:
    """Whether some filter entry matches: each key it names has one of the job's values among its allowed."""
    return any(all(any(v in allowed for v in values[k]) for k, allowed in f.items()) for f in filters)


def expand(spec: SweepSpec, ids: Mapping[BackboneEntry, str] | None = None) -> list[Job]:
    """The product backbones x tasks x (the task's) data sets x seeds, in spec order, after ``include`` (keep
    only jobs matching some entry, when given) and ``exclude`` (drop jobs matching any entry). A filter entry
    matches when every key it names matches; ``backbone`` compares with the display name or the spec."""
    ids = dict(ids) if ids is not None else weights_ids(spec.backbones, spec.source)
    identity = memoised_data_identity()
    jobs = []
    for entry, task in itertools.product(spec.backbones, spec.tasks):
        overrides = tuple(spec.overrides.get(task, ()))
        for dataset, seed in itertools.product(spec.datasets[task], spec.seeds):
            values = {"backbone": (entry.display, entry.spec), "task": (task,), "dataset": (dataset,),
                      "seed": (str(seed),)}
            if (spec.include and not _selected(values, spec.include)) or _selected(values, spec.exclude):
                continue
            try:
                experiment, _ = resolve_experiment(ids[entry], task, dataset, spec.data_root, dict(overrides), seed,
                                                   identity=identity)
            except KeyError as exc:  # an unknown task or data set
                raise SpecError(f"{spec.source}: {exc.args[0]}") from exc
            except ConfigError as exc:
                raise SpecError(f"{spec.source}: {exc}") from exc
            jobs.append(Job(entry, task, dataset, seed, overrides, experiment))
    _refuse_shared_keys(jobs, spec.source)
    return jobs


def _refuse_shared_keys(jobs: list[Job], where: str) -> None:
    """Two backbones with the same weights identity (the same file listed twice, or the same timm name twice)
    would write one record: the second would be skipped as done."""
    seen: dict[str, Job] = {}
    for job in jobs:
        other = seen.setdefault(job.key, job)
        if other is not job:
            raise SpecError(f"{where}: backbones {other.backbone.spec!r} and {job.backbone.spec!r} have the same "
                            f"weights identity {job.weights_id!r}, so their runs share record keys "
                            f"(e.g. {job.label}); list the weights once")


@dataclass(frozen=True)
class Plan:
    to_run: tuple[Job, ...]
    complete: tuple[Job, ...]  # a complete record exists: skipped


def plan(jobs: list[Job], store: ResultStore) -> Plan:
    """Split ``jobs`` by whether a complete record exists. One listing of the store; only files whose key
    is a job's are read (a failed or invalid record means the job runs again)."""
    present = store.keys()
    done = {job.key for job in jobs if job.key in present and store.has_complete(job.key)}
    return Plan(tuple(j for j in jobs if j.key not in done), tuple(j for j in jobs if j.key in done))


def transfer_args(job: Job, options: RunOptions) -> list[str]:
    """The ``transfer`` sub-command and its flags for ``job`` (what follows the program)."""
    args = ["transfer", "--backbone", job.backbone.spec]
    if job.backbone.arch:
        args += ["--arch", job.backbone.arch]
    if job.backbone.pretrained:
        args.append("--pretrained")
    if job.backbone.name:
        args += ["--name", job.backbone.name]
    args += ["--task", job.task, "--dataset", job.dataset, "--seed", str(job.seed), "--results",
             str(options.results), "--skip-existing"]
    for key, value in job.overrides:
        args += ["--set", f"{key}={value}"]
    if options.data_root:
        args += ["--data-root", options.data_root]
    if options.device:
        args += ["--device", options.device]
    return args


def transfer_command(job: Job, options: RunOptions) -> list[str]:
    """``python -m ssld_eval.cli transfer ...``: one process, one device."""
    return [*options.program, *transfer_args(job, options)]


def torchrun_command(job: Job, options: RunOptions, nproc: int, nnodes: int = 1, node_rank: int = 0,
                     master: str | None = None, port: int = 29500) -> list[str]:
    """``python -m torch.distributed.run --nproc_per_node G [--nnodes N ...] -m ssld_eval.cli transfer ...
    --launcher pytorch``: the multi-GPU (and multi-node) form for detection and segmentation tasks."""
    python, *entry = options.program
    command = [python, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    if nnodes > 1:
        if master is None:
            raise ValueError("a multi-node torchrun needs the master host")
        command += ["--nnodes", str(nnodes), "--node_rank", str(node_rank), "--master_addr", master,
                    "--master_port", str(port)]
    return [*command, *entry, *transfer_args(job, options), "--launcher", "pytorch"]
