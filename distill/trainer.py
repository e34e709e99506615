"""The training loop: one or two stages (distillation, then an optional labelled fine-tune), resumable bitwise.

Per step: the method's loss terms are computed (the teacher runs only when there is no cache), each term is
checked for NaN/Inf (the run stops naming the term and the step, before anything is written), their sum is
back-propagated, gradients are optionally clipped, timm's optimiser and per-step scheduler advance, and the
optional timm ``ModelEmaV3`` of the student is updated. Checkpoints (see :mod:`distill.checkpoint`) hold
everything the next step depends on, so resuming from one continues exactly as the unbroken run would.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3, dispatch_clip_grad
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from distill.checkpoint import (
    NonFiniteError,
    assert_finite,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from distill.data import ImageSet
from distill.distributed import DistInfo, any_process
from distill.loader import EvalDataset, StepSampler, normalize, split_batch
from distill.methods.base import Batch, DistillMethod
from distill.recipe import Recipe, TrainConfig
from distill.train_log import TrainLog
from ssld_core.devices import autocast

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class Stage:
    name: str  # "distill" or "finetune"
    index: int
    start: int  # global step at which the stage begins
    steps: int
    lr: float

    @property
    def end(self) -> int:
        return self.start + self.steps


def plan_stages(train: TrainConfig) -> list[Stage]:
    stages = [Stage("distill", 0, 0, train.steps, train.lr)]
    if train.finetune_steps:
        stages.append(Stage("finetune", 1, train.steps, train.finetune_steps, train.finetune_lr))
    return stages



def make_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int, device: torch.device,
                sampler: Any = None) -> DataLoader:
    """A DataLoader with its own generator, so that creating one never advances torch's global RNG."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed), pin_memory=device.type == "cuda")


@torch.no_grad()
def evaluate(model: nn.Module, images: ImageSet, recipe: Recipe, device: torch.device) -> dict[str, Any]:
    """Top-1 (percent) of ``model`` on an ImageFolder split, centre crops."""
    cfg, train = recipe.data, recipe.train
    mean = torch.tensor(cfg.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=device).view(1, 3, 1, 1)
    was_training = model.training
    model.eval()
    correct = total = 0
    loader = make_loader(EvalDataset(images, cfg), train.eval_batch_size, train.num_workers, 0, device)
    for batch in loader:
        x = normalize(batch["image"].to(device), mean, std, train.channels_last)
        with autocast(device):
            logits = model(x)
        correct += int((logits.argmax(dim=-1).cpu() == batch["label"]).sum())
        total += len(batch["label"])
    model.train(was_training)
    return {"top1": 100.0 * correct / total, "split": images.name, "images": total}


