"""Train built-in recipes and compare their students' Fashion test top-1 (the slow signal tests).

``train_top1`` runs one recipe of ``configs/distill`` on the built-in data for one seed and returns the
student's top-1 (percent) on ``fashion/test``. Methods added later join the comparison by adding a
:class:`Entry` (recipe + overrides) and calling :func:`compare`.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distill import run_recipe

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "distill"
TEACHER_RECIPE = CONFIGS / "supervised" / "tf_efficientnet_lite2_teacher_builtin.yaml"
SUPERVISED = "supervised/mobilenetv3_small_050_builtin.yaml"
#: the seeds of every signal comparison; ``SSLD_EVAL_SIGNAL_SEED_OFFSET=N`` reruns them on seeds N, N+1, ...
#: (how the claims' margins were checked on other seeds)
SEED_OFFSET = int(os.environ.get("SSLD_EVAL_SIGNAL_SEED_OFFSET", "0"))
SIGNAL_SEEDS = tuple(range(SEED_OFFSET, SEED_OFFSET + 8))


@dataclass(frozen=True)
class Entry:
    """One row of a comparison: a recipe (relative to configs/distill) and its extra ``--set`` overrides."""

    name: str
    recipe: str
    overrides: tuple[str, ...] = field(default_factory=tuple)


def builtin_overrides(data_root: Path, teacher: Path | None, cache_dir: Path | None) -> list[str]:
    """Point a built-in recipe at a data folder, a trained teacher run dir and a shared cache folder."""
    items = [f"data.root={data_root}"]
    if teacher is not None:
        items.append(f"teacher.checkpoint={teacher}")
    if cache_dir is not None:
        items.append(f"cache.dir={cache_dir}")
    return items


def train_teacher(data_root: Path, work_dir: Path) -> Path:
    """The built-in teacher: EfficientNet-Lite2 (ImageNet) fine-tuned with ``supervised`` on Fashion."""
    return run_recipe(TEACHER_RECIPE, work_dir, overrides=[f"data.root={data_root}"], device="cpu",
                      log=lambda _m: None)


def top1(run_dir: Path) -> float:
    return float(json.loads((run_dir / "student.json").read_text())["final_metrics"]["top1"])


def train_top1(recipe: str | Path, work_dir: Path, overrides: Iterable[str] = (), seed: int = 0) -> float:
    """Train ``recipe`` with ``train.seed=seed``; the student's top-1 on the data's test split."""
    path = recipe if Path(recipe).is_absolute() else CONFIGS / recipe
    run = run_recipe(path, work_dir, overrides=[*overrides, f"train.seed={seed}"], device="cpu",
                     log=lambda _m: None)
    return top1(run)


def compare(entries: Sequence[Entry], data_root: Path, teacher: Path | None, work_root: Path,
            seeds: Sequence[int] = SIGNAL_SEEDS) -> dict[str, list[float]]:
    """Top-1 per seed of every entry; entries run in order (put the one covering the most images first
    so that its teacher cache serves the others)."""
    cache_dir = work_root / "teacher_cache"
    results: dict[str, list[float]] = {}
    for entry in entries:
        needs_teacher = not entry.recipe.startswith("supervised/")
        base = builtin_overrides(data_root, teacher if needs_teacher else None, cache_dir if needs_teacher else None)
        results[entry.name] = [
            train_top1(entry.recipe, work_root / f"{entry.name}_seed{seed}", [*base, *entry.overrides], seed)
            for seed in seeds]
    return results


def table(results: dict[str, list[float]], teacher_top1: float | None = None) -> str:
    lines = [f"{'student':<14} {'mean top-1':>10}   per seed"]
    if teacher_top1 is not None:
        lines.append(f"{'(teacher)':<14} {teacher_top1:>10.2f}")
    for name, values in results.items():
        lines.append(f"{name:<14} {statistics.mean(values):>10.2f}   {', '.join(f'{v:.2f}' for v in values)}")
    return "\n".join(lines)

