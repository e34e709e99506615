"""Train built-in recipes and compare their students' Fashion test top-1 (the slow signal tests).

``train_top1`` runs one recipe of ``configs/distill`` on the built-in data for one seed and returns the
student's top-1 (percent) on ``fashion/test``. Methods added later join the comparison by adding a
:class:`Entry` (recipe + overrides) and calling :func:`compare`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scipy import stats

from distill import run_recipe

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "distill"
TEACHER_RECIPE = CONFIGS / "supervised" / "tf_efficientnet_lite2_teacher_builtin.yaml"


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


def compare(entries: Sequence[Entry], data_root: Path, teacher: Path, work_root: Path,
            seeds: Sequence[int] = (0, 1)) -> dict[str, list[float]]:
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


@dataclass(frozen=True)
class PairedClaim:
    """The claim "``better`` beats ``baseline``": a one-sided paired t-test over per-seed differences (seed
    ``s`` of both shares its initialisation and data order, so the pair removes what the seed decides alike
    for both)."""

    better: str
    baseline: str
    differences: tuple[float, ...]
    lower_bound: float  # one-sided lower confidence bound of the mean difference, points
    p_value: float
    confidence: float

    @property
    def holds(self) -> bool:
        return self.lower_bound > 0

    def __str__(self) -> str:
        mean = statistics.mean(self.differences)
        return (f"{self.better} - {self.baseline}: mean {mean:+.2f} points over {len(self.differences)} seeds "
                f"({', '.join(f'{d:+.2f}' for d in self.differences)}), {self.confidence:.0%} lower bound "
                f"{self.lower_bound:+.2f}, one-sided p = {self.p_value:.4f}")


def paired_claim(results: dict[str, list[float]], better: str, baseline: str,
                 confidence: float = 0.95) -> PairedClaim:
    differences = [a - b for a, b in zip(results[better], results[baseline], strict=True)]
    test = stats.ttest_1samp(differences, 0.0, alternative="greater")
    low = float(test.confidence_interval(confidence).low)
    return PairedClaim(better, baseline, tuple(differences), low, float(test.pvalue), confidence)
