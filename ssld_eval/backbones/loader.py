"""The one backbone loader every task uses, classification, detection and segmentation alike.

Why not ``timm``'s ``checkpoint_path`` or mmengine's ``init_cfg``: both load with ``strict=False`` in
practice (mmengine always; timm's ``features_only`` path drops keys), so a checkpoint saved under a
``module.`` / ``student.`` prefix silently trains from random init and reports a low but believable score.
Here the usual wrappers are stripped explicitly, classifier heads are dropped by name (unless the caller
keeps the head, ``keep_head=True``, for a task that scores the backbone's own classifier: a checkpoint
without one is then :class:`HeadlessCheckpointError`), and every other mismatch is an error naming the
keys. Pickles are read only with ``weights_only=True``. A tensor holding NaN/Inf is refused at read time,
naming it: such weights would otherwise flow through to features that normalise into garbage and a
believable-looking score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from ssld_core.sidecar import BackboneMeta, SidecarError
from ssld_eval.backbones.converted import ConversionError, convert, source_arch
from ssld_eval.backbones.inputs import InputSpec, input_spec
from ssld_eval.provenance import weights_id_for_spec

#: wrapper prefixes that trainers put in front of a backbone's own keys
KNOWN_WRAPPERS = (
    "module.", "_orig_mod.", "student.", "architecture.", "backbone.", "model.", "encoder.",
    "encoder_q.", "base_encoder.", "momentum_encoder.",
)
#: nesting keys of checkpoint dictionaries, in the order they are preferred
NESTING_KEYS = ("state_dict", "model", "module", "student", "params")
#: buffers that converted checkpoints often lack and whose absence changes nothing at inference
ALWAYS_ALLOWED_MISSING = (r"(^|\.)num_batches_tracked$",)
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pdparams")
_SHOWN_KEYS = 12


class BackboneSpecError(ValueError):
    """The ``--backbone`` value names nothing that can be loaded."""


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys do not match the architecture; the message names the keys."""


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
        raise BackboneSpecError(f"{path}: checkpoint file not found")
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
