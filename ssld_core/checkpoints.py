"""Strict checkpoint loading, one implementation for ``--backbone`` and distill's teachers alike.

Why not ``timm``'s ``checkpoint_path`` or mmengine's ``init_cfg``: both load with ``strict=False`` in
practice (mmengine always; timm's ``features_only`` path drops keys), so a checkpoint saved under a
``module.`` / ``student.`` / ``encoder_q.`` prefix silently trains from random init and reports a low but
believable score. Here the usual wrappers are stripped explicitly (the namespace under which most keys
match), classifier heads a headless model has no place for are dropped by name, and every other mismatch is
an error naming the keys. Pickles are read only with ``weights_only=True``. A tensor holding NaN/Inf is
refused at read time, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

#: wrapper prefixes that trainers put in front of a backbone's own keys
KNOWN_WRAPPERS = (
    "module.", "_orig_mod.", "student.", "architecture.", "backbone.", "model.", "encoder.",
    "encoder_q.", "base_encoder.", "momentum_encoder.",
)
#: nesting keys of checkpoint dictionaries, in the order they are preferred
NESTING_KEYS = ("state_dict", "model", "module", "student", "params")
#: buffers that converted checkpoints often lack and whose absence changes nothing at inference
ALWAYS_ALLOWED_MISSING = (r"(^|\.)num_batches_tracked$",)
_SHOWN_KEYS = 12


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys do not match the architecture; the message names the keys."""


class CheckpointFileError(CheckpointMismatchError):
    """A checkpoint file that is not there."""


class HeadlessCheckpointError(CheckpointMismatchError):
    """The classifier was asked for (``keep_head=True``) and the checkpoint has none: a headless backbone."""


class NonFiniteWeightsError(CheckpointMismatchError):
    """A checkpoint holds NaN/Inf values; the message names the tensors. A subclass of
    :class:`CheckpointMismatchError` so that every command that refuses a bad checkpoint refuses this too."""


@dataclass(frozen=True)
class KeyAudit:
    """What a strict load found: written into every result record."""

    source: str
    arch: str
    namespace: str
    expected: int
    matched: int
    dropped_head: tuple[str, ...] = ()
    ignored_outside_namespace: int = 0
    allowed_missing: tuple[str, ...] = ()

    @property
    def matched_fraction(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "arch": self.arch,
            "namespace": self.namespace,
            "expected": self.expected,
            "matched": self.matched,
            "matched_fraction": round(self.matched_fraction, 6),
            "dropped_head": list(self.dropped_head),
            "ignored_outside_namespace": self.ignored_outside_namespace,
            "allowed_missing": list(self.allowed_missing),
        }


