"""Multi-process training under ``torchrun`` that also works on CPU.

mmengine 0.10.7's ``pytorch`` launcher calls ``torch.cuda.set_device`` before ``init_process_group`` and
its runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on a machine without CUDA.
So the suite initialises the process group itself (NCCL on CUDA, gloo on CPU) before building the runner:
mmengine's runner sees an initialised group and skips its own ``init_dist`` while still treating the run
as distributed (``launcher='pytorch'``), and on CPU the DDP wrapper gets ``device_ids=None``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    distributed: bool
    backend: str  # "" when not distributed
    rank: int
    world_size: int
    local_rank: int


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise RuntimeError(f"--launcher pytorch: environment variable {name} is unset; start the run with torchrun")
    return int(value)


def init_distributed(launcher: str, device: torch.device) -> DistInfo:
    """Set up torch.distributed for ``launcher`` ('none' or 'pytorch') on ``device``'s type."""
    if launcher == "none":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise RuntimeError(
                "WORLD_SIZE > 1 but --launcher none: every process would train its own model; "
                "pass --launcher pytorch under torchrun"
            )
        return DistInfo(False, "", 0, 1, 0)
    if launcher != "pytorch":
        raise ValueError(f"launcher {launcher!r}: expected 'none' or 'pytorch'")
    rank, world_size, local_rank = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(True, dist.get_backend(), dist.get_rank(), dist.get_world_size(), local_rank)


def runner_settings(info: DistInfo, device: torch.device) -> dict[str, Any]:
    """Top-level config keys that make mmengine's runner use the group set up by :func:`init_distributed`."""
    if not info.distributed:
        return {"launcher": "none"}
    settings: dict[str, Any] = {"launcher": "pytorch", "env_cfg": {"dist_cfg": {"backend": info.backend}}}
    if device.type != "cuda":
        settings["model_wrapper_cfg"] = {
            "type": "MMDistributedDataParallel", "device_ids": None, "broadcast_buffers": False,
        }
    return settings
