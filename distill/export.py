"""The run's product: ``student.safetensors`` (the student's own weights, classifier included, nothing else) and
``student.json`` (where it came from). Both are written atomically; weights are checked finite first.

``student.safetensors`` loads with ``strict=True`` into ``timm.create_model(arch, num_classes=N)``: no
distillation heads, no teacher, no ``module.``/``student.`` prefix. The provenance helpers live here because
``distill`` does not import ``ssld_eval``.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from distill.checkpoint import NonFiniteError
from ssld_core.atomic import atomic_write, atomic_write_text

STUDENT_WEIGHTS = "student.safetensors"
STUDENT_META = "student.json"
TRACKED_LIBRARIES = ("torch", "torchvision", "timm", "numpy", "safetensors", "pillow")


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit of the checkout holding this package, ``-dirty`` with uncommitted changes, else unknown."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def library_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def export_student(work_dir: Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``student.safetensors`` (contiguous fp tensors as trained) and ``student.json``."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"student weight {name} holds NaN/Inf; {STUDENT_WEIGHTS} is not written")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    weights = work_dir / STUDENT_WEIGHTS
    atomic_write(weights, lambda p: save_file(tensors, str(p), metadata={"arch": str(meta.get("arch"))}))
    atomic_write_text(work_dir / STUDENT_META, json.dumps(meta, indent=2, default=str) + "\n")
    return weights
