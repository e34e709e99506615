"""Transfer tasks by name. Each task is one module here that decorates its class with
:func:`register_task`; :func:`get_task` imports the package's modules once to find them, so adding a task
touches no other file but the two torch-free tables the record key and the report read without importing
the torch-using task modules: :mod:`ssld_eval.tasks.configs` (its ``--set`` keys, protocol version and
execution-only keys) and :mod:`ssld_eval.tasks.directions` (which way each of its metrics is better).
Tasks never import ``distill``: a distilled student reaches them as a checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ssld_core.registry import Registry
from ssld_eval.tasks.configs import TASK_CONFIGS
from ssld_eval.tasks.directions import METRIC_DIRECTIONS

T = TypeVar("T", bound=type)
TASKS: Registry[type] = Registry("task", __name__, skip=("base", "configs", "directions"))


def _declared(name: str, cls: type) -> None:
    """A task whose records the report could not colour honestly, or whose key ``sweep`` could not compute,
    is refused here, at import, rather than discovered in a report."""
    declared = METRIC_DIRECTIONS.get(name)
    if not declared or getattr(cls, "metric_directions", None) is not declared:
        raise ValueError(f"task {name!r} ({cls}) must declare its metrics' directions in "
                         f"ssld_eval.tasks.directions.METRIC_DIRECTIONS[{name!r}] and set "
                         f"metric_directions = METRIC_DIRECTIONS[{name!r}]")
    if getattr(cls, "Config", None) is not TASK_CONFIGS.get(name):
        raise ValueError(f"task {name!r} ({cls}) must declare its recipe in ssld_eval.tasks.configs.TASK_CONFIGS"
                         f"[{name!r}] and set Config = TASK_CONFIGS[{name!r}]: the record key reads it there")
    cls.name = name  # type: ignore[attr-defined]


def register_task(name: str) -> Callable[[T], T]:
    """Registers the decorated class as task ``name``; its ``metric_directions`` and ``Config`` must be its
    entries of the torch-free tables (:func:`_declared`)."""
    return TASKS.register(name, check=_declared)  # type: ignore[return-value]


def get_task(name: str) -> type:
    return TASKS.get(name)


def task_names() -> list[str]:
    return TASKS.names()
