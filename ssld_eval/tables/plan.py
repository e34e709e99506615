"""``ssld-eval tables --paper P --plan FILE.yaml``: a sweep spec of every cell reproducible from released weights.

The cells are those whose :class:`~ssld_eval.tables.catalogue.CellRecipe` is :attr:`released`: a zoo model,
a released checkpoint under ``--checkpoints``, timm's copy of a publisher's file, or a built-in teacher,
evaluated with the task, data set and ``--set`` values of the cell's printed command. Cells measured by one
run share its job (COCO's box and mask AP, SimReg's ...), so the spec has one job per distinct (weights,
task, data set); its ``include`` list names exactly those, so the backbones x tasks x data sets product of
the spec expands to them and nothing else. ``ssld-eval sweep FILE.yaml --dry-run`` lists them;
``--executor slurm`` runs them as any sweep.

Two things the spec format decides:

- **One data root.** A sweep passes one ``--data-root`` to every job, so every data set of the plan must be
  where ``transfer`` finds it under that folder (``--data-root`` of ``tables``, default ``data``): ImageNet's
  ``train/`` and ``val/`` at its top (the ``imagenet`` data set is the folder itself), COCO in ``coco/``,
  ADE20K in ``ade/ADEChallengeData2016/``, the fine-tune sets in their own folders (``flowers-102/``, ...).
  A plan that mixes ImageNet with other sets therefore hashes the other sets' files into ImageNet's data
  identity too; a per-data-set root in the sweep spec would end that (not in the spec format yet).
- **Weights at load.** The sweep names each job by its record key, which hashes the weights file; a zoo file
  not fetched yet or a checkpoint not downloaded is an error of the sweep at load (``SpecError``), not of the
  plan. The plan is written all the same, and :func:`missing_weights` lists what to fetch first (``tables
  --plan`` prints it, and the file's header repeats it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ssld_eval.tables.catalogue import recipe_for
from ssld_eval.tables.cells import CellRecipe, Weights
from ssld_eval.tables.mapping import DEFAULT_WHERE, Where, backbone_arg
from ssld_eval.tables.papers import BUILTIN, PaperCell, paper_cells


class PlanError(ValueError):
    """Two reproducible cells of one task need different ``--set`` values: one spec cannot hold both."""


@dataclass(frozen=True)
class PlannedRun:
    backbone: dict[str, Any]  # a sweep backbone entry
    task: str
    dataset: str
    cells: tuple[PaperCell, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.backbone["spec"], self.task, self.dataset


def backbone_entry(weights: Weights, where: Where = DEFAULT_WHERE) -> dict[str, Any]:
    entry: dict[str, Any] = {"spec": backbone_arg(weights, where)}
    if weights.arch:
        entry["arch"] = weights.arch
    if weights.kind == "timm":
        entry["pretrained"] = True
    entry["name"] = weights.name or (weights.spec.removeprefix("zoo:") if weights.kind == "zoo" else
                                     Path(weights.spec).stem if weights.kind == "builtin" else weights.spec)
    return entry


def reproducible(cells: Iterable[PaperCell]) -> list[tuple[PaperCell, CellRecipe]]:
    return [(cell, recipe) for cell in cells if (recipe := recipe_for(cell)).released]


def planned_runs(cells: Iterable[PaperCell], where: Where = DEFAULT_WHERE) -> list[PlannedRun]:
    """One run per distinct (weights, task, data set) of the reproducible cells, in CSV order."""
    runs: dict[tuple[str, str, str], PlannedRun] = {}
    for cell, recipe in reproducible(cells):
        assert recipe.weights is not None and recipe.run is not None
        planned = PlannedRun(backbone_entry(recipe.weights, where), recipe.run.task, recipe.run.dataset, (cell,))
        if planned.key in runs:
            old = runs[planned.key]
            planned = PlannedRun(old.backbone, old.task, old.dataset, (*old.cells, cell))
        runs[planned.key] = planned
    return list(runs.values())


def _overrides(cells: Iterable[PaperCell]) -> dict[str, dict[str, Any]]:
    """task -> {key: value} of the cells' ``--set`` values; the same for every cell of a task, or PlanError."""
    by_task: dict[str, tuple[tuple[str, str], ...]] = {}
    for cell, recipe in reproducible(cells):
        assert recipe.run is not None
        sets = tuple(sorted(recipe.run.sets))
        if by_task.setdefault(recipe.run.task, sets) != sets:
            raise PlanError(f"task {recipe.run.task}: cell {cell.cell_id} needs --set {dict(sets)}, another cell "
                            f"{dict(by_task[recipe.run.task])}; a sweep spec has one set of overrides per task")
    return {task: {k: yaml.safe_load(v) for k, v in sets} for task, sets in by_task.items() if sets}


