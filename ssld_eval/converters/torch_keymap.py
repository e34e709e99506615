"""Rename a PyTorch state dict (mmpretrain, torchvision names) module by module, strictly, and check it against timm.

The PyTorch counterpart of :mod:`ssld_eval.converters.keymap` (which is for Paddle's parameter names and
numpy arrays). A converter lists its modules as :class:`ModuleMap` entries, each naming the source module,
the timm module it becomes, and the parameters it has (:data:`CONV`, :data:`BN`, ... below). Every source key
must belong to a listed module or be listed in ``dropped`` (a persistent buffer timm recomputes, an unused
class token), every listed parameter must be present, and the renamed dict must have exactly the keys and
shapes of the timm model (:func:`check_against_timm`): any leftover, missing or misshapen key is a
:class:`TorchCheckpointError` naming the file and the keys. BatchNorm's ``num_batches_tracked`` (unused at
inference) is taken when present and set to 0 when not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import timm
import torch

from ssld_eval.converters.torch_pickles import TorchCheckpointError, listing

Transform = Callable[[torch.Tensor], torch.Tensor]

# Parameter names per layer kind.
CONV: tuple[str, ...] = ("weight",)
CONV_BIAS: tuple[str, ...] = ("weight", "bias")
LINEAR: tuple[str, ...] = ("weight", "bias")
LINEAR_NO_BIAS: tuple[str, ...] = ("weight",)
NORM: tuple[str, ...] = ("weight", "bias")  # LayerNorm, LayerNorm2d
BN: tuple[str, ...] = ("weight", "bias", "running_mean", "running_var")
BN_COUNTER = "num_batches_tracked"

_NO_TRANSFORMS: Mapping[str, Transform] = MappingProxyType({})


@dataclass(frozen=True)
class ModuleMap:
    """One source module (its key prefix) and the timm module it becomes.

    ``params`` are the parameter names (``BN`` also takes an optional ``num_batches_tracked``). An empty
    prefix maps bare top-level parameters (``pos_embed``). ``transforms`` rewrites named parameters on the
    way (Swin's patch-merging channel order, ViT's class-token position).
    """

    source: str
    timm: str
    params: tuple[str, ...]
    transforms: Mapping[str, Transform] = field(default_factory=lambda: _NO_TRANSFORMS)


@dataclass(frozen=True)
class Renamed:
    """A renamed state dict: timm key -> tensor, and timm key -> the source key it came from (for errors)."""

    tensors: dict[str, torch.Tensor]
    origin: dict[str, str]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def rename_modules(
    state: Mapping[str, torch.Tensor], maps: Sequence[ModuleMap], source: str, dropped: Collection[str] = ()
) -> Renamed:
    """Apply ``maps`` to every key of ``state``; raise naming the keys if any is left over or missing."""
    entries: dict[str, tuple[str, Transform | None]] = {}
    counters: dict[str, str] = {}
    for m in maps:
        for param in m.params:
            entries[_join(m.source, param)] = (_join(m.timm, param), m.transforms.get(param))
        if m.params == BN:
            counters[_join(m.source, BN_COUNTER)] = _join(m.timm, BN_COUNTER)
    tensors: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    leftover: list[str] = []
    for key, value in state.items():
        if key in dropped:
            continue
        if key in counters:
            tensors[counters[key]], origin[counters[key]] = value, key
            continue
        entry = entries.get(key)
        if entry is None:
            leftover.append(key)
            continue
        timm_key, transform = entry
        tensors[timm_key] = transform(value) if transform else value
        origin[timm_key] = key
    missing = [key for key in entries if key not in state]
    if leftover or missing:
        parts = []
        if leftover:
            parts.append(f"{len(leftover)} key(s) this converter does not consume: {listing(leftover)}")
        if missing:
            parts.append(f"{len(missing)} expected key(s) missing: {listing(missing)}")
        raise TorchCheckpointError(f"{source}: " + "; ".join(parts))
    for source_key, timm_key in counters.items():
        if timm_key not in tensors:
            tensors[timm_key] = torch.zeros((), dtype=torch.long)
            origin[timm_key] = f"{source_key} (absent, set to 0)"
    return Renamed(tensors, origin)


def check_against_timm(renamed: Renamed, timm_name: str, source: str, **timm_kwargs: Any) -> dict[str, torch.Tensor]:
    """The renamed tensors, once they have exactly the keys and shapes of ``timm_name``'s model.

    The model is built on the meta device: only its state-dict layout is read, nothing is allocated.
    """
    with torch.device("meta"):
        expected = timm.create_model(timm_name, **timm_kwargs).state_dict()
    missing = [k for k in expected if k not in renamed.tensors]
    unexpected = [k for k in renamed.tensors if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} timm key(s) missing: {listing(missing)}")
        if unexpected:
            shown = [f"{k!r} (from {renamed.origin.get(k, k)!r})" for k in unexpected]
            parts.append(f"{len(unexpected)} key(s) timm has no place for: {', '.join(shown[:8])}"
                         + (f", ... ({len(shown)} in all)" if len(shown) > 8 else ""))
        raise TorchCheckpointError(
            f"{source}: the converted state dict does not match timm {timm_name!r}: " + "; ".join(parts)
        )
    misshapen = [
        f"{renamed.origin.get(k, k)!r} -> {k!r}: {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in renamed.tensors.items()
        if tuple(v.shape) != tuple(expected[k].shape)
    ]
    if misshapen:
        raise TorchCheckpointError(
            f"{source}: {len(misshapen)} key(s) have a shape timm {timm_name!r} does not expect "
            f"(source key -> timm key: converted vs expected): {'; '.join(misshapen[:8])}"
        )
    return {k: renamed.tensors[k].contiguous() for k in expected}


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor dicts field-wise is not meaningful
class ConvertedTorchBackbone:
    """A converted PyTorch checkpoint (ScaleKD, SimReg): what to build in timm, its weights, its inputs.

    ``timm_name`` alone rebuilds the network (``timm.create_model(timm_name)``; registered names where timm's
    defaults differ). ``state_dict`` has exactly that model's keys, the classifier included when the file
    had one (built with ``num_classes`` = its width; 0 when it had none). ``data_config`` is in timm
    ``pretrained_cfg`` shape; ``details`` says how the file was read (layout, what was ignored), for the
    sidecar's provenance.
    """

    arch: str  # the source's name (``SOURCE:NAME`` without the source)
    timm_name: str
    state_dict: Mapping[str, torch.Tensor]
    data_config: Mapping[str, Any]
    source: str
    num_classes: int
    details: Mapping[str, Any] = field(default_factory=dict)

    def create_model(self) -> torch.nn.Module:
        """The timm model (with the file's classifier, if any) with these weights loaded strictly."""
        model = timm.create_model(self.timm_name, num_classes=self.num_classes)
        model.load_state_dict(self.state_dict, strict=True)
        return model
