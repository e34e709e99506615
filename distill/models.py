"""Students and teachers as timm models, with strict local weight loading.

Weights are read from ``.safetensors`` or from pickles through ``torch.load(weights_only=True)`` (a pickle
naming any other global is refused, never executed), and loaded with every key accounted for: a mismatch is
an error naming the missing, unexpected and mis-shaped keys. The one tolerated difference is a classifier
whose class count differs, dropped only where the recipe asks for it (``student.reset_classifier``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from distill.recipe import Recipe, StudentConfig, TeacherConfig
from ssld_core.checkpoints import (
    KNOWN_WRAPPERS,
    CheckpointMismatchError,
    head_prefixes,
    load_state_dict_strictly,
    read_state_dict,
)
from ssld_core.provenance import sha256_file
from ssld_core.sidecar import BackboneMeta, SidecarError

_SHOWN = 10


class CheckpointError(ValueError):
    """A weights file that cannot be read or does not match its architecture; the message names the keys."""



def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A content hash of tensors (names, dtypes, shapes, values), for weights that have no file."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a weights-only pickle (nesting keys allowed, NaN/Inf refused):
    :func:`ssld_core.checkpoints.read_state_dict`, the reader ``--backbone`` uses."""
    try:
        return read_state_dict(path)
    except CheckpointMismatchError as exc:
        raise CheckpointError(str(exc)) from exc


def _shown(keys: list[str]) -> str:
    keys = sorted(keys)
    return str(keys[:_SHOWN]) + (f" ... and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str, arch: str,
                reset_classifier: bool = False) -> tuple[str, ...]:
    """Load ``state`` into ``model`` with every key matched; returns the classifier keys dropped.

    With ``reset_classifier`` the classifier's keys are dropped when their shapes differ, e.g. an ImageNet
    checkpoint for a 10-class student, and the new classifier starts at zero: a randomly initialised head on
    pretrained features starts with large confidently wrong logits whose first gradients wreck the features
    (zero-initialised heads as in Kolesnikov et al. 2020, "Big Transfer (BiT)", arXiv 1912.11370). Nothing
    else may differ.
    """
    expected = model.state_dict()
    heads = head_prefixes(model)
    dropped = []
    if reset_classifier:
        for key in [k for k in state if k.startswith(heads) and k in expected]:
            if tuple(state[key].shape) != tuple(expected[key].shape):
                dropped.append(key)
    state = {k: v for k, v in state.items() if k not in dropped}
    missing = [k for k in expected if k not in state and k not in dropped]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in state
                  if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mis_shaped:
        parts = [f"missing keys {_shown(missing)}" if missing else "",
                 f"unexpected keys {_shown(unexpected)}" if unexpected else "",
                 f"shape mismatches {_shown(mis_shaped)}" if mis_shaped else ""]
        raise CheckpointError(f"{source} does not match timm {arch!r}: " + "; ".join(p for p in parts if p))
    model.load_state_dict(state, strict=not dropped)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name in dropped:
                tensor.zero_()
    return tuple(dropped)


def build_student(cfg: StudentConfig, num_classes: int, recipe: Recipe) -> nn.Module:
    """``timm.create_model(cfg.arch, num_classes=...)``, initialised from ``cfg.init_checkpoint`` if given."""
    kwargs: dict[str, Any] = {**cfg.model_kwargs, "num_classes": num_classes, "pretrained": cfg.pretrained}
    if cfg.drop_rate:
        kwargs["drop_rate"] = cfg.drop_rate
    if cfg.drop_path_rate:
        kwargs["drop_path_rate"] = cfg.drop_path_rate
    try:
        model = timm.create_model(cfg.arch, **kwargs)
    except RuntimeError as exc:
        raise ValueError(f"student.arch: timm cannot build {cfg.arch!r} ({exc})") from exc
    if cfg.init_checkpoint:
        path = recipe.path(cfg.init_checkpoint)
        load_strict(model, read_weights(path), f"student.init_checkpoint {path}", cfg.arch,
                    reset_classifier=cfg.reset_classifier)
    return model


