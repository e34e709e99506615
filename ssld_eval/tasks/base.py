"""The contract between ``ssld-eval transfer`` and a task.

The command resolves the backbone (strictly, with its key audit), the device and the task's config, then
calls :meth:`Task.run`; the task returns a :class:`TaskResult` and the command turns it into the result
record. A task that cannot produce a real number (a detector that predicts nothing, a diverged run)
returns ``status="failed"`` with the reason, never a zero passed off as a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ssld_eval.backbones import LoadedBackbone
from ssld_eval.tasks.configs import TaskConfig


@dataclass
class TaskContext:
    backbone: LoadedBackbone
    dataset: str
    data_root: Path | None  # None: the built-in data under the default builtin folder
    seed: int
    device: torch.device
    work_dir: Path  # this run's scratch folder (logs, mm work dirs)
    cache_dir: Path  # shared across runs: feature caches keyed by weights, data manifest and transform
    launcher: str = "none"  # "none" or "pytorch" (under torchrun)


@dataclass(frozen=True)
class TaskResult:
    metrics: dict[str, float]  # in percent, as the papers print them
    primary_metric: str
    protocol: dict[str, Any] = field(default_factory=dict)  # chosen L2, k, epochs, schedule, batch ...
    bad_images: tuple[str, ...] = ()
    status: str = "complete"
    reason: str = ""
    # per test sample, what re-accumulates the metrics (sample ids, labels, predictions ...): written beside
    # the record and behind its intervals (ssld_eval.records.outcomes); empty when the task keeps none
    outcomes: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def failed(cls, primary_metric: str, reason: str, *, protocol: dict[str, Any] | None = None,
               bad_images: tuple[str, ...] = ()) -> TaskResult:
        """No metrics, ``status="failed"`` and why: the record says the run produced no number."""
        return cls(metrics={}, primary_metric=primary_metric, protocol=dict(protocol or {}), bad_images=bad_images,
                   status="failed", reason=reason)


class Task:
    """Base class: subclasses set ``Config``, ``kind`` and ``metric_directions`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    #: metric name -> "higher" or "lower" is better; must be the task's entry of the torch-free
    #: :data:`ssld_eval.tasks.directions.METRIC_DIRECTIONS` (checked by ``register_task``), which the report reads
    metric_directions: ClassVar[Mapping[str, str]] = {}
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    kind: ClassVar[str] = "classification"  # or "detection", "segmentation"
    #: the task scores the backbone's own classifier: ``transfer`` loads it with its head (``keep_head=True``)
    keeps_head: ClassVar[bool] = False

    def run(self, ctx: TaskContext, config: TaskConfig) -> TaskResult:
        raise NotImplementedError