def refuse_non_finite(tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`NonFiniteWeightsError` naming every floating tensor of ``tensors`` with a NaN or Inf.

    One NaN weight (a diverged run saved anyway) makes every feature NaN; L2 normalisation and arg-max
    then turn those into a chance-level score with ``status: complete``. Refusing here names the cause.
    """
    bad = [name for name, tensor in tensors.items()
           if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise NonFiniteWeightsError(
            f"{source}: {len(bad)} tensor(s) hold non-finite values (NaN/Inf): {_shown(bad)}"
        )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read tensors from ``.safetensors`` or a pickle loaded with ``weights_only=True``; refuse NaN/Inf."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointFileError(f"{path}: checkpoint file not found")
    tensors = _read_tensors(path)
    refuse_non_finite(tensors, str(path))
    return tensors


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise CheckpointMismatchError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for disallowed globals, RuntimeError for truncation
        raise CheckpointMismatchError(
            f"{path}: refused or unreadable as a weights-only checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). Untrusted pickles are never executed; "
            "convert it with 'ssld-eval export' on a trusted machine or save it as safetensors."
        ) from exc
    return _unnest(obj, path)


def _unnest(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(obj, Mapping):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
        nested = next((obj[k] for k in NESTING_KEYS if isinstance(obj.get(k), Mapping)), None)
        if nested is None:
            raise CheckpointMismatchError(
                f"{path}: no tensors found; top-level keys are {sorted(obj)[:_SHOWN_KEYS]} "
                f"(looked inside {list(NESTING_KEYS)})"
            )
        obj = nested
    raise CheckpointMismatchError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")


def _split_namespace(key: str) -> tuple[str, str]:
    """``module.student.layer1.0.weight`` -> (``module.student.``, ``layer1.0.weight``)."""
    prefix = ""
    changed = True
    while changed:
        changed = False
        for wrapper in KNOWN_WRAPPERS:
            if key.startswith(wrapper):
                prefix, key, changed = prefix + wrapper, key[len(wrapper):], True
    return prefix, key


def head_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Module names of the classifier(s), from timm's pretrained config (``fc``, ``head.fc``, ...)."""
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    names = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    return tuple(f"{name}." for name in names)


def _shown(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return ", ".join(keys[:_SHOWN_KEYS]) + more


def load_state_dict_strictly(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str,
    arch: str,
    allow_missing: Iterable[str] = (),
) -> KeyAudit:
    """Load ``state_dict`` into ``model``; raise naming any key that does not fit.

    The namespace (wrapper prefix) is the one under which most keys match the model; keys under another
    namespace (a ``teacher.`` copy, a momentum encoder) are counted, never loaded. Classifier keys that a
    headless ``model`` has no place for are dropped. Missing keys are an error unless a pattern of
    ``allow_missing`` matches them; a ``model`` built with its classifier must find the classifier's keys in
    ``state_dict`` (:class:`HeadlessCheckpointError`), whatever ``allow_missing`` says: a random head would
    score as if it were the checkpoint's.
    """
    model_keys = set(model.state_dict())
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        prefix, bare = _split_namespace(key)
        groups.setdefault(prefix, {})[bare] = tensor
    namespace = max(groups, key=lambda p: (len(model_keys & set(groups[p])), p == "")) if groups else ""
    chosen = groups.get(namespace, {})
    ignored = sum(len(v) for p, v in groups.items() if p != namespace)

    heads = head_prefixes(model)
    dropped = tuple(sorted(k for k in chosen if k.startswith(heads) and k not in model_keys)) if heads else ()
    chosen = {k: v for k, v in chosen.items() if k not in dropped}

    patterns = [re.compile(p) for p in (*ALWAYS_ALLOWED_MISSING, *allow_missing)]
    missing = model_keys - set(chosen)
    where = f"{source} (arch {arch}, namespace {namespace or '<none>'!r})"
    has_head = bool(heads) and bool(getattr(model, "num_classes", 0))  # built with its classifier (keep_head)
    head_missing = sorted(k for k in missing if has_head and k.startswith(heads))
    if head_missing:
        raise HeadlessCheckpointError(
            f"{where}: the checkpoint has no classifier ({len(head_missing)} classifier key(s) missing: "
            f"{_shown(head_missing)}): it is a headless backbone (e.g. written by 'ssld-eval export'); scoring "
            "the backbone's own classifier needs the checkpoint it was trained as, head included"
        )
    allowed = {k for k in missing if any(p.search(k) for p in patterns)}
    missing -= allowed
    unexpected = set(chosen) - model_keys
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_shown(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_shown(unexpected)}")
        hint = "" if chosen.keys() & model_keys else (
            f"; no key matched at all - the checkpoint's keys look like {_shown(list(state_dict)[:5])}"
        )
        raise CheckpointMismatchError(f"{where}: " + "; ".join(parts) + hint)
    own = model.state_dict()
    bad_shapes = [f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, v in chosen.items() if tuple(v.shape) != tuple(own[k].shape)]
    if bad_shapes:
        raise CheckpointMismatchError(f"{where}: shape mismatch: {_shown(bad_shapes)}")
    model.load_state_dict(chosen, strict=not allowed)
    return KeyAudit(
        source=source, arch=arch, namespace=namespace, expected=len(model_keys), matched=len(chosen),
        dropped_head=dropped, ignored_outside_namespace=ignored, allowed_missing=tuple(sorted(allowed)),
    )
