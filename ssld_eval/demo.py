"""``ssld-eval demo``: the whole suite on the built-in data, end to end, in minutes on 2 CPU cores.

1. build the built-in data (real images from installed packages, real on-disk formats);
2. fine-tune the built-in teacher (EfficientNet-Lite2, real ImageNet weights) on Fashion;
3. distil a MobileNetV3-small student with every registered method, plus the supervised baseline;
4. run every registered transfer task on each student (classification on animals and digits, COCO-format
   detection and ADE20K-format segmentation with the CPU-sized ``smoke`` profile), and the tasks that score
   a backbone's own ImageNet classifier (``imagenet``, on the built-in mini val set of real photos) on the
   built-in teachers: the students' heads predict Fashion's 10 classes;
5. render the HTML comparison report.

Every step skips finished work (data sets with their completion marker, distill runs with their
``student.safetensors``, transfer runs with their complete record), so a rerun after an interruption goes on
where it stopped and a rerun of a finished demo only re-renders the report.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DISTILL_CONFIGS = REPO / "configs" / "distill"
TEACHER_RECIPE = "supervised/tf_efficientnet_lite2_teacher_builtin.yaml"
#: (display name, recipe): the students, all MobileNetV3-small-0.5 from random init at the same step budget.
#: SSLD comes before KD: its teacher cache (train + unlabeled images) serves KD's train images too.
STUDENT_RECIPES = (
    ("supervised", "supervised/mobilenetv3_small_050_builtin.yaml"),
    ("ssld", "ssld/mobilenetv3_small_050_from_lite2_builtin.yaml"),
    ("kd", "kd/mobilenetv3_small_050_from_lite2_builtin.yaml"),
    ("simreg", "simreg/mobilenetv3_small_050_from_lite2_builtin.yaml"),
    ("scalekd", "scalekd/mobilenetv3_small_050_from_lite2_builtin.yaml"),
)
#: student -> the teacher cache it shares (same teacher, crops and target kind)
TEACHER_CACHES = {"ssld": "logits", "kd": "logits", "simreg": "features"}
#: The demo's budget: the recipes' own step counts are the slow signal tests' (several seeds' worth of
#: margin); the demo trains shorter so the whole run fits 15 minutes on 2 CPU cores. Every student gets the
#: same budget, and the EMA ramps up so that none exports a share of its random init.
TEACHER_BUDGET = {"train.steps": "50", "train.warmup_steps": "5", "train.checkpoint_every": "25"}
STUDENT_BUDGET = {"train.steps": "150", "train.checkpoint_every": "50", "train.ema_warmup": "true"}
#: task -> (data sets, recipe overrides used in the demo)
TRANSFER_PLAN: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "linear-probe": (("animals", "digits"), {}),
    "knn": (("animals", "digits"), {}),
    # 60 steps: a short warm-up, a high LR and mild crops (64 px silhouettes lose their shape under the
    # default 25% crops): 46% on animals for the supervised student, against 23% with the task's defaults
    "fine-tune": (("animals", "digits"), {"steps": "60", "warmup_steps": "5", "lr": "0.1", "scale_min": "0.8"}),
    "coco-det": (("coco",), {"profile": "smoke"}),
    "ade20k-seg": (("ade20k",), {"profile": "smoke"}),
    "imagenet": (("imagenet",), {}),
}
#: tasks run on the built-in teachers (their own ImageNet-1k classifiers) instead of the students
ON_TEACHERS = frozenset({"imagenet"})
#: data set -> its --data-root under the built-in folder, where that is not the folder itself
DATA_SUBFOLDERS = {"imagenet": "imagenet"}


@dataclass(frozen=True)
class DemoPaths:
    data: Path
    work: Path
    results: Path
    report: Path
    logs: Path

    @classmethod
    def under(cls, out: Path, data: Path, work: Path | None) -> DemoPaths:
        work = work or out / "work"
        return cls(data=data, work=work, results=out / "results", report=out / "index.html", logs=out / "logs")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("reports/demo"),
                        help="report folder: index.html, results/ and work/ (default: reports/demo)")
    parser.add_argument("--data-root", "--data", dest="data", type=Path,
                        default=Path(os.environ.get("SSLD_EVAL_DATA", "data/builtin")),
                        help="where the built-in data is (built there if absent; default: data/builtin)")
    parser.add_argument("--work-dir", type=Path, help="distillation work dirs (default: OUT/work)")
    parser.add_argument("--size", choices=("tiny", "small"), default="small", help="built-in data size")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


class Progress:
    """One line per step with the elapsed time: readable in a terminal and in CI logs alike."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def step(self, message: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        print(f"[demo {self.done:>2}/{self.total} {elapsed:6.0f}s] {message}", file=sys.stderr, flush=True)


