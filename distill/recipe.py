"""Distillation recipes: YAML files read into frozen dataclasses.

A recipe has six sections (``method``, ``student``, ``teacher``, ``data``, ``train``, ``cache``); every field
below is documented where it is declared. Unknown keys are errors naming the key and the file, and
``--set section.key=value`` overrides (values parsed as YAML) go through the same checks, so a typo is never
a silently ignored setting. :func:`config_hash` hashes the resolved recipe minus the keys that only change
how a run is executed (:data:`RUNTIME_KEYS`), so two runs with the same hash train the same student.

Paths: the data splits are relative to ``data.root``; ``data.root`` defaults to ``$SSLD_EVAL_DATA`` or else
``data/builtin``; any path value may contain ``${data_root}``; other relative paths are relative to the
current directory.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from distill.methods.base import MethodParams
from distill.registry import get_method
from distill.typed import RecipeError, coerce

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DATA_ROOT_ENV = "SSLD_EVAL_DATA"
DEFAULT_DATA_ROOT = "data/builtin"

#: keys that change how a run executes, not what it computes: left out of the config hash and of the
#: resume comparison (num_workers 0 and 2 give bitwise the same run)
RUNTIME_KEYS = frozenset({
    "data.verify", "data.preload", "train.num_workers", "train.checkpoint_every", "train.keep_checkpoints",
    "train.log_every", "train.log_to", "train.eval_batch_size", "train.threads", "cache.dir", "cache.batch_size",
    "cache.chunk_images",
})


@dataclass(frozen=True)
class StudentConfig:
    arch: str = "resnet18"  # timm model name
    pretrained: bool = False  # timm's pretrained weights (downloads; needs internet)
    init_checkpoint: str | None = None  # .safetensors / .pth loaded strictly before training
    reset_classifier: bool = True  # drop init_checkpoint's classifier when its class count differs
    drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # more timm.create_model kwargs, e.g. img_size


@dataclass(frozen=True)
class TeacherConfig:
    arch: str | None = None  # timm model name; may be omitted when checkpoint is a distill run dir
    checkpoint: str | None = None  # distill run dir (student.safetensors + student.json) or weights file
    pretrained: bool = False  # timm's pretrained weights (downloads; needs internet)
    num_classes: int | None = None  # classifier size; default: from student.json, else the checkpoint's
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # default: from student.json


@dataclass(frozen=True)
class DataConfig:
    root: str = ""  # "" -> $SSLD_EVAL_DATA, else data/builtin
    train: str = "train"  # ImageFolder of labelled training images, relative to root
    val: str | None = None  # ImageFolder, same class folders as train
    test: str | None = None  # ImageFolder; final_metrics come from test, else val
    extra_unlabeled: str | None = None  # folder of unlabeled images (label-free methods, e.g. ssld)
    num_classes: int | None = None  # default: the number of class folders in train
    image_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: tuple[float, float] = (0.08, 1.0)  # random-resized-crop area range
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # random-resized-crop aspect range
    hflip: float = 0.5
    eval_crop_pct: float = 0.875  # eval: resize to image_size / crop_pct, centre crop image_size
    # skip | fail: an undecodable image is excluded and listed in student.json (as transfer does by default),
    # or stops the run naming it; a missing or unreadable file always stops it (that is not a bad image)
    on_bad_image: str = "skip"
    verify: bool = True  # decode and hash every image up front (content-hashed data manifest)
    preload: bool = False  # keep decoded images in memory (small data sets)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 1000  # optimiser steps of the distillation stage
    batch_size: int = 128  # global batch (split evenly over processes)
    opt: str = "sgd"  # any timm.optim.create_optimizer_v2 name
    lr: float = 0.1
    weight_decay: float = 1e-4
    momentum: float = 0.9
    sched: str = "cosine"  # any timm.scheduler.create_scheduler_v2 name, stepped per optimiser step
    warmup_steps: int = 0
    warmup_lr: float = 1e-5
    min_lr: float = 0.0
    clip_grad: float | None = None  # max gradient norm
    ema_decay: float | None = None  # timm ModelEmaV3 of the student; exported when set
    # ramp the EMA decay up from 0 (timm's use_warmup): on runs of a few hundred steps the random init
    # would otherwise keep a visible share of the exported weights (0.98 ** 120 = 9%)
    ema_warmup: bool = False
    finetune_steps: int = 0  # labelled cross-entropy fine-tune afterwards (SSLD's final stage)
    finetune_lr: float = 0.01
    channels_last: bool = True
    sync_bn: bool = False  # SyncBatchNorm under multi-process CUDA
    eval_every: int = 0  # evaluate on val every N steps (0: only at the end)
    num_workers: int = 0
    # torch's CPU threads (default: its count, from OMP_NUM_THREADS or the cores); student.json names it,
    # since another count sums in another order and trains other bits
    threads: int | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 50
    log_to: tuple[str, ...] = ("jsonl",)  # jsonl (always) and tensorboard (WORK_DIR/tensorboard)
    eval_batch_size: int = 256


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = False  # precompute the teacher once; training replays its crops and outputs
    dir: str | None = None  # default: WORK_DIR/teacher_cache
    views: int = 8  # augmented crops stored per image
    seed: int = 0  # seed of the stored crops (independent of train.seed: seeds share one cache)
    batch_size: int = 256
    chunk_images: int = 4096  # images per shard file


@dataclass(frozen=True)
class Recipe:
    method: str
    method_params: MethodParams
    student: StudentConfig
    teacher: tuple[TeacherConfig, ...]  # empty: no teacher; several: a multi-teacher method (SimReg)
    data: DataConfig
    train: TrainConfig
    cache: CacheConfig
    source: str = field(default="<memory>", compare=False)

    @property
    def data_root(self) -> Path:
        root = self.data.root or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
        return Path(root).expanduser()

    def path(self, value: str) -> Path:
        """A recipe path value with ``${data_root}`` substituted and ``~`` expanded."""
        return Path(value.replace("${data_root}", str(self.data_root))).expanduser()

    def data_path(self, value: str) -> Path:
        """A data split path: relative to ``data.root`` unless absolute."""
        path = self.path(value)
        return path if path.is_absolute() else self.data_root / path

    def to_dict(self) -> dict[str, Any]:
        teachers = [dataclasses.asdict(t) for t in self.teacher]
        return {
            "method": {"name": self.method, **dataclasses.asdict(self.method_params)},
            "student": dataclasses.asdict(self.student),
            "teacher": teachers[0] if len(teachers) == 1 else (teachers or None),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "cache": dataclasses.asdict(self.cache),
        }


SECTIONS: dict[str, type] = {
    "student": StudentConfig, "teacher": TeacherConfig, "data": DataConfig, "train": TrainConfig,
    "cache": CacheConfig,
}


def build_dataclass(cls: type, values: Any, where: str) -> Any:
    """An instance of ``cls`` from a mapping; unknown keys and wrong types are errors naming ``where.key``."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise RecipeError(f"{where}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
    return cls(**{k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()})


