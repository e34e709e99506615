"""Recipe values checked against their dataclass field's type (:func:`ssld_core.typed.coerce`, the same
function the transfer tasks' ``--set`` uses), raising :class:`RecipeError`."""

from __future__ import annotations

from typing import Any

from ssld_core import typed


class RecipeError(ValueError):
    """A recipe key or value that does not fit; the message names the key and the file."""


def coerce(value: Any, annotation: Any, where: str) -> Any:
    return typed.coerce(value, annotation, where, RecipeError)
