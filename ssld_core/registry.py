"""One registry implementation for every pluggable kind: distillation methods, transfer tasks, data sets.

A plug-in is one module that decorates its class (or loader) with its registry's ``register(name)``; the
registry imports the modules of its package once, the first time a name is looked up, so adding a plug-in
touches no other file, and listing the names (``ssld-eval list``) finds every one. A name registered twice
with different objects is an error, as is an unknown name (which lists the known ones).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> plug-ins of one ``kind`` (the word errors use), found in the modules of ``package``."""

    def __init__(self, kind: str, package: str | None = None, skip: Iterable[str] = ()) -> None:
        self.kind = kind
        self.package = package
        self.skip = frozenset(skip)
        self._items: dict[str, T] = {}
        self._discovered = package is None

    def register(self, name: str, check: Callable[[str, T], None] | None = None) -> Callable[[T], T]:
        """Decorator: registers the decorated object as ``name`` (``check`` may refuse it, raising)."""

        def decorate(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self._items[name]} and {item})")
            if check is not None:
                check(name, item)
            self._items[name] = item
            return item

        return decorate

    def _discover(self) -> None:
        if not self._discovered:
            self._discovered = True
            module = importlib.import_module(str(self.package))
            for info in pkgutil.iter_modules(module.__path__):
                if info.name not in self.skip:
                    importlib.import_module(f"{self.package}.{info.name}")

    def get(self, name: str) -> T:
        self._discover()
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {self.names()}")
        return self._items[name]

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
