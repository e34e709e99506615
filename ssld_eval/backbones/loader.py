"""The one backbone loader every task uses, classification, detection and segmentation alike: a
``--backbone`` spec (timm name, distill run dir, checkpoint file, ``SOURCE:NAME`` conversion) resolved to a
timm model, loaded by :mod:`ssld_core.checkpoints` (the strict loader distill's teachers use too: wrappers
stripped, classifier heads dropped by name unless ``keep_head=True``, every other mismatch an error naming
the keys, NaN/Inf refused), with its sidecar and input description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import timm
from torch import nn

from ssld_core.checkpoints import (
    ALWAYS_ALLOWED_MISSING,
    KNOWN_WRAPPERS,
    NESTING_KEYS,
    CheckpointFileError,
    CheckpointMismatchError,
    HeadlessCheckpointError,
    KeyAudit,
    NonFiniteWeightsError,
    head_prefixes,
    load_state_dict_strictly,
    read_state_dict,
    refuse_non_finite,
)
from ssld_core.sidecar import BackboneMeta, SidecarError
from ssld_eval.backbones.converted import ConversionError, convert, source_arch
from ssld_eval.backbones.inputs import InputSpec, input_spec
from ssld_eval.provenance import weights_id_for_spec

__all__ = [
    "ALWAYS_ALLOWED_MISSING", "CHECKPOINT_SUFFIXES", "KNOWN_WRAPPERS", "NESTING_KEYS", "BackboneSpecError",
    "CheckpointFileError", "CheckpointMismatchError", "HeadlessCheckpointError", "KeyAudit", "LoadedBackbone",
    "NonFiniteWeightsError", "create_headless", "create_model", "head_prefixes", "load_backbone",
    "load_state_dict_strictly", "read_state_dict", "refuse_non_finite",
]

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pdparams")


class BackboneSpecError(ValueError):
    """The ``--backbone`` value names nothing that can be loaded."""


@dataclass
class LoadedBackbone:
    """A timm model without its classifier (``num_classes=0``; with it when loaded with ``keep_head=True``),
    and where its weights came from."""

    model: nn.Module
    arch: str
    weights_id: str  # see ssld_eval.provenance.weights_id_for_spec
    audit: KeyAudit
    meta: BackboneMeta | None = None  # the sidecar (student.json of a distilled run), when there is one
    sidecar: str = ""  # the file ``meta`` was read from

    @cached_property  # read by the transform, the mm preprocessor and the record: once
    def inputs(self) -> InputSpec:
        """What the weights expect as input (:mod:`ssld_eval.backbones.inputs`): every task reads this."""
        return input_spec(self.model, self.meta)

    @property
    def backbone_id(self) -> str:
        return f"{self.arch}@{self.weights_id[:16]}"


def _resolve_checkpoint(spec: str, arch: str | None) -> tuple[Path, str, BackboneMeta | None, Path]:
    """Find the weights file, the architecture and the sidecar of a path-like ``--backbone``."""
    path = Path(spec)
    if path.is_dir():
        path = path / "student.safetensors"
        if not path.is_file():
            raise BackboneSpecError(f"{spec}: a directory must hold student.safetensors from 'ssld-eval distill'")
    meta = None
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            meta = BackboneMeta.read(sidecar)
        except SidecarError as exc:
            raise BackboneSpecError(str(exc)) from exc
    recorded = meta.arch if meta else None
    if arch and recorded and arch != recorded:
        raise BackboneSpecError(f"{path}: --arch {arch} disagrees with {sidecar.name}'s arch {recorded}")
    arch = arch or recorded
    if not arch:
        raise BackboneSpecError(f"{path}: the architecture is unknown; pass --arch NAME (a timm model name)")
    return path, arch, meta, sidecar


def _require_timm_name(arch: str) -> None:
    if arch not in timm.list_models() and not timm.is_model(arch):
        raise BackboneSpecError(f"{arch!r} is not a timm model name (see timm.list_models())")


def create_headless(arch: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    _require_timm_name(arch)
    return timm.create_model(arch, pretrained=pretrained, num_classes=0, **kwargs)


def create_model(arch: str, *, keep_head: bool = False, num_classes: int | None = None, pretrained: bool = False,
                 **kwargs: Any) -> nn.Module:
    """:func:`create_headless`, or with ``keep_head`` the model with its classifier: ``num_classes`` outputs
    (a sidecar's), else timm's default for the architecture (1000 for ImageNet-1k models)."""
    if not keep_head:
        return create_headless(arch, pretrained=pretrained, **kwargs)
    _require_timm_name(arch)
    if num_classes is not None:
        kwargs = {**kwargs, "num_classes": num_classes}
    return timm.create_model(arch, pretrained=pretrained, **kwargs)


def _load_converted(path: Path, arch: str, allow_missing: Iterable[str], weights_id: str | None,
                    keep_head: bool = False) -> LoadedBackbone:
    """A checkpoint of another framework (``--arch SOURCE:NAME``, :mod:`ssld_eval.backbones.converted`)."""
    if not path.is_file():
        raise BackboneSpecError(f"{path}: checkpoint file not found")
    try:
        converted = convert(path, arch)
    except ConversionError as exc:
        raise BackboneSpecError(str(exc)) from exc
    refuse_non_finite(converted.state_dict, str(path))
    model = create_model(converted.timm_name, keep_head=keep_head)
    audit = load_state_dict_strictly(model, converted.state_dict, source=str(path), arch=converted.timm_name,
                                     allow_missing=allow_missing)
    return LoadedBackbone(model=model, arch=converted.timm_name, audit=audit, meta=converted.meta,
                          weights_id=weights_id or weights_id_for_spec(str(path)))


def load_backbone(
    spec: str,
    *,
    arch: str | None = None,
    pretrained: bool = False,
    allow_missing: Iterable[str] = (),
    model_kwargs: Mapping[str, Any] | None = None,
    weights_id: str | None = None,
    keep_head: bool = False,
) -> LoadedBackbone:
    """Load ``spec``: a timm name, a distill run dir, ``student.safetensors``, or a checkpoint + ``arch``.
    ``weights_id``: the caller's :func:`~ssld_eval.provenance.weights_id_for_spec` of ``spec`` when it has
    one already (``transfer`` computes it for the record key), so that a large file is hashed once.
    ``keep_head``: build the model with its classifier (the sidecar's ``num_classes`` outputs, else timm's
    default) and load the checkpoint's classifier into it; a checkpoint without one raises
    :class:`HeadlessCheckpointError`. A timm name gets timm's head (random unless ``pretrained``)."""
    kwargs = dict(model_kwargs or {})
    looks_like_path = Path(spec).exists() or spec.endswith(CHECKPOINT_SUFFIXES) or "/" in spec
    if not looks_like_path:
        if arch and arch != spec:
            raise BackboneSpecError(f"--backbone {spec} is a model name; --arch {arch} would contradict it")
        model = create_model(spec, keep_head=keep_head, pretrained=pretrained, **kwargs)
        weights_id = weights_id or weights_id_for_spec(spec, pretrained)
        if pretrained:  # downloaded weights are read by timm, not read_state_dict: check them here
            refuse_non_finite(model.state_dict(), weights_id)
        audit = KeyAudit(source=weights_id, arch=spec, namespace="", expected=len(model.state_dict()),
                         matched=len(model.state_dict()) if pretrained else 0)
        return LoadedBackbone(model=model, arch=spec, weights_id=weights_id, audit=audit)
    try:
        foreign = source_arch(arch)
    except ConversionError as exc:
        raise BackboneSpecError(str(exc)) from exc
    if foreign:
        return _load_converted(Path(spec), str(arch), allow_missing, weights_id, keep_head)
    path, arch, meta, sidecar = _resolve_checkpoint(spec, arch)
    # the sidecar's timm kwargs (e.g. a ViT student's img_size) rebuild the model it was trained as
    kwargs = {**(meta.model_kwargs if meta else {}), **kwargs}
    model = create_model(arch, keep_head=keep_head, num_classes=meta.num_classes if meta else None, **kwargs)
    audit = load_state_dict_strictly(
        model, read_state_dict(path), source=str(path), arch=arch, allow_missing=allow_missing
    )
    loaded = LoadedBackbone(model=model, arch=arch, weights_id=weights_id or weights_id_for_spec(str(path)),
                            audit=audit, meta=meta, sidecar=str(sidecar) if meta else "")
    return loaded
