"""How many CPU threads torch uses for a piece of work: a function of the configuration and of the work's
size, never of what else the machine is doing.

The run's thread count is configured (``transfer --threads N``; default: torch's count, which follows
``OMP_NUM_THREADS`` or else the cores the process may use) and recorded with the result, because a
different count sums in a different order and a fine-tune that sums differently ends elsewhere. Within a
run, products under :data:`SINGLE_THREAD_BELOW` multiply-adds run on one thread: thread start-up and
barriers cost more than they save there (the probe's solver on a few thousand features ran 2-4x faster
on this project's 2-core machines). That rule depends only on the problem's size, so the same command on
the same machine sums in the same order at any load. CUDA work is unaffected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

SINGLE_THREAD_BELOW = 1 << 25


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on this platform
        return os.cpu_count() or 1


def check_threads(threads: int | None) -> None:
    """Refuse a count below 1 or above :func:`available_cores`: oversubscribed OpenMP threads spin at every
    barrier and ran small steps up to 10x slower here, which nobody asks for on purpose."""
    if threads is not None and not 1 <= threads <= available_cores():
        raise ValueError(f"threads={threads!r}: expected 1 to {available_cores()} (the cores this process may use)")


@contextmanager
def run_threads(threads: int | None) -> Iterator[int]:
    """Run the block on ``threads`` torch threads (``None``: torch's current count); yields the count."""
    check_threads(threads)
    before = torch.get_num_threads()
    count = before if threads is None else threads
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(before)


@contextmanager
def cpu_threads(work: int | None = None) -> Iterator[int]:
    """One thread when ``work`` (multiply-adds per step) is under :data:`SINGLE_THREAD_BELOW`, else the run's
    count (torch's current one); yields the count used."""
    before = torch.get_num_threads()
    if work is not None and work < SINGLE_THREAD_BELOW:
        torch.set_num_threads(1)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