@dataclass(frozen=True)
class TeacherInfo:
    """Which weights a teacher has, resolved without building it (the cache key needs only this)."""

    arch: str
    num_classes: int
    weights_sha256: str
    weights_path: str | None  # None: timm's pretrained weights
    pretrained: bool
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "num_classes": self.num_classes, "weights_sha256": self.weights_sha256,
                "source": self.weights_path or f"timm-pretrained:{self.arch}"}


def _classifier_classes(arch: str, state: Mapping[str, torch.Tensor], kwargs: dict[str, Any]) -> int | None:
    """The class count of a checkpoint's classifier (under any wrapper prefix), None when it holds none."""
    with torch.device("meta"):
        probe = timm.create_model(arch, **kwargs)
    for prefix in head_prefixes(probe):
        for key, weight in state.items():
            if key == f"{prefix}weight" or (key.endswith(f".{prefix}weight") and key.startswith(KNOWN_WRAPPERS)):
                return int(weight.shape[0])
    return None


def resolve_teacher(cfg: TeacherConfig, recipe: Recipe, where: str = "teacher") -> TeacherInfo:
    """Find a teacher's architecture, class count and weights identity from the recipe entry."""
    if cfg.checkpoint is None:
        if not cfg.pretrained:
            raise ValueError(f"{where}: give checkpoint (a weights file or a distill run dir) or pretrained: true")
        if not cfg.arch or cfg.num_classes is None:
            raise ValueError(f"{where}: a timm-pretrained teacher needs arch and num_classes")
        return TeacherInfo(cfg.arch, cfg.num_classes, "", None, True, dict(cfg.model_kwargs))
    path = recipe.path(cfg.checkpoint)
    arch, num_classes, model_kwargs = cfg.arch, cfg.num_classes, dict(cfg.model_kwargs)
    if path.is_dir():
        if not (path / "student.json").is_file() or not (path / "student.safetensors").is_file():
            raise CheckpointError(f"{where}.checkpoint {path}: a distill run dir holds student.json "
                                  "and student.safetensors")
        path = path / "student.safetensors"
    meta_path = path.with_suffix(".json")
    if meta_path.is_file():  # the sidecar of a distill run, a built-in teacher or an exported backbone
        try:
            meta = BackboneMeta.read(meta_path)
        except SidecarError as exc:
            raise CheckpointError(f"{where}.checkpoint: {exc}") from exc
        if arch and arch != meta.arch:
            raise CheckpointError(f"{where}.arch {arch!r} differs from {meta_path}'s arch {meta.arch!r}")
        arch = meta.arch
        num_classes = num_classes if num_classes is not None else meta.num_classes
        model_kwargs = model_kwargs or dict(meta.model_kwargs)
    if not path.is_file():
        raise CheckpointError(f"{where}.checkpoint {path}: no such file or distill run dir")
    if not arch:
        raise ValueError(f"{where}.arch is required for checkpoint {path}")
    if num_classes is None:  # from the classifier's weight; a checkpoint without one is a bare backbone
        num_classes = _classifier_classes(arch, read_weights(path), model_kwargs) or 0
    return TeacherInfo(arch, num_classes, sha256_file(path), str(path), False, model_kwargs)


def build_teacher(info: TeacherInfo, where: str = "teacher") -> nn.Module:
    """The frozen teacher in eval mode, loaded by the loader ``--backbone`` uses
    (:func:`ssld_core.checkpoints.load_state_dict_strictly`): a ``module.encoder_q.`` MoCo checkpoint loads as
    it is (its momentum encoder and queue are counted, not loaded), every other mismatch is an error."""
    model = timm.create_model(info.arch, **info.model_kwargs, num_classes=info.num_classes, pretrained=info.pretrained)
    if info.weights_path is not None:
        try:
            load_state_dict_strictly(model, read_weights(info.weights_path),
                                     source=f"{where} checkpoint {info.weights_path}", arch=info.arch)
        except CheckpointMismatchError as exc:
            raise CheckpointError(str(exc)) from exc
    return model.eval().requires_grad_(False)


def pretrained_identity(info: TeacherInfo, model: nn.Module) -> TeacherInfo:
    """A timm-pretrained teacher's identity is the hash of the weights it was given."""
    if info.weights_sha256:
        return info
    return TeacherInfo(info.arch, info.num_classes, state_dict_sha256(model.state_dict()), None, True,
                       info.model_kwargs)
