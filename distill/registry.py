"""Methods by name. A method is one module in :mod:`distill.methods` that decorates its class with
:func:`register_method`; :func:`get_method` imports the package's modules once to find them, so adding a
method touches no other file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TypeVar

from distill import methods as _methods_pkg

T = TypeVar("T", bound=type)
METHODS: dict[str, type] = {}
_discovered = False


def register_method(name: str) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"distillation method {name!r} is registered twice ({METHODS[name]} and {cls})")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorate


def _discover() -> None:
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(_methods_pkg.__path__):
            importlib.import_module(f"{_methods_pkg.__name__}.{info.name}")
        _discovered = True


def get_method(name: str) -> type:
    _discover()
    if name not in METHODS:
        raise KeyError(f"unknown distillation method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name]


def method_names() -> list[str]:
    _discover()
    return sorted(METHODS)
