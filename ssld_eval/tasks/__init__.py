"""Transfer tasks by name. Each task is one module here that decorates its class with
:func:`register_task`; :func:`get_task` imports the package's modules once to find them, so adding a task
touches no other file but the two torch-free tables the record key and the report read without importing
the torch-using task modules: :mod:`ssld_eval.tasks.configs` (its ``--set`` keys, protocol version and
execution-only keys) and :mod:`ssld_eval.tasks.directions` (which way each of its metrics is better).
Tasks never import ``distill``: a distilled student reaches them as a checkpoint."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TypeVar

from ssld_eval.tasks.configs import TASK_CONFIGS
from ssld_eval.tasks.directions import METRIC_DIRECTIONS

T = TypeVar("T", bound=type)
TASKS: dict[str, type] = {}
_discovered = False
_NOT_TASKS = frozenset({"base", "configs", "directions"})


def register_task(name: str) -> Callable[[T], T]:
    """Registers the decorated class as task ``name``. Its ``metric_directions`` must be its entry of
    :data:`~ssld_eval.tasks.directions.METRIC_DIRECTIONS`: a task whose records the report could not colour
    honestly is refused here, at import, rather than discovered in a report."""

    def decorate(cls: T) -> T:
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"task {name!r} is registered twice ({TASKS[name]} and {cls})")
        declared = METRIC_DIRECTIONS.get(name)
        if not declared or getattr(cls, "metric_directions", None) is not declared:
            raise ValueError(f"task {name!r} ({cls}) must declare its metrics' directions in "
                             f"ssld_eval.tasks.directions.METRIC_DIRECTIONS[{name!r}] and set "
                             f"metric_directions = METRIC_DIRECTIONS[{name!r}]")
        if getattr(cls, "Config", None) is not TASK_CONFIGS.get(name):
            raise ValueError(f"task {name!r} ({cls}) must declare its recipe in ssld_eval.tasks.configs.TASK_CONFIGS"
                             f"[{name!r}] and set Config = TASK_CONFIGS[{name!r}]: the record key reads it there")
        cls.name = name
        TASKS[name] = cls
        return cls

    return decorate


def _discover() -> None:
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            if info.name not in _NOT_TASKS:
                importlib.import_module(f"{__name__}.{info.name}")
        _discovered = True


def get_task(name: str) -> type:
    _discover()
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {sorted(TASKS)}")
    return TASKS[name]


def task_names() -> list[str]:
    _discover()
    return sorted(TASKS)
