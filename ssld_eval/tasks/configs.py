"""Every task's ``--set`` keys, its protocol version and which of its keys only change how a run executes.

This is what a record's key is made of (with the weights, the data identity and the seed), so it must be
computable without torch: ``--skip-existing`` and ``sweep --dry-run`` decide from it in milliseconds. It is
therefore the one torch-free declaration of each task's recipe; the task modules point their ``Config`` at
their entry of :data:`TASK_CONFIGS` and :func:`ssld_eval.tasks.register_task` refuses one that does not.

- ``protocol_version``: bumped whenever a task's numbers would change for the same weights, data and
  settings (solver, transform, metric, a default). Old records then no longer match ``--skip-existing``.
- ``execution_only``: keys that change how a run executes but not its result (workers, batch size of the
  frozen feature extraction, ``torch.compile``, similarity chunking, resuming). They are recorded under the
  record's ``execution``, never in its key, so the report averages runs that differ only in them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

#: images from which torch.compile pays for itself in the frozen feature extraction (``benchmarks/features.py``)
COMPILE_MIN_IMAGES = 20_000
#: the linear probe's L2 path (Kornblith et al. 2019: 45 strengths, log-spaced in [1e-6, 1e5])
NUM_L2_VALUES = 45
L2_RANGE = (1e-6, 1e5)


@dataclass(frozen=True)
class TaskConfig:
    """Base of every task's recipe; subclasses add fields with defaults (changed by ``--set``)."""

    protocol_version: ClassVar[int] = 1
    execution_only: ClassVar[frozenset[str]] = frozenset()


@dataclass(frozen=True)
class FeatureConfig(TaskConfig):
    """Settings of the frozen-feature tasks (linear probe, kNN)."""

    execution_only: ClassVar[frozenset[str]] = frozenset({"batch_size", "workers", "compile", "compile_min_images"})

    image_size: int | None = None  # input side; default: the student's data.image_size, else timm's for the arch
    batch_size: int = 64
    workers: int = -1  # DataLoader workers; -1: none on <= 2 CPUs, else min(8, CPUs / 2)
    compile: str = "auto"  # torch.compile the extractor: on, off, or auto (when >= compile_min_images images)
    compile_min_images: int = COMPILE_MIN_IMAGES
    val_fraction: float = 0.2  # held out of train when the data set has no validation split
    fail_on_bad_images: bool = False  # an undecodable image is an error instead of being excluded and listed


@dataclass(frozen=True)
class LinearProbeConfig(FeatureConfig):
    # 2: the refit's own tolerances (0.2.0), so that it reaches the optimum at weak L2
    protocol_version: ClassVar[int] = 2

    num_l2: int = NUM_L2_VALUES  # L2 strengths tried, log-spaced in [l2_min, l2_max]
    l2_min: float = L2_RANGE[0]
    l2_max: float = L2_RANGE[1]
    max_iter: int = 100  # L-BFGS iterations per strength on the path
    refit_max_iter: int = 500  # for the final fit on train + val
    gtol: float = 1e-4  # path: stop when the gradient's largest entry is below this
    ftol: float = 1e-6  # ... or when an iteration improves the objective by less than this (relative)
    # the refit's own, tighter: at weak L2 (digits chose 3e-4) the objective is flat and a gradient of 1e-4
    # still moves test predictions (at 1e-4: 93.75 vs a converged solver's 94.0 on digits, 89.4 vs 89.8 on
    # animals; at 1e-6 every test prediction equals scikit-learn's tol=1e-9 fit, for ~0.5 s more)
    refit_gtol: float = 1e-6
    refit_ftol: float = 1e-7


@dataclass(frozen=True)
class KnnConfig(FeatureConfig):
    execution_only: ClassVar[frozenset[str]] = FeatureConfig.execution_only | {"chunk"}

    ks: tuple[int, ...] = (20, 1)  # neighbourhood sizes; the first is the primary metric's
    temperature: float = 0.07
    bank: str = "train+val"  # or "train"
    chunk: int = 1024  # test images per similarity block (memory: chunk x bank size floats)


