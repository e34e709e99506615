"""How many CPU threads torch uses for a piece of work.

Two cases where one thread is faster than several, both measured on this project's 2-core machines:
- small products (under :data:`SINGLE_THREAD_BELOW` multiply-adds): thread start-up and barriers cost
  more than they save (the probe's solver on a few thousand features ran 2-4x faster);
- an oversubscribed machine (1-minute load average above the cores + 1): OpenMP threads spin at every
  barrier while their partner waits for a core; the probe's sweep, feature extraction and fine-tuning
  ran 3-6x faster on one thread there.
Results do not depend on the thread count beyond floating-point summation order. CUDA work is unaffected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

SINGLE_THREAD_BELOW = 1 << 25


def oversubscribed() -> bool:
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return False
    return load > (os.cpu_count() or 1) + 1


@contextmanager
def cpu_threads(work: int | None = None) -> Iterator[int]:
    """Run the block on one thread when ``work`` (multiply-adds per step) is small or the machine is
    oversubscribed, else on torch's current count; yields the count used."""
    before = torch.get_num_threads()
    single = before > 1 and ((work is not None and work < SINGLE_THREAD_BELOW) or oversubscribed())
    if single:
        torch.set_num_threads(1)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
