"""Which ssld-eval record reproduces a published cell, and the command that would make one. Torch-free.

Each cell's weights, task, data set and recipe come from :func:`ssld_eval.tables.catalogue.recipe_for`. A
complete record matches a cell in one of three ways, tried in this order:

1. **Explicitly**: its ``protocol`` or ``config`` holds ``paper_cell = "paper|table|model|setting|metric"``
   (see :attr:`PaperCell.cell_id`). Any cell can be claimed this way.
2. **By the weights' identity**: where this machine can tell what the cell's weights are, the record must have
   that ``weights_id``, the cell's task and data set, and every ``--set`` value of the cell's command in its
   resolved config. The identity of a zoo model is its file's sha256 (the published one, the one recorded at
   its first download, or the cached file's); of timm's weights ``timm-pretrained:<name>``; of a downloaded
   checkpoint, a built-in teacher or a distill work dir, its file's sha256 (:func:`weights_identity`).
3. **By method**, only for cells trained here whose work dir is not on this machine, and only for settings
   that name one method (:data:`SETTING_METHODS`): the record's task, data set and config as in 2, its
   student architecture, its distillation method (from ``student.json``) and a fragment of its teacher.

A released model whose file is not here (a zoo entry not yet fetched, a checkpoint not downloaded) matches
only explicitly: matching it by a name or an architecture would put a number beside a cell it may not
reproduce (timm's ResNet-50-D is not PaddleClas's).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ssld_eval.records.frame import paper_cell_of
from ssld_eval.records.schema import ResultRecord
from ssld_eval.tables.catalogue import recipe_for
from ssld_eval.tables.cells import CellRecipe, Run, Training, Weights
from ssld_eval.tables.papers import PaperCell

#: settings that name one distillation method (the others, e.g. ablation steps, share a method and a student)
SETTING_METHODS = frozenset({"baseline", "ssld", "scalekd", "scalekd_swin-l", "scalekd_beit-l"})


@dataclass(frozen=True)
class Where:
    """Where this machine keeps what the commands name: results, downloaded checkpoints, the built-in folder."""

    results: str = "results"
    checkpoints: str = "checkpoints"
    builtin: str = "data/builtin"


DEFAULT_WHERE = Where()


def backbone_arg(weights: Weights, where: Where = DEFAULT_WHERE) -> str:
    """The ``--backbone`` value of ``weights`` on this machine."""
    if weights.kind == "file":
        return f"{where.checkpoints.rstrip('/')}/{weights.spec}"
    if weights.kind == "builtin":
        return f"{where.builtin.rstrip('/')}/{weights.spec}"
    return weights.spec


def data_root_arg(run: Run, where: Where = DEFAULT_WHERE) -> str:
    return run.data_root.replace("{builtin}", where.builtin.rstrip("/"))


@cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    from ssld_core.provenance import sha256_file

    return sha256_file(Path(path))


def _file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def weights_identity(weights: Weights, where: Where = DEFAULT_WHERE) -> str | None:
    """The ``weights_id`` a record of ``weights`` carries, or ``None`` when this machine cannot tell (a zoo file
    without a published sha256 not fetched yet, a checkpoint not downloaded, a work dir not trained)."""
    if weights.kind == "timm":
        return f"timm-pretrained:{weights.spec}"
    if weights.kind == "zoo":
        from ssld_eval.zoo import entry, local_path

        item = entry(weights.spec)
        path = local_path(item)
        recorded = path.with_name(path.name + ".sha256")
        if path.is_file():
            if recorded.is_file():
                return recorded.read_text().strip()
            return _file_sha256(path)
        return item.sha256
    path = Path(backbone_arg(weights, where)).expanduser()
    if path.is_dir():
        path = path / "student.safetensors"
    return _file_sha256(path)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return str(value)


def _config_holds(record: ResultRecord, sets: tuple[tuple[str, str], ...]) -> bool:
    """Whether the record's resolved config has every ``--set key=value`` (values compared as parsed YAML)."""
    return all(_plain(record.config.get(key)) == _plain(yaml.safe_load(text)) for key, text in sets)


def _same_run(record: ResultRecord, run: Run) -> bool:
    return record.task == run.task and record.dataset == run.dataset and _config_holds(record, run.sets)


