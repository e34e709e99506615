"""Methods by name. A method is one module in :mod:`distill.methods` that decorates its class with
:func:`register_method` (one :class:`ssld_core.registry.Registry`); :func:`get_method` imports the package's
modules once to find them, so adding a method touches no other file."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ssld_core.registry import Registry

T = TypeVar("T", bound=type)
METHODS: Registry[type] = Registry("distillation method", "distill.methods")


def register_method(name: str) -> Callable[[T], T]:
    def named(key: str, cls: type) -> None:
        cls.name = key  # type: ignore[attr-defined]

    return METHODS.register(name, check=named)  # type: ignore[return-value]


def get_method(name: str) -> type:
    return METHODS.get(name)


def method_names() -> list[str]:
    return METHODS.names()
