"""Values from YAML recipes, sweep specs and ``--set`` checked against a dataclass field's type: one
implementation for distill's recipes (every section, the method's parameters included) and the transfer
tasks' configs alike.

YAML 1.1 reads ``1e-3`` as a string and ``5e-1`` too, so a float field takes numeric strings; an int field
takes no float, a bool field only true/false, a string field only a string. Without this,
``--set method.temperature=1e-3`` compared a string with a number inside the method and
``method.kd_weight=5e-1`` crashed at step 1.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any


def coerce(value: Any, annotation: Any, where: str, error: type[ValueError] = ValueError) -> Any:
    """``value`` (as YAML or JSON gave it) as the type ``annotation`` names; a mismatch raises ``error``
    naming ``where``. A variable-length tuple field takes a single value as a one-element tuple."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            if type(None) in typing.get_args(annotation):
                return None
            raise error(f"{where}: null is not allowed")
        errors = []
        for option in options:
            try:
                return coerce(value, option, where, error)
            except error as exc:
                errors.append(str(exc))
        raise error(errors[0])
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            if not (args and args[-1] is Ellipsis):
                raise error(f"{where}: expected a list, got {value!r}")
            value = [value]
        if args and args[-1] is not Ellipsis and len(value) != len(args):
            raise error(f"{where}: expected {len(args)} values, got {len(value)}")
        types_ = [args[0]] * len(value) if args and args[-1] is Ellipsis else list(args)
        return tuple(coerce(v, t, where, error) for v, t in zip(value, types_, strict=True))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise error(f"{where}: {value!r} is not a number")
        try:
            return float(value)  # YAML 1.1 reads "1e-3" as a string
        except ValueError:
            raise error(f"{where}: {value!r} is not a number") from None
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise error(f"{where}: {value!r} is not an integer")
    if annotation is bool and not isinstance(value, bool):
        raise error(f"{where}: {value!r} is not true/false")
    if origin is dict and not isinstance(value, Mapping):
        raise error(f"{where}: expected a mapping, got {value!r}")
    if annotation is str and not isinstance(value, str):
        raise error(f"{where}: {value!r} is not a string")
    return value
