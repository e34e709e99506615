"""Recipes as frozen dataclasses, changed from the command line with ``--set key=value``.

Values are parsed as YAML scalars or lists (``--set lr=1e-3``, ``--set stage_lr=[0.1,0.2]``) and checked
against the field's annotation, so a typo in a key or a wrong type is an error naming both, never a
silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import yaml

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


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: {value!r} does not fit {annotation}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            value = [value]
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, where) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)  # YAML 1.1 reads "1e-3" as a string
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a float") from None
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if annotation in (int, float, str, bool) and not (
        isinstance(value, annotation) and not (annotation is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: {value!r} is not a {annotation.__name__}")
    return value


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
        kwargs[key] = _coerce(parsed, hints[key], f"{where} {key}")
    return cls(**kwargs)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
