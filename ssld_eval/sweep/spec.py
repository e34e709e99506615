"""The sweep spec (YAML), validated strictly: an unknown key is an error naming the key and the file.

A typo such as ``seed:`` for ``seeds:`` or ``overides:`` would otherwise silently run a different grid,
and a sweep is hours of cluster time. Paths in the spec (backbones, ``results``, ``data_root``) are used as
written, relative to the directory the sweep is started from, exactly as ``ssld-eval transfer`` reads them.

Example::

    results: results/flowers
    backbones:
      - resnet18                                  # a timm name: random init
      - {spec: resnet50d, pretrained: true, name: supervised-r50d}
      - {spec: runs/ssld-r50d, name: ssld-r50d}   # a distill run dir (student.safetensors)
      - {spec: ckpt/moco.pth, arch: resnet50}
    tasks: [linear-probe, knn, coco-det]
    datasets:                                     # a list for every task, or per task
      linear-probe: [flowers102, dtd]
      knn: [flowers102, dtd]
      coco-det: [coco]
    seeds: [0, 1, 2]
    overrides: {linear-probe: {max_iter: 500}}    # task -> --set key=value
    exclude: [{backbone: resnet18, task: knn}]
    slurm: {partition: gpu, gpus_per_job: 4, time_min: 720, mem_gb: 64, nodes: 1}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ssld_eval.config import ConfigError, build_config
from ssld_eval.data_identity import DATA_FOLDERS
from ssld_eval.tasks.configs import TASK_CONFIGS

TOP_KEYS = ("backbones", "tasks", "datasets", "seeds", "overrides", "include", "exclude", "slurm", "results",
            "data_root", "device")
BACKBONE_KEYS = ("spec", "arch", "name", "pretrained")
SLURM_KEYS = ("partition", "gpus_per_job", "time_min", "mem_gb", "nodes", "cpus_per_task", "torchrun_tasks",
              "account", "constraint")
FILTER_KEYS = ("backbone", "task", "dataset", "seed")
TORCHRUN_TASKS = ("coco-det", "ade20k-seg")  # tasks whose transfer run takes --launcher pytorch


class SpecError(ValueError):
    """A sweep spec that does not validate; the message names the file and the key."""


@dataclass(frozen=True)
class BackboneEntry:
    spec: str  # as accepted by ``ssld-eval transfer --backbone``
    arch: str | None = None
    name: str | None = None  # display name in the report (``--name``)
    pretrained: bool = False  # timm's pretrained weights (``--pretrained``)

    @property
    def display(self) -> str:
        """The name the report will show: ``name``, else what ``transfer`` derives from the spec."""
        if self.name:
            return self.name
        path = Path(self.spec)
        if path.name == "student.safetensors":
            return path.parent.name
        return path.stem if path.suffix else path.name or self.spec


@dataclass(frozen=True)
class SlurmSpec:
    partition: str | None = None
    gpus_per_job: int = 1
    time_min: int = 60
    mem_gb: int = 32
    nodes: int = 1
    cpus_per_task: int | None = None
    torchrun_tasks: tuple[str, ...] = TORCHRUN_TASKS  # run under torchrun when gpus_per_job * nodes > 1
    account: str | None = None
    constraint: str | None = None


@dataclass(frozen=True)
class SweepSpec:
    source: str
    backbones: tuple[BackboneEntry, ...]
    tasks: tuple[str, ...]
    datasets: Mapping[str, tuple[str, ...]]  # task -> data sets
    seeds: tuple[int, ...]
    overrides: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # task -> sorted --set
    include: tuple[Mapping[str, tuple[str, ...]], ...] = ()
    exclude: tuple[Mapping[str, tuple[str, ...]], ...] = ()
    results: str | None = None
    data_root: str | None = None
    device: str | None = None
    slurm: SlurmSpec | None = None


def override_text(value: Any, where: str) -> str:
    """A YAML value as the string ``--set key=VALUE`` passes; the record key hashes this very string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (int, float, str, bool)) for v in value):
        return json.dumps(value)
    raise SpecError(f"{where}: {value!r} is not a scalar or a list of scalars")


