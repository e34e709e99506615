"""Transfer tasks by name. Each task is one module here that decorates its class with
:func:`register_task`; :func:`get_task` imports the package's modules once to find them, so adding a task
touches no other file. Tasks never import ``distill``: a distilled student reaches them as a checkpoint."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=type)
TASKS: dict[str, type] = {}
_discovered = False


def register_task(name: str) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"task {name!r} is registered twice ({TASKS[name]} and {cls})")
        cls.name = name
        TASKS[name] = cls
        return cls

    return decorate


def _discover() -> None:
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "base":
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
