"""The one check between numbers a task computes and a result: features, logits, scores and losses must be
finite.

Why: NaN/Inf never raise in torch. A NaN feature L2-normalises to NaN, arg-max over NaN scores picks a
class anyway, and the record would carry a chance-level accuracy with ``status: complete``. Tasks ask
:func:`non_finite_reason` at each hand-over and return a ``failed`` result with its text; the metrics call
:func:`require_finite` so that nothing non-finite is ever scored, whoever the caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


class NonFiniteError(ValueError):
    """Values that were to become a result hold NaN/Inf; the message says which and how many."""


def _describe(what: str, values: torch.Tensor | float) -> str:
    if not isinstance(values, torch.Tensor):
        return "" if math.isfinite(values) else f"{what} is {values}"
    if values.ndim == 0:
        return "" if bool(torch.isfinite(values)) else f"{what} is {values.item()}"
    if values.numel() == 0:
        return ""
    bad = ~torch.isfinite(values.reshape(len(values), -1)).all(1)
    count = int(bad.sum())
    return f"{what}: {count} of {len(values)} row(s) hold non-finite values (NaN/Inf)" if count else ""


def non_finite_reason(named: Mapping[str, torch.Tensor | float]) -> str:
    """'' when every value is finite; else one clause per offender, e.g. ``train features: 3 of 24 row(s)
    hold non-finite values (NaN/Inf)`` (rows: the first dimension) or ``refit objective is nan``."""
    return "; ".join(reason for what, values in named.items() if (reason := _describe(what, values)))


def require_finite(named: Mapping[str, torch.Tensor | float]) -> None:
    """Raise :class:`NonFiniteError` with :func:`non_finite_reason`'s text when anything is non-finite."""
    reason = non_finite_reason(named)
    if reason:
        raise NonFiniteError(reason)
