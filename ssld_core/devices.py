"""``--device auto|cpu|cuda[:N]`` for every command that computes (distill and transfer alike).

CPU runs in fp32 with channels_last (this project's CPUs have no bf16 units: bf16 autocast measured 6-34x
slower than fp32); bf16 autocast is used only on CUDA.
"""

from __future__ import annotations

import contextlib
import re

import torch

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a ``--device`` value into a :class:`torch.device`, failing clearly on a bad or absent one."""
    if not _DEVICE_PATTERN.match(spec):
        raise ValueError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
    return device


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on CUDA; a no-op on CPU, where fp32 is faster."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