def default_data_root(paper: str, where: Where = DEFAULT_WHERE) -> str:
    """``data`` (see the module docstring); the built-in teachers' plan runs on the built-in mini val set."""
    return f"{where.builtin.rstrip('/')}/imagenet" if paper == BUILTIN else "data"


def plan_spec(paper: str, where: Where = DEFAULT_WHERE, data_root: str | None = None) -> dict[str, Any]:
    """The sweep spec (as a mapping) of ``paper``'s reproducible cells."""
    data_root = data_root or default_data_root(paper, where)
    cells = paper_cells(paper)
    runs = planned_runs(cells, where)
    if not runs:
        raise PlanError(f"paper {paper}: no cell is reproducible from released weights")
    backbones = list({r.backbone["spec"]: r.backbone for r in runs}.values())
    tasks = list(dict.fromkeys(r.task for r in runs))
    datasets = {t: list(dict.fromkeys(r.dataset for r in runs if r.task == t)) for t in tasks}
    spec: dict[str, Any] = {"results": where.results, "data_root": data_root, "backbones": backbones,
                            "tasks": tasks, "datasets": datasets, "seeds": [0]}
    overrides = _overrides(cells)
    if overrides:
        spec["overrides"] = overrides
    spec["include"] = [{"backbone": r.backbone["spec"], "task": r.task, "dataset": r.dataset} for r in runs]
    return spec


def missing_weights(paper: str, where: Where = DEFAULT_WHERE) -> list[str]:
    """What must be on this machine before the sweep can load the plan: one line per absent weights file."""
    from ssld_eval.zoo import entry, local_path

    lines = []
    seen = set()
    for _, recipe in reproducible(paper_cells(paper)):
        weights = recipe.weights
        assert weights is not None
        if weights.spec in seen or weights.kind == "timm":  # timm's names are identities without a file
            continue
        seen.add(weights.spec)
        if weights.kind == "zoo":
            path = local_path(entry(weights.spec))
            if not path.is_file():
                lines.append(f"{weights.spec}: not fetched ({path}); 'ssld-eval transfer --backbone {weights.spec} "
                             f"...' downloads it, or put {weights.source} there")
        else:
            path = Path(backbone_arg(weights, where))
            if not path.is_file():
                lines.append(f"{path}: missing; " + (f"download {weights.source}" if weights.kind == "file" else
                                                      "run ssld-eval data builtin"))
    return lines


def plan_text(paper: str, where: Where = DEFAULT_WHERE, data_root: str | None = None) -> str:
    """The plan as the YAML file ``--plan`` writes: a header of comments, then the spec."""
    spec = plan_spec(paper, where, data_root)
    data_root = spec["data_root"]
    cells = sum(len(r.cells) for r in planned_runs(paper_cells(paper), where))
    header = [
        f"# ssld-eval tables --paper {paper} --plan: the {cells} cells of {paper} reproducible from released",
        f"# weights, in {len(spec['include'])} jobs (cells measured by one run share its job).",
        "#   ssld-eval sweep THIS_FILE --dry-run            # list the jobs",
        "#   ssld-eval sweep THIS_FILE --executor slurm     # run them (add a slurm: section, docs/sweeps.md)",
        f"#   ssld-eval tables --paper {paper} --results {where.results}   # the table with the results",
        f"# data_root ({data_root}) holds every data set where transfer finds it: ImageNet's train/ and val/ at",
        "# its top, coco/, ade/ADEChallengeData2016/ and the fine-tune sets in their own folders.",
        "# The sweep hashes every weights file at load: fetch or download them first.",
    ]
    missing = missing_weights(paper, where)
    if missing:
        header.append("# Missing on the machine that wrote this plan:")
        header += [f"#   {line}" for line in missing]
    body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=120)
    return "\n".join(header) + "\n" + body
