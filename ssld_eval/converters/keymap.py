"""Rename a Paddle state dict module by module, strictly, and check the result against the timm model.

Paddle's layers store their parameters under fixed names, and only these four layer kinds occur in the
converted networks (PaddleClas ``legendary_models``; Paddle ``nn.Conv2D``, ``nn.BatchNorm``, ``nn.Linear``):

- conv: ``weight`` (OIHW, the torch layout), plus ``bias`` where the conv has one (the SE convs);
- BatchNorm: ``weight``, ``bias``, ``_mean``, ``_variance`` -> torch ``running_mean`` / ``running_var``
  (eps 1e-5 in both); torch's ``num_batches_tracked`` has no Paddle counterpart and is set to 0 (torch fills
  it in only for state dicts without metadata, so a strict load needs it);
- Linear: ``weight`` is [in, out] in Paddle and [out, in] in torch, so it is transposed.

A converter lists its modules as :class:`ModuleMap` entries. Every Paddle key must belong to a listed module
and every listed module's parameters must be present (:func:`rename_modules`), and the renamed dict must have
exactly the keys and shapes of the timm model (:func:`check_against_timm`): any leftover, missing or
misshapen key is a :class:`PaddleCheckpointError` naming the file and the keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import timm
import torch

from ssld_eval.converters.pdparams import PaddleCheckpointError

_SHOWN = 8  # keys listed in one error message


class Kind(StrEnum):
    CONV = "conv"
    CONV_BIAS = "conv_bias"
    BN = "bn"
    LINEAR = "linear"


# Paddle parameter name -> timm parameter name, per layer kind.
PARAMS: Mapping[Kind, Mapping[str, str]] = {
    Kind.CONV: {"weight": "weight"},
    Kind.CONV_BIAS: {"weight": "weight", "bias": "bias"},
    Kind.BN: {"weight": "weight", "bias": "bias", "_mean": "running_mean", "_variance": "running_var"},
    Kind.LINEAR: {"weight": "weight", "bias": "bias"},
}


@dataclass(frozen=True)
class ModuleMap:
    """One Paddle layer (its structured-name prefix) and the timm module it becomes.

    ``weight_scale`` multiplies a Linear weight after transposing: how MobileNetV3's inference-time
    ``Dropout(mode="downscale_in_infer")`` factor is folded into the classifier.
    """

    paddle: str
    timm: str
    kind: Kind
    weight_scale: float = 1.0


@dataclass(frozen=True)
class Renamed:
    """A renamed state dict: timm key -> array, and timm key -> the Paddle key it came from (for errors)."""

    arrays: dict[str, np.ndarray]
    origin: dict[str, str]


def _listing(keys: Sequence[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:_SHOWN])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _SHOWN else shown


def rename_modules(state: Mapping[str, np.ndarray], maps: Sequence[ModuleMap], source: str) -> Renamed:
    """Apply ``maps`` to every key of ``state``; raise naming the keys if any is left over or missing."""
    by_prefix = {m.paddle: m for m in maps}
    arrays: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    leftover: list[str] = []
    for key, value in state.items():
        prefix, _, param = key.rpartition(".")
        module = by_prefix.get(prefix)
        if module is None or param not in PARAMS[module.kind]:
            leftover.append(key)
            continue
        if module.kind is Kind.LINEAR and param == "weight":
            if value.ndim != 2:
                raise PaddleCheckpointError(f"{source}: Linear weight {key!r} has shape {value.shape}, not 2-d")
            value = value.T * module.weight_scale  # a Python float keeps the array's dtype (NEP 50)
        timm_key = f"{module.timm}.{PARAMS[module.kind][param]}"
        arrays[timm_key] = np.ascontiguousarray(value)
        origin[timm_key] = key
    missing = [f"{m.paddle}.{p}" for m in maps for p in PARAMS[m.kind] if f"{m.paddle}.{p}" not in state]
    if leftover or missing:
        parts = []
        if leftover:
            parts.append(f"{len(leftover)} key(s) this converter does not consume: {_listing(leftover)}")
        if missing:
            parts.append(f"{len(missing)} expected key(s) missing: {_listing(missing)}")
        raise PaddleCheckpointError(f"{source}: " + "; ".join(parts))
    for m in maps:
        if m.kind is Kind.BN:
            arrays[f"{m.timm}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    return Renamed(arrays, origin)


def check_against_timm(renamed: Renamed, timm_name: str, source: str) -> dict[str, torch.Tensor]:
    """The renamed dict as torch tensors, once it has exactly the keys and shapes of ``timm_name``'s model.

    The model is built on the meta device: only its state-dict layout is read, nothing is allocated.
    """
    with torch.device("meta"):
        expected = timm.create_model(timm_name).state_dict()
    missing = [k for k in expected if k not in renamed.arrays]
    unexpected = [k for k in renamed.arrays if k not in expected]
    if missing or unexpected:
        raise PaddleCheckpointError(
            f"{source}: the converted state dict does not match timm {timm_name!r}: missing {_listing(missing)}; "
            f"unexpected {_listing([f'{k} (from {renamed.origin.get(k)!r})' for k in unexpected])}"
        )
    misshapen = [
        f"{renamed.origin.get(k, k)!r} -> {k!r}: {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in renamed.arrays.items()
        if tuple(v.shape) != tuple(expected[k].shape)
    ]
    if misshapen:
        shown = "; ".join(misshapen[:_SHOWN])
        raise PaddleCheckpointError(
            f"{source}: {len(misshapen)} key(s) have a shape timm {timm_name!r} does not expect "
            f"(Paddle key -> timm key: converted vs expected): {shown}"
        )
    return {k: torch.from_numpy(v) for k, v in renamed.arrays.items()}