def _apply_override(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
        if isinstance(node, list):
            if not isinstance(key, int) or key >= len(node):
                raise RecipeError(f"--set {dotted}: {'.'.join(parts[:i + 1])} is not an item of the list")
        elif node.get(key) is None:
            node[key] = {}
        node = node[key]
        if not isinstance(node, (dict, list)):
            raise RecipeError(f"--set {dotted}: {'.'.join(parts[:i + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        raise RecipeError(f"--set {dotted}: {'.'.join(parts[:-1])} is a list; name an item, e.g. .0.{last}")
    node[last] = value


def parse_overrides(items: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["train.lr=0.1"]`` or ``{"train.lr": 0.1}`` -> ``{"train.lr": 0.1}`` (strings parsed as YAML)."""
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise RecipeError(f"--set {item!r}: expected key.sub=value")
            pairs.append((key.strip(), value))
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RecipeError(f"--set {key} is given twice")
        result[key] = yaml.safe_load(value) if isinstance(value, str) else value
    return result


def recipe_from_dict(raw: Mapping[str, Any], source: str = "<memory>") -> Recipe:
    """Validate a raw recipe mapping; errors name the key and ``source``."""
    if not isinstance(raw, Mapping):
        raise RecipeError(f"{source}: a recipe is a mapping of sections, got {type(raw).__name__}")
    known = {"method", *SECTIONS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RecipeError(f"{source}: unknown key(s) {', '.join(unknown)}; valid sections: {', '.join(sorted(known))}")
    method_raw = raw.get("method")
    if isinstance(method_raw, str):
        method_raw = {"name": method_raw}
    if not isinstance(method_raw, Mapping) or not method_raw.get("name"):
        raise RecipeError(f"{source}: method.name is required (e.g. method: {{name: kd}})")
    method_raw = dict(method_raw)
    name = method_raw.pop("name")
    try:
        method_cls = get_method(name)
    except KeyError as exc:
        raise RecipeError(f"{source}: method.name: {exc.args[0]}") from None
    try:
        params = method_cls.Params.from_mapping(method_raw, where=f"{source}: method")
    except (TypeError, ValueError) as exc:
        raise RecipeError(str(exc) if str(exc).startswith(source) else f"{source}: method: {exc}") from None
    sections = {}
    for key in ("student", "data", "train", "cache"):
        sections[key] = build_dataclass(SECTIONS[key], raw.get(key), f"{source}: {key}")
    teacher_raw = raw.get("teacher")
    if teacher_raw is None:
        teachers: tuple[TeacherConfig, ...] = ()
    elif isinstance(teacher_raw, list):
        teachers = tuple(build_dataclass(TeacherConfig, t, f"{source}: teacher.{i}") for i, t in enumerate(teacher_raw))
    else:
        teachers = (build_dataclass(TeacherConfig, teacher_raw, f"{source}: teacher"),)
    recipe = Recipe(method=name, method_params=params, teacher=teachers, source=source, **sections)
    validate(recipe, method_cls)
    return recipe


def validate(recipe: Recipe, method_cls: type) -> None:
    """Cross-field checks, each naming the key at fault."""
    src = recipe.source
    data, train, cache = recipe.data, recipe.train, recipe.cache
    if method_cls.needs_teacher and not recipe.teacher:
        raise RecipeError(f"{src}: method {recipe.method!r} needs a teacher (section teacher)")
    if not method_cls.needs_teacher and recipe.teacher:
        raise RecipeError(f"{src}: method {recipe.method!r} uses no teacher; remove section teacher")
    for i, teacher in enumerate(recipe.teacher):
        if not teacher.arch and not teacher.checkpoint:
            raise RecipeError(f"{src}: teacher{'.' + str(i) if len(recipe.teacher) > 1 else ''}.arch is required")
    if data.extra_unlabeled and method_cls.uses_labels and not method_cls.accepts_unlabeled:
        raise RecipeError(f"{src}: data.extra_unlabeled: method {recipe.method!r} needs a label for every image")
    if data.on_bad_image not in ("fail", "skip"):
        raise RecipeError(f"{src}: data.on_bad_image: {data.on_bad_image!r} is not fail or skip")
    if any(s <= 0 for s in data.std):
        raise RecipeError(f"{src}: data.std: {data.std} must be positive")
    if not (0 < data.scale[0] <= data.scale[1] <= 1) or not (0 < data.ratio[0] <= data.ratio[1]):
        raise RecipeError(f"{src}: data.scale {data.scale} / data.ratio {data.ratio} out of range")
    if not 0 < data.eval_crop_pct <= 1:
        raise RecipeError(f"{src}: data.eval_crop_pct: {data.eval_crop_pct} must be in (0, 1]")
    for key in ("image_size",):
        if getattr(data, key) <= 0:
            raise RecipeError(f"{src}: data.{key} must be positive")
    for key in ("steps", "batch_size", "checkpoint_every", "log_every", "eval_batch_size"):
        if getattr(train, key) <= 0:
            raise RecipeError(f"{src}: train.{key} must be positive, got {getattr(train, key)}")
    if train.keep_checkpoints < 2:
        raise RecipeError(f"{src}: train.keep_checkpoints must be at least 2 (the old one goes only after the new)")
    unknown_sinks = sorted(set(train.log_to) - {"jsonl", "tensorboard"})
    if unknown_sinks or "jsonl" not in train.log_to:
        raise RecipeError(f"{src}: train.log_to {list(train.log_to)}: the sinks are jsonl (always) and tensorboard")
    if train.threads is not None and train.threads < 1:
        raise RecipeError(f"{src}: train.threads must be at least 1, got {train.threads}")
    if train.finetune_steps < 0 or train.num_workers < 0 or train.warmup_steps < 0:
        raise RecipeError(f"{src}: train.finetune_steps, num_workers and warmup_steps must be >= 0")
    if cache.enabled:
        if method_cls.cache_kind is None:
            raise RecipeError(f"{src}: cache.enabled: method {recipe.method!r} has no cacheable teacher output")
        if cache.views <= 0 or cache.batch_size <= 0 or cache.chunk_images <= 0:
            raise RecipeError(f"{src}: cache.views, cache.batch_size and cache.chunk_images must be positive")


def load_recipe(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] = ()) -> Recipe:
    """Read a YAML recipe and apply ``--set`` overrides; every error names the key and the file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML ({exc})") from None
    raw = copy.deepcopy(raw) if raw is not None else {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections, got {type(raw).__name__}")
    for dotted, value in parse_overrides(overrides).items():
        _apply_override(raw, dotted, value)
    return recipe_from_dict(raw, source=str(path))


def with_overrides(recipe: Recipe, overrides: Iterable[str] | Mapping[str, Any]) -> Recipe:
    """A copy of ``recipe`` with dotted overrides applied (re-validated)."""
    raw = recipe.to_dict()
    for dotted, value in parse_overrides(overrides).items():
        _apply_override(raw, dotted, value)
    return recipe_from_dict(raw, source=recipe.source)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists of mappings get numeric components."""
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(obj, list) and obj and all(isinstance(v, Mapping) for v in obj):
        out = {}
        for i, value in enumerate(obj):
            out.update(flatten(value, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: list(obj) if isinstance(obj, tuple) else obj}


def semantic_config(recipe: Recipe) -> dict[str, Any]:
    """The flattened resolved recipe without :data:`RUNTIME_KEYS` (what decides the trained weights)."""
    return {k: v for k, v in flatten(recipe.to_dict()).items() if k not in RUNTIME_KEYS}


def config_hash(recipe: Recipe) -> str:
    text = json.dumps(semantic_config(recipe), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys whose values differ between two :func:`semantic_config` dicts, with both values."""
    def shown(config: Mapping[str, Any], key: str) -> str:
        return repr(config[key]) if key in config else "<absent>"

    return [f"{k}: {shown(old, k)} -> {shown(new, k)}" for k in sorted(set(old) | set(new))
            if k not in old or k not in new or old[k] != new[k]]
