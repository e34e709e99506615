"""The run's product: ``student.safetensors`` (the student's own weights, classifier included, nothing else) and
``student.json`` (where it came from). Both are written atomically; weights are checked finite first.

``student.safetensors`` loads with ``strict=True`` into ``timm.create_model(arch, num_classes=N)``: no
distillation heads, no teacher, no ``module.``/``student.`` prefix. The provenance helpers live here because
``distill`` does not import ``ssld_eval``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from distill.checkpoint import NonFiniteError
from ssld_core.atomic import atomic_write
from ssld_core.sidecar import BackboneMeta

STUDENT_WEIGHTS = "student.safetensors"
STUDENT_META = "student.json"
def export_student(work_dir: Path, state: dict[str, torch.Tensor], meta: BackboneMeta) -> Path:
    """Write ``student.safetensors`` (contiguous fp tensors as trained) and ``student.json``."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"student weight {name} holds NaN/Inf; {STUDENT_WEIGHTS} is not written")
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    weights = work_dir / STUDENT_WEIGHTS
    atomic_write(weights, lambda p: save_file(tensors, str(p), metadata={"arch": meta.arch}))
    meta.write(work_dir / STUDENT_META)
    return weights