def _unknown(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")


def _strings(value: Any, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{where}: expected a list of names, found {value!r}")
    if not value and not allow_empty:
        raise SpecError(f"{where}: must not be empty")
    if len(set(value)) != len(value):
        raise SpecError(f"{where}: lists a name twice")
    return tuple(value)


def _backbone(item: Any, where: str) -> BackboneEntry:
    if isinstance(item, str) and item:
        return BackboneEntry(spec=item)
    if not isinstance(item, dict):
        raise SpecError(f"{where}: expected a backbone spec string or a mapping with 'spec'")
    _unknown(item, BACKBONE_KEYS, where)
    if not isinstance(item.get("spec"), str) or not item["spec"]:
        raise SpecError(f"{where}: key 'spec' (the --backbone value) is required")
    for key in ("arch", "name"):
        if key in item and not isinstance(item[key], str):
            raise SpecError(f"{where}: key {key!r} must be a string")
    if not isinstance(item.get("pretrained", False), bool):
        raise SpecError(f"{where}: key 'pretrained' must be true or false")
    return BackboneEntry(spec=item["spec"], arch=item.get("arch"), name=item.get("name"),
                         pretrained=item.get("pretrained", False))


def _slurm(data: Any, where: str) -> SlurmSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping")
    _unknown(data, SLURM_KEYS, where)
    for key in ("gpus_per_job", "time_min", "mem_gb", "nodes", "cpus_per_task"):
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 0):
            raise SpecError(f"{where}: key {key!r} must be a non-negative integer")
    values = dict(data)
    if "torchrun_tasks" in values:
        values["torchrun_tasks"] = _strings(values["torchrun_tasks"], f"{where}.torchrun_tasks", allow_empty=True)
    for key in ("partition", "account", "constraint"):
        if key in values and not isinstance(values[key], str):
            raise SpecError(f"{where}: key {key!r} must be a string")
    return SlurmSpec(**values)


def _filters(data: Any, where: str) -> tuple[Mapping[str, tuple[str, ...]], ...]:
    if not isinstance(data, list):
        raise SpecError(f"{where}: expected a list of {{backbone, task, dataset, seed}} mappings")
    result = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not item:
            raise SpecError(f"{where}[{i}]: expected a non-empty mapping")
        _unknown(item, FILTER_KEYS, f"{where}[{i}]")
        result.append({k: tuple(str(v) for v in (item[k] if isinstance(item[k], list) else [item[k]]))
                       for k in item})
    return tuple(result)


def parse_spec(data: Any, source: str) -> SweepSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a sweep spec is a YAML mapping")
    _unknown(data, TOP_KEYS, source)
    for key in ("backbones", "tasks", "datasets", "seeds"):
        if key not in data:
            raise SpecError(f"{source}: key {key!r} is required")
    if not isinstance(data["backbones"], list) or not data["backbones"]:
        raise SpecError(f"{source}: 'backbones' must be a non-empty list")
    backbones = tuple(_backbone(b, f"{source}: backbones[{i}]") for i, b in enumerate(data["backbones"]))
    displays = [b.display for b in backbones]
    if len(set(displays)) != len(displays):
        raise SpecError(f"{source}: backbones: two entries share the display name "
                        f"{next(d for d in displays if displays.count(d) > 1)!r}; give one a 'name'")
    tasks = _strings(data["tasks"], f"{source}: tasks")
    unknown_tasks = [t for t in tasks if t not in TASK_CONFIGS]
    if unknown_tasks:
        raise SpecError(f"{source}: tasks: unknown task(s) {unknown_tasks}; known: {sorted(TASK_CONFIGS)}")
    raw = data["datasets"]
    if isinstance(raw, dict):
        _unknown(raw, tasks, f"{source}: datasets")
        missing = [t for t in tasks if t not in raw]
        if missing:
            raise SpecError(f"{source}: datasets: no data sets for task(s) {missing}")
        datasets = {t: _strings(raw[t], f"{source}: datasets.{t}") for t in tasks}
    else:
        shared = _strings(raw, f"{source}: datasets")
        datasets = dict.fromkeys(tasks, shared)
    unknown_sets = sorted({d for names in datasets.values() for d in names} - set(DATA_FOLDERS))
    if unknown_sets:
        raise SpecError(f"{source}: datasets: unknown data set(s) {unknown_sets}; known: {sorted(DATA_FOLDERS)}")
    seeds = data["seeds"] if isinstance(data["seeds"], list) else [data["seeds"]]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) < len(
            seeds):
        raise SpecError(f"{source}: seeds: expected a non-empty list of distinct integers, found {data['seeds']!r}")
    overrides: dict[str, tuple[tuple[str, str], ...]] = {}
    raw_overrides = data.get("overrides") or {}
    if not isinstance(raw_overrides, dict):
        raise SpecError(f"{source}: overrides: expected a mapping task -> {{key: value}}")
    _unknown(raw_overrides, tasks, f"{source}: overrides")
    for task, values in raw_overrides.items():
        if not isinstance(values, dict):
            raise SpecError(f"{source}: overrides.{task}: expected a mapping key -> value")
        overrides[task] = tuple(sorted((str(k), override_text(v, f"{source}: overrides.{task}.{k}"))
                                       for k, v in values.items()))
        try:  # the task's own typed config: a misspelled key or a wrong type fails here, not in every job
            build_config(TASK_CONFIGS[task], dict(overrides[task]), where=f"{source}: overrides.{task}")
        except ConfigError as exc:
            raise SpecError(str(exc)) from exc
    for key in ("results", "data_root", "device"):
        if key in data and not isinstance(data[key], str):
            raise SpecError(f"{source}: key {key!r} must be a string")
    return SweepSpec(
        source=source, backbones=backbones, tasks=tasks, datasets=datasets, seeds=tuple(seeds), overrides=overrides,
        include=_filters(data.get("include", []), f"{source}: include"),
        exclude=_filters(data.get("exclude", []), f"{source}: exclude"),
        results=data.get("results"), data_root=data.get("data_root"), device=data.get("device"),
        slurm=_slurm(data["slurm"], f"{source}: slurm") if "slurm" in data else None,
    )


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the sweep spec ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML ({exc})") from exc
    return parse_spec(data, str(path))
