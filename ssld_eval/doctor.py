"""``ssld-eval doctor [--json]``: is this installation able to run every task?

It imports each library, calls one compiled mmcv op (``nms``) to prove the ops were really built, and
exits non-zero naming the fix when something required is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SETUP_FIX = "run 'bash scripts/setup.sh' from the repository root"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@dataclass(frozen=True)
class DoctorReport:
    torch: str | None
    torchvision: str | None
    timm: str | None
    mmengine: str | None
    mmcv: str | None
    mmdet: str | None
    mmseg: str | None
    mmcv_ops: bool
    cuda: bool
    cuda_devices: list[str]
    cpu_threads: int
    fashion_mnist: bool
    problems: list[str] = field(default_factory=list)


def _version(module: str, problems: list[str]) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception as exc:  # ImportError, or a broken native extension
        problems.append(f"{module} cannot be imported ({type(exc).__name__}: {exc}); {SETUP_FIX}")
        return None


def _mmcv_ops_work(problems: list[str]) -> bool:
    try:
        import torch
        from mmcv.ops import nms

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
        scores = torch.tensor([0.9, 0.8, 0.7])
        _, keep = nms(boxes, scores, iou_threshold=0.5)
        if keep.tolist() != [0, 2]:
            problems.append(f"mmcv.ops.nms returned {keep.tolist()}, expected [0, 2]; rebuild mmcv: {SETUP_FIX}")
            return False
        return True
    except Exception as exc:
        problems.append(f"mmcv's compiled ops do not work ({type(exc).__name__}: {exc}); {SETUP_FIX}")
        return False


def diagnose() -> DoctorReport:
    problems: list[str] = []
    versions = {name: _version(module, problems) for name, module in (
        ("torch", "torch"), ("torchvision", "torchvision"), ("timm", "timm"), ("mmengine", "mmengine"),
        ("mmcv", "mmcv"), ("mmdet", "mmdet"), ("mmseg", "mmseg"),
    )}
    ops = versions["mmcv"] is not None and _mmcv_ops_work(problems)
    cuda, devices, threads = False, [], os.cpu_count() or 1
    if versions["torch"] is not None:
        import torch

        cuda = torch.cuda.is_available()
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
        threads = torch.get_num_threads()
    if not FASHION_MNIST.is_file():
        problems.append(f"{FASHION_MNIST} is missing: apt-get install dataset-fashion-mnist (or {SETUP_FIX})")
    return DoctorReport(**versions, mmcv_ops=ops, cuda=cuda, cuda_devices=devices, cpu_threads=threads,
                        fashion_mnist=FASHION_MNIST.is_file(), problems=problems)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    report = diagnose()
    data: dict[str, Any] = asdict(report)
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        for key, value in data.items():
            if key != "problems":
                print(f"{key:<14} {value}")
        for problem in report.problems:
            print(f"PROBLEM: {problem}")
        print("ok" if not report.problems else f"{len(report.problems)} problem(s)")
    return 1 if report.problems else 0