def distill_all(paths: DemoPaths, device: str, progress: Progress) -> dict[str, Path]:
    """Teacher first (the students' teacher is its run dir), then one student per method."""
    from distill import run_recipe
    from distill.registry import method_names

    teacher_dir = paths.work / "teacher_lite2"
    common = {"data.root": str(paths.data)}
    runs = [("teacher", TEACHER_RECIPE, teacher_dir, {**common, **TEACHER_BUDGET})]
    for name, recipe in STUDENT_RECIPES:
        overrides = {**common, **STUDENT_BUDGET}
        if name != "supervised":
            overrides["teacher.checkpoint"] = str(teacher_dir)
        if name in TEACHER_CACHES:
            overrides["cache.dir"] = str(paths.work / "teacher_cache" / TEACHER_CACHES[name])
        runs.append((name, recipe, paths.work / name, overrides))
    missing = sorted(set(method_names()) - {name for name, _ in STUDENT_RECIPES})
    if missing:
        raise RuntimeError(f"registered method(s) {missing} have no demo recipe in ssld_eval/demo.py")
    students: dict[str, Path] = {}
    for name, recipe, work_dir, overrides in runs:
        if (work_dir / "student.safetensors").is_file():
            progress.step(f"distill {name}: done earlier ({work_dir})")
        else:
            resume = any((work_dir / "checkpoints").glob("*.pt"))
            run_recipe(DISTILL_CONFIGS / recipe, work_dir, overrides=overrides, device=device, resume=resume,
                       progress=False)
            progress.step(f"distill {name}: {work_dir / 'student.safetensors'}")
        if name != "teacher":
            students[name] = work_dir
    return students


def demo_plan(registered: list[str]) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    """The plan entries of the registered tasks; a registered task without an entry is an error."""
    missing = sorted(set(registered) - set(TRANSFER_PLAN))
    if missing:
        raise RuntimeError(f"registered task(s) {missing} have no entry in the demo's TRANSFER_PLAN")
    return {task: entry for task, entry in TRANSFER_PLAN.items() if task in registered}


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Send one run's output (mmengine prints its whole config and a line per 10 iterations) to its own log
    file, so the terminal shows the demo's progress lines; the path is named when the run fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def teachers(data: Path) -> dict[str, Path]:
    """The built-in teachers (``ssld-eval data builtin``), by architecture."""
    from ssld_eval.data.teachers import TEACHERS

    return {t.arch: data / "teachers" / f"{t.arch}.safetensors" for t in TEACHERS}


def transfer_all(students: dict[str, Path], paths: DemoPaths, device: str, progress: Progress) -> list[str]:
    """Every registered task on every student (the :data:`ON_TEACHERS` tasks on the built-in teachers);
    returns the failed runs (they are in the report too)."""
    from ssld_eval.commands.transfer_cmd import TransferError, transfer
    from ssld_eval.tasks import task_names

    failures: list[str] = []
    for task, (datasets, overrides) in demo_plan(task_names()).items():
        backbones = teachers(paths.data) if task in ON_TEACHERS else students
        for dataset in datasets:
            for name, run_dir in backbones.items():
                label = f"{task} {dataset} {name}"
                log = paths.logs / f"{task}_{dataset}_{name}.log"
                data_root = paths.data / DATA_SUBFOLDERS.get(dataset, "")
                try:
                    with run_log(log):
                        record = transfer(str(run_dir), task, dataset, data_root=data_root,
                                          results=paths.results, cache_dir=paths.work / "features",
                                          overrides=overrides, name=name, device=device, skip_existing=True)
                except TransferError as exc:
                    failures.append(f"{label}: {exc}")
                    progress.step(f"transfer {label}: error: {exc}")
                    continue
                value = record.metrics.get(record.primary_metric)
                shown = f"{record.primary_metric} {value:.2f}" if value is not None else record.reason
                progress.step(f"transfer {label}: {record.status} {shown}")
                if record.status != "complete":
                    failures.append(f"{label}: {record.reason} (log: {log})")
    return failures


def run(args: argparse.Namespace) -> int:
    from ssld_eval.data.builtin import build_builtin
    from ssld_eval.report.render import write_report

    paths = DemoPaths.under(args.out, args.data, args.work_dir)
    from ssld_eval.tasks import task_names

    transfers = sum(len(datasets) * (len(teachers(paths.data)) if task in ON_TEACHERS else len(STUDENT_RECIPES))
                    for task, (datasets, _) in demo_plan(task_names()).items())
    progress = Progress(total=1 + 1 + len(STUDENT_RECIPES) + transfers + 1)
    build_builtin(paths.data, seed=0, size=args.size)
    progress.step(f"built-in data ({args.size}) in {paths.data}")
    students = distill_all(paths, args.device, progress)
    failures = transfer_all(students, paths, args.device, progress)
    write_report(paths.results, paths.report, baseline="supervised", title="ssld-eval demo: built-in data")
    progress.step(f"report: {paths.report}")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0