@dataclass(frozen=True)
class FineTuneConfig(TaskConfig):
    execution_only: ClassVar[frozenset[str]] = frozenset({"workers", "eval_batch_size"})

    image_size: int | None = None  # default: the data's native size when it has one, else the probe's
    steps: int = 300
    batch_size: int = 32
    opt: str = "sgd"  # any timm optimiser name (timm's "sgd" is Nesterov momentum)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    sched: str = "cosine"  # any timm scheduler name, stepped per iteration
    warmup_steps: int = 20
    label_smoothing: float = 0.0
    layer_decay: float | None = None  # e.g. 0.65 for ViT-B
    stage_lr: tuple[float, ...] = ()  # one multiplier per feature_info stage, e.g. [0.1, 0.1, 0.2, 0.2, 0.3]
    train_on: str = "train+val"  # or "train"
    scale_min: float = 0.25  # random-resized-crop minimum area fraction
    hflip: float = 0.5
    workers: int = -1  # DataLoader workers; -1: none on <= 2 CPUs, else min(8, CPUs / 2)
    eval_batch_size: int = 128
    fail_on_bad_images: bool = False


@dataclass(frozen=True)
class ImagenetConfig(TaskConfig):
    """The backbone's own ImageNet-1k classifier on ImageNet's validation images (task ``imagenet``)."""

    execution_only: ClassVar[frozenset[str]] = frozenset({"batch_size", "workers"})

    image_size: int | None = None  # crop side; default: the weights' own input description (sidecar's, else timm's)
    precision: str = "fp32"  # fp32, or bf16 (autocast on CUDA only; CPU always runs fp32)
    batch_size: int = 64
    workers: int = -1  # DataLoader workers; -1: none on <= 2 CPUs, else min(8, CPUs / 2)
    fail_on_bad_images: bool = False  # an undecodable image is an error instead of being excluded and listed


@dataclass(frozen=True)
class MMTaskConfig(TaskConfig):
    """What ``--set`` may change in a detection / segmentation run; ``None`` keeps the profile's value."""

    # 2: a student's own normalisation in the detector's / segmentor's data_preprocessor (0.2.0)
    protocol_version: ClassVar[int] = 2
    execution_only: ClassVar[frozenset[str]] = frozenset({"num_workers", "checkpoint_interval", "resume",
                                                          "vis_backends"})

    recipe: str = ""  # a name in RECIPES[task]; the task's subclass sets the default
    profile: str = "full"  # full: the recipe as published; smoke: CPU-sized, for the built-in data
    max_iters: int | None = None  # iteration-based schedules only; the LR schedule is stretched to fit
    batch_size: int | None = None  # per process; the effective batch is this times the world size
    lr: float | None = None  # the optimizer's base learning rate
    num_workers: int | None = None  # data-loader workers per process
    image_scale: float | None = None  # multiplies every image / crop size of the pipelines (after the profile)
    checkpoint_interval: int | None = None  # epochs or iterations (as the loop counts) between checkpoints
    auto_scale_lr: bool = False  # scale the LR linearly when the effective batch differs from the recipe's
    # continue from this run's own last checkpoint, if any: pass it from the first launch, and re-running the
    # same command after an interruption resumes (a resumed run is a different run: RNG and sampler restart)
    resume: bool = False
    # mmengine visualiser backends beside the local one, by mmengine's name: TensorboardVisBackend,
    # WandbVisBackend, MLflowVisBackend ... (their packages must be installed)
    vis_backends: tuple[str, ...] = ()


@dataclass(frozen=True)
class CocoDetConfig(MMTaskConfig):
    recipe: str = "mask-rcnn-1x"


@dataclass(frozen=True)
class Ade20kSegConfig(MMTaskConfig):
    recipe: str = "upernet-160k"


TASK_CONFIGS: Mapping[str, type[TaskConfig]] = MappingProxyType({
    "linear-probe": LinearProbeConfig,
    "knn": KnnConfig,
    "fine-tune": FineTuneConfig,
    "coco-det": CocoDetConfig,
    "ade20k-seg": Ade20kSegConfig,
    "imagenet": ImagenetConfig,
})


class UnknownTaskError(KeyError):
    """A task name that no task declares."""


def task_config_class(task: str) -> type[TaskConfig]:
    if task not in TASK_CONFIGS:
        raise UnknownTaskError(f"unknown task {task!r}; known: {sorted(TASK_CONFIGS)}")
    return TASK_CONFIGS[task]


def split_config(config: TaskConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the experiment is, how it executes): the resolved config's fields, split by ``execution_only``.
    Values are the typed, resolved ones, so ``lr=0.1``, ``lr=1e-1`` and the default are one value."""
    values = dataclasses.asdict(config)
    skip = type(config).execution_only
    unknown = sorted(skip - set(values))
    if unknown:
        raise ValueError(f"{type(config).__name__}.execution_only names no field: {unknown}")
    return ({k: v for k, v in values.items() if k not in skip}, {k: v for k, v in values.items() if k in skip})
