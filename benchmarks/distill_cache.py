"""Teacher-output cache vs running the teacher online vs training the student alone, side by side.

Three runs of the same student, data, batch and steps in one process: ``student_only`` (supervised, no
teacher), ``online`` (KD, the teacher runs every step) and ``cached`` (KD replaying the teacher-output
cache, built once beforehand and timed separately as ``cache_build_s``). Times are the training steps only,
from the runs' own per-step logs (first step excluded: it pays one-off allocation), the best of
``--repeats``. Prints one JSON line.

    python benchmarks/distill_cache.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode

from distill import run_recipe
from distill.recipe import recipe_from_dict


def make_data(root: Path, images: int, classes: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / "train" / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")


def forward_flops(arch: str, classes: int, size: int) -> int:
    model = timm.create_model(arch, num_classes=classes).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops()


def step_seconds(run_dir: Path) -> float:
    """Seconds of the logged steps after the first (log_every = 1)."""
    times = [json.loads(line)["time"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return times[-1] - times[0]


def recipe(method: str, args: argparse.Namespace, root: Path, cache: bool) -> Any:
    raw: dict[str, Any] = {
        "method": {"name": method} if method == "supervised" else {"name": method, "topk": 10},
        "student": {"arch": args.student},
        "data": {"root": str(root), "train": "train", "image_size": args.size, "scale": [0.35, 1.0],
                 "preload": True},
        "train": {"steps": args.steps, "batch_size": args.batch, "opt": "sgd", "lr": 0.01, "log_every": 1,
                  "checkpoint_every": args.steps, "num_workers": args.workers},
    }
    if method != "supervised":
        raw["teacher"] = {"arch": args.teacher, "checkpoint": str(root / "teacher.safetensors")}
        raw["cache"] = {"enabled": cache, "views": args.views, "dir": str(root / "cache")}
    return recipe_from_dict(raw, source="benchmarks/distill_cache.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="resnet50")
    parser.add_argument("--student", default="resnet10t")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    classes = 10
    with tempfile.TemporaryDirectory(prefix="distill_cache_bench_") as tmp:
        root = Path(tmp)
        make_data(root, args.images, classes, args.size)
        torch.manual_seed(0)
        teacher = timm.create_model(args.teacher, num_classes=classes)
        save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, root / "teacher.safetensors")
        timings: dict[str, list[float]] = {"student_only": [], "online": [], "cached": []}
        build_s = bytes_per_image = None
        for repeat in range(args.repeats):
            for name, method, cache in (("student_only", "supervised", False), ("online", "kd", False),
                                        ("cached", "kd", True)):
                run = run_recipe(recipe(method, args, root, cache), root / f"{name}_{repeat}", device="cpu",
                                 progress=False, log=lambda _m: None)
                timings[name].append(step_seconds(run))
                if cache and build_s is None:
                    manifest = json.loads((root / "cache" / "manifest.json").read_text())
                    build_s, bytes_per_image = manifest["build_seconds"], manifest["bytes_per_image"]
    best = {name: min(values) for name, values in timings.items()}
    result = {
        "benchmark": "distill_cache", "teacher": args.teacher, "student": args.student,
        "teacher_student_flops_ratio": round(forward_flops(args.teacher, classes, args.size)
                                             / forward_flops(args.student, classes, args.size), 2),
        "image_size": args.size, "batch": args.batch, "timed_steps": args.steps - 1, "images": args.images,
        "views": args.views, "threads": torch.get_num_threads(), "repeats": args.repeats,
        "online_s": round(best["online"], 3), "cached_s": round(best["cached"], 3),
        "student_only_s": round(best["student_only"], 3),
        "ratio_cached_vs_student_only": round(best["cached"] / best["student_only"], 3),
        "speedup_vs_online": round(best["online"] / best["cached"], 3),
        "bytes_per_image": round(bytes_per_image, 1), "cache_build_s": build_s,
        "spread_s": {name: round(statistics.pstdev(values), 3) for name, values in timings.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