class Trainer:
    """Runs the stages of one recipe on one process (of ``info.world_size``)."""

    def __init__(self, recipe: Recipe, method: DistillMethod, *, datasets: dict[str, Dataset], val: ImageSet | None,
                 device: torch.device, info: DistInfo, work_dir: Path, config: dict[str, Any], config_hash: str,
                 teacher_sha256: list[str], progress: bool, log: Callable[[str], None]) -> None:
        self.recipe, self.train_cfg = recipe, recipe.train
        self.method, self.datasets, self.val, self.device, self.info = method, datasets, val, device, info
        self.work_dir, self.checkpoints = work_dir, work_dir / "checkpoints"
        self.config, self.config_hash, self.teacher_sha256 = config, config_hash, teacher_sha256
        self.progress, self.log = progress and info.is_main, log
        self.stages = plan_stages(self.train_cfg)
        self.total_steps = self.stages[-1].end
        self.ema = (ModelEmaV3(method.student, decay=self.train_cfg.ema_decay, use_warmup=self.train_cfg.ema_warmup)
                    if self.train_cfg.ema_decay else None)
        self.mean = torch.tensor(recipe.data.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(recipe.data.std, device=device).view(1, 3, 1, 1)
        self.step = 0
        self.eval_history: list[dict[str, Any]] = []
        self.train_log = TrainLog(work_dir, tuple(self.train_cfg.log_to), info.is_main)

    # -- checkpoints -------------------------------------------------------------------------------------
    def _state(self, stage: Stage, optimizer: torch.optim.Optimizer, scheduler: Any,
               sampler: StepSampler) -> dict[str, Any]:
        epoch, index = sampler.position(self.step - stage.start)
        return {
            "format": CHECKPOINT_FORMAT, "step": self.step, "stage": stage.name, "stage_step": self.step - stage.start,
            "sampler": {"stage": stage.index, "epoch": epoch, "index_in_epoch": index, "seed": self.train_cfg.seed},
            "config": self.config, "config_hash": self.config_hash, "teacher_sha256": self.teacher_sha256,
            "model": {k: v for k, v in self.method.state_dict().items() if not k.startswith("teacher.")},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng_state(), "eval_history": self.eval_history,
        }

    def _save(self, stage: Stage, optimizer: torch.optim.Optimizer, scheduler: Any, sampler: StepSampler) -> None:
        assert_finite(self.method, f"checkpoint at step {self.step}")
        if self.info.is_main:
            save_checkpoint(self.checkpoints, self.step, self._state(stage, optimizer, scheduler, sampler),
                            self.train_cfg.keep_checkpoints)

    def restore(self) -> dict[str, Any]:
        """Load the newest checkpoint into the method and EMA; returns it (for the optimiser and RNG)."""
        found = list_checkpoints(self.checkpoints)
        if not found:
            raise FileNotFoundError(f"--resume: no checkpoint in {self.checkpoints}")
        state = load_checkpoint(found[-1])
        if list(state["teacher_sha256"]) != self.teacher_sha256:
            raise ValueError(f"--resume: {found[-1]} was trained with teacher weights {state['teacher_sha256']}, "
                             f"the recipe's teacher now has {self.teacher_sha256}")
        missing, unexpected = self.method.load_state_dict(state["model"], strict=False)
        missing = [k for k in missing if not k.startswith("teacher.")]
        if missing or unexpected:
            raise ValueError(f"{found[-1]}: model keys differ (missing {missing[:10]}, unexpected {unexpected[:10]})")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        self.eval_history = list(state.get("eval_history", []))
        self.log(f"resumed from {found[-1]} at step {self.step}/{self.total_steps}")
        return state

    # -- one stage ---------------------------------------------------------------------------------------
    def _optimizer(self, stage: Stage) -> tuple[torch.optim.Optimizer, Any]:
        cfg = self.train_cfg
        module = self.method if stage.name == "distill" else self.method.student
        optimizer = create_optimizer_v2(module, opt=cfg.opt, lr=stage.lr, weight_decay=cfg.weight_decay,
                                        momentum=cfg.momentum)
        warmup = cfg.warmup_steps if stage.name == "distill" else 0
        scheduler, _ = create_scheduler_v2(optimizer, sched=cfg.sched, num_epochs=stage.steps, warmup_epochs=warmup,
                                           warmup_lr=cfg.warmup_lr, min_lr=cfg.min_lr, step_on_epochs=False,
                                           updates_per_epoch=1)
        return optimizer, scheduler

    def _loss_terms(self, module: nn.Module, stage: Stage, batch: Batch) -> dict[str, torch.Tensor]:
        with autocast(self.device):
            if stage.name == "finetune":
                return {"finetune_ce": F.cross_entropy(module(batch.images).float(), batch.labels)}
            return module(batch)

    def _check_terms(self, terms: dict[str, torch.Tensor], stage: Stage) -> None:
        for name, term in terms.items():
            if not isinstance(term, torch.Tensor) or term.dim() != 0:
                raise ValueError(f"method {self.method.name!r}: loss term {name!r} is not a scalar tensor")
        values = torch.stack([t.detach().float() for t in terms.values()])
        local_bad = not bool(torch.isfinite(values).all())
        if any_process(local_bad, self.info, self.device):
            bad = [f"{n!r} is {float(t.detach())}" for n, t in terms.items() if not bool(torch.isfinite(t.detach()))]
            where = ", ".join(bad) if bad else "non-finite on another process"
            raise NonFiniteError(f"loss term {where} at step {self.step + 1} (stage {stage.name}); stopping "
                                 f"without writing a checkpoint (last one: step {self._last_saved()})")

    def _last_saved(self) -> int | None:
        found = list_checkpoints(self.checkpoints)
        return int(found[-1].stem.split("_")[1]) if found else None

    def run_stage(self, stage: Stage, resumed: dict[str, Any] | None) -> None:
        cfg = self.train_cfg
        optimizer, scheduler = self._optimizer(stage)
        local_step = self.step - stage.start
        if resumed is not None and resumed["stage"] == stage.name and resumed["stage_step"] == local_step:
            optimizer.load_state_dict(resumed["optimizer"])
            scheduler.load_state_dict(resumed["scheduler"])
        scheduler.step_update(num_updates=local_step)
        dataset = self.datasets[stage.name]
        world, rank = self.info.world_size, self.info.rank
        sampler = StepSampler(len(dataset), cfg.batch_size, cfg.seed, stage.index, local_step, stage.steps, rank, world)
        loader = make_loader(dataset, sampler.local_batch, cfg.num_workers, cfg.seed, self.device, sampler)
        module: nn.Module = self.method if stage.name == "distill" else self.method.student
        if self.info.enabled:
            module = DistributedDataParallel(module)
        pass_labels = stage.name == "finetune" or self.method.uses_labels
        self.method.train()
        bar = tqdm(total=self.total_steps, initial=self.step, desc=stage.name, file=sys.stderr,
                   disable=not self.progress, dynamic_ncols=True)
        started, images_seen = time.perf_counter(), 0
        for batch in loader:
            images, labels, cached = split_batch(batch)
            labels = labels.to(self.device) if pass_labels else torch.full_like(labels, -1, device=self.device)
            if cached is not None:
                cached = {k: v.to(self.device, non_blocking=True) for k, v in cached.items()}
            x = normalize(images.to(self.device, non_blocking=True), self.mean, self.std, cfg.channels_last)
            terms = self._loss_terms(module, stage, Batch(x, labels, cached if stage.name == "distill" else None))
            self._check_terms(terms, stage)
            loss = torch.stack([t.float() for t in terms.values()]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad:
                dispatch_clip_grad([p for p in module.parameters() if p.requires_grad], cfg.clip_grad)
            optimizer.step()
            local_step += 1
            self.step += 1
            scheduler.step_update(num_updates=local_step)
            if self.ema is not None:
                self.ema.update(self.method.student, step=self.step)
            images_seen += len(images) * world
            bar.update(1)
            if local_step % cfg.log_every == 0 or local_step == stage.steps:
                rate = images_seen / max(time.perf_counter() - started, 1e-9)
                self._log_json({"step": self.step, "stage": stage.name, "lr": optimizer.param_groups[0]["lr"],
                                "loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()},
                                "images_per_s": round(rate, 2)})
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.val is not None:
                self._evaluate_val()
            if local_step % cfg.checkpoint_every == 0 or local_step == stage.steps:
                self._save(stage, optimizer, scheduler, sampler)
        bar.close()

    def _evaluate_val(self) -> None:
        if self.info.is_main and self.val is not None:
            result = {"step": self.step, **evaluate(self.final_model(), self.val, self.recipe, self.device)}
            self.eval_history.append(result)
            self._log_json({"eval": result})

    def _log_json(self, record: dict[str, Any]) -> None:
        self.train_log.write(record)

    def fit(self, resume: bool) -> None:
        resumed = self.restore() if resume else None
        if resumed is not None:
            set_rng_state(resumed["rng"])
        else:
            torch.manual_seed(self.train_cfg.seed)
        try:
            for stage in self.stages:
                if self.step < stage.end:
                    self.run_stage(stage, resumed)
        finally:
            self.train_log.close()

    def final_model(self) -> nn.Module:
        """The student that is exported: the EMA when ``train.ema_decay`` is set."""
        return self.ema.module if self.ema is not None else self.method.student