def _method_matches(record: ResultRecord, cell: PaperCell, training: Training) -> bool:
    if cell.setting not in SETTING_METHODS or record.arch != training.arch:
        return False
    if record.weights_id.startswith(("random-init", "timm-pretrained")):
        return False  # not a student ssld-eval trained
    return record.method == training.method and training.teacher in record.teacher.lower()


@dataclass(frozen=True)
class Match:
    value: float
    interval: tuple[float, float] | None  # the record's 95% interval of the metric, when it has one
    how: str  # "claimed", "identity" or "method"
    samples: int | None = None  # test samples the record was measured on, when it says


def _samples(record: ResultRecord) -> int | None:
    for value in (record.outcomes.get("samples"), record.protocol.get("n_test")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def match(cell: PaperCell, record: ResultRecord, where: Where = DEFAULT_WHERE,
          recipe: CellRecipe | None = None) -> Match | None:
    """How ``record`` reproduces ``cell``, or ``None`` (see the module docstring)."""
    if record.status != "complete":
        return None
    recipe = recipe if recipe is not None else recipe_for(cell)
    metric = recipe.run.metric if recipe.run else ""
    explicit = paper_cell_of(record)
    if explicit:
        if explicit != cell.cell_id:
            return None
        name = next((n for n in (cell.metric, metric) if n in record.metrics), record.primary_metric)
        value = record.metrics.get(name, record.primary_value)
        return None if value is None else Match(value, _interval(record, name), "claimed", _samples(record))
    if not recipe.runnable or recipe.run is None or recipe.weights is None:
        return None
    if not _same_run(record, recipe.run) or metric not in record.metrics:
        return None
    identity = weights_identity(recipe.weights, where)
    if identity is not None:
        how = "identity" if record.weights_id == identity else ""
    elif recipe.training is not None and _method_matches(record, cell, recipe.training):
        how = "method"
    else:
        how = ""
    return Match(record.metrics[metric], _interval(record, metric), how, _samples(record)) if how else None


def matches(cell: PaperCell, record: ResultRecord, where: Where = DEFAULT_WHERE) -> float | None:
    """The record's value for ``cell`` when it reproduces it, else ``None``."""
    found = match(cell, record, where)
    return found.value if found else None


def _interval(record: ResultRecord, metric: str) -> tuple[float, float] | None:
    pair = record.ci95.get(metric)
    return (float(pair[0]), float(pair[1])) if pair else None


def transfer_argv(weights: Weights, run: Run, where: Where = DEFAULT_WHERE) -> list[str]:
    argv = ["ssld-eval", "transfer", "--backbone", backbone_arg(weights, where)]
    if weights.arch:
        argv += ["--arch", weights.arch]
    if weights.kind == "timm":
        argv.append("--pretrained")
    if weights.name and weights.kind != "trained":
        argv += ["--name", weights.name]
    argv += ["--task", run.task, "--dataset", run.dataset, "--data-root", data_root_arg(run, where)]
    for key, value in run.sets:
        argv += ["--set", f"{key}={value}"]
    return [*argv, "--results", where.results]


def distill_argv(training: Training) -> list[str]:
    argv = ["ssld-eval", "distill", "--config", training.config]
    for key, value in training.sets:
        argv += ["--set", f"{key}={value}"]
    return [*argv, "--set", "data.root=IMAGENET", "--work-dir", training.work_dir]


def command_for(cell: PaperCell, where: Where = DEFAULT_WHERE, recipe: CellRecipe | None = None) -> str | None:
    """The shell command that would produce ``cell``'s record, or ``None`` (the note says why)."""
    recipe = recipe if recipe is not None else recipe_for(cell)
    if not recipe.runnable or recipe.weights is None or recipe.run is None:
        return None
    transfer = shlex.join(transfer_argv(recipe.weights, recipe.run, where))
    if recipe.training is None:
        return transfer
    return f"{shlex.join(distill_argv(recipe.training))} && {transfer}"


def default_where(results: str | os.PathLike[str] = "results", checkpoints: str | os.PathLike[str] = "checkpoints",
                  builtin: str | os.PathLike[str] | None = None) -> Where:
    from ssld_eval.data_identity import builtin_root

    return Where(str(results), str(checkpoints), str(builtin if builtin is not None else builtin_root()))
