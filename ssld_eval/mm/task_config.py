"""The ``--set`` keys of the detection and segmentation tasks. Kept free of mmengine/mmdet imports: the
task registry imports every task module to list them, and listing must stay cheap."""

from __future__ import annotations

from dataclasses import dataclass

from ssld_eval.tasks.base import TaskConfig


@dataclass(frozen=True)
class MMTaskConfig(TaskConfig):
    """What ``--set`` may change in a detection / segmentation run; ``None`` keeps the profile's value."""

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
