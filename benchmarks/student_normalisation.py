"""Benchmark: what feeding a distilled student its own normalisation changes in detection and segmentation.

Before issue 11's fix, coco-det and ade20k-seg normalised every student with timm's ImageNet statistics
(mean 123.675, std 58.395 on the 0-255 scale), although the built-in students are trained on mean = std = 0.5
(127.5 / 127.5): inputs about twice as large as any the student saw. This runs each given student through
both smoke recipes twice in one process, with its own statistics (what ssld-eval does now) and with the
ImageNet ones (a copy of the student whose sidecar has no input description, so timm's apply, as before),
and prints one JSON line with box AP / mIoU per student and variant.

    python benchmarks/student_normalisation.py --data-root DIR RUN_DIR [RUN_DIR ...]

``DIR`` is the built-in data (``ssld-eval data builtin``); each ``RUN_DIR`` is a distill run (the demo's
students are in ``reports/demo/work/<method>``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ssld_core.sidecar import BackboneMeta
from ssld_eval.commands.transfer_cmd import transfer

TASKS = (("coco-det", "coco", "box_AP"), ("ade20k-seg", "ade20k", "mIoU"))
SMOKE = {"profile": "smoke"}


def imagenet_statistics_copy(run_dir: Path, out: Path) -> Path:
    """The same weights, with a sidecar that carries no input description (so timm's ImageNet one applies)."""
    out.mkdir(parents=True)
    shutil.copy(run_dir / "student.safetensors", out / "student.safetensors")
    meta = BackboneMeta.read(run_dir / "student.json")
    BackboneMeta(arch=meta.arch, kind=meta.kind, model_kwargs=meta.model_kwargs, num_classes=meta.num_classes,
                 method=meta.method, teachers=meta.teachers).write(out / "student.json")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="ssld-eval-norm-") as tmp:
        root = Path(tmp)
        for run_dir in args.runs:
            variants = {"own": run_dir, "imagenet_stats": imagenet_statistics_copy(run_dir, root / run_dir.name)}
            for task, dataset, metric in TASKS:
                for variant, backbone in variants.items():
                    record = transfer(str(backbone), task, dataset, data_root=args.data_root,
                                      results=root / "results", cache_dir=root / "cache", overrides=SMOKE,
                                      name=f"{run_dir.name}-{variant}")
                    normalisation = record.protocol.get("backbone", {}).get("normalisation", {})
                    results.setdefault(run_dir.name, {}).setdefault(task, {})[variant] = (
                        record.metrics.get(metric) if record.status == "complete" else None)
                    results[run_dir.name][task][f"{variant}_mean"] = (normalisation.get("mean") or [None])[0]
    print(json.dumps({"metric": {t: m for t, _, m in TASKS}, "profile": "smoke", "results": results,
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
