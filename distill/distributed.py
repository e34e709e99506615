"""Multi-process training under ``torchrun``: gloo on CPU, NCCL on CUDA; rank 0 writes every file.

Each process takes a contiguous slice of the global batch (:class:`distill.loader.StepSampler`) and DDP
averages the gradients, so a 2-process run follows the 1-process run with the same global batch up to the
summation order of the gradient all-reduce (floating-point addition is not associative). Batch-norm layers
compute their statistics per process unless ``train.sync_bn`` (CUDA only), so for BN models the two runs
differ by design; models without batch statistics (LayerNorm ViTs) match closely.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment; a plain run gets world size 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(hours=2))
    return info


def process_device(device: torch.device, info: DistInfo) -> torch.device:
    """One CUDA device per process (``cuda:LOCAL_RANK``) under torchrun."""
    if device.type == "cuda" and info.enabled:
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return device


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def any_process(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether ``flag`` holds on any process (all processes must call this)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
