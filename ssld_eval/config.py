"""Recipes as frozen dataclasses, changed from the command line with ``--set key=value``.

Values are parsed as YAML scalars or lists (``--set lr=1e-3``, ``--set stage_lr=[0.1,0.2]``; a string
field takes the text as typed) and checked against the field's annotation by :func:`ssld_core.typed.coerce`,
the function distill's recipes use, so a typo in a key or a wrong type is an error naming both, never a
silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import yaml

from ssld_core.typed import coerce

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration key or value that does not fit; the message names it."""


def parse_set_args(items: Iterable[str], flag: str = "--set") -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; malformed or repeated keys are errors."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected key=value")
        if key in result:
            raise ConfigError(f"{flag} {key} is given twice")
        result[key] = value
    return result


def build_config(cls: type[C], values: Mapping[str, Any], where: str = "--set") -> C:
    """An instance of dataclass ``cls`` from defaults plus ``values`` (strings are parsed as YAML)."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {names}")
    kwargs = {}
    for key, raw in values.items():
        # a string field takes the text as typed: YAML would read compile=on as True, sched=1e-3 as a number
        parsed = yaml.safe_load(raw) if isinstance(raw, str) and hints[key] is not str else raw
        kwargs[key] = coerce(parsed, hints[key], f"{where} {key}", ConfigError)
    return cls(**kwargs)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
