"""``run_recipe``: one recipe from YAML to ``student.safetensors`` + ``student.json``.

Work dir layout: ``student.safetensors``, ``student.json``, ``recipe.json`` (resolved), ``log.jsonl``,
``checkpoints/step_*.pt`` and, unless ``cache.dir`` points elsewhere, ``teacher_cache/``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from distill.cache import TeacherCache, build_cache, cache_key
from distill.checkpoint import list_checkpoints
from distill.data import DataSplits, load_splits
from distill.distributed import DistInfo, barrier, init_distributed, process_device, shutdown
from distill.export import STUDENT_META, export_student
from distill.loader import TrainDataset, normalize
from distill.methods.base import DistillMethod, SoftTargetMethod
from distill.models import TeacherInfo, build_student, build_teacher, pretrained_identity, resolve_teacher
from distill.recipe import Recipe, config_differences, config_hash, load_recipe, semantic_config, with_overrides
from distill.registry import get_method
from distill.trainer import Trainer, evaluate
from ssld_core.devices import resolve_device
from ssld_core.inputs import parse_input_spec
from ssld_core.provenance import git_sha, library_versions
from ssld_core.sidecar import BackboneMeta, TeacherEntry


def default_work_dir(recipe: Recipe) -> Path:
    """``work_dirs/<method>/<recipe file stem>``."""
    return Path("work_dirs") / recipe.method / Path(recipe.source).stem


def _check_work_dir(work_dir: Path, resume: bool, recipe: Recipe) -> None:
    checkpoints = list_checkpoints(work_dir / "checkpoints")
    if resume:
        if not checkpoints:
            raise FileNotFoundError(f"--resume: no checkpoint in {work_dir / 'checkpoints'}")
        saved = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)["config"]
        differences = config_differences(saved, semantic_config(recipe))
        if differences:
            raise ValueError(f"--resume: the recipe differs from the checkpoint's in {len(differences)} key(s): "
                             + "; ".join(differences))
    elif checkpoints or (work_dir / STUDENT_META).exists():
        raise FileExistsError(f"{work_dir} holds a previous run; pass --resume to continue it or choose another "
                              "--work-dir")


def _teachers(recipe: Recipe, num_classes: int, method_cls: type) -> tuple[nn.Module | None, list[TeacherInfo]]:
    infos, models = [], []
    for i, cfg in enumerate(recipe.teacher):
        where = "teacher" if len(recipe.teacher) == 1 else f"teacher.{i}"
        info = resolve_teacher(cfg, recipe, where)
        if issubclass(method_cls, SoftTargetMethod) and info.num_classes != num_classes:
            raise ValueError(f"{where}: the teacher predicts {info.num_classes} classes, the data has {num_classes} "
                             f"(method {recipe.method!r} matches class distributions)")
        model = build_teacher(info, where)
        infos.append(pretrained_identity(info, model))
        models.append(model)
    if not models:
        return None, infos
    return (models[0] if len(models) == 1 else nn.ModuleList(models)), infos


def _prepare_cache(recipe: Recipe, method: DistillMethod, splits: DataSplits, infos: list[TeacherInfo],
                   work_dir: Path, device: torch.device, info: DistInfo,
                   log: Callable[[str], None]) -> TeacherCache:
    directory = recipe.path(recipe.cache.dir) if recipe.cache.dir else work_dir / "teacher_cache"
    key = cache_key([t.to_dict() for t in infos], splits.train_hashes(), recipe.data, recipe.cache,
                    method.cache_signature())
    if info.is_main:
        cache = TeacherCache.open(directory, key)
        if cache is None:
            log(f"building the teacher cache in {directory} ({recipe.cache.views} views per image)")
            mean = torch.tensor(recipe.data.mean, device=device).view(1, 3, 1, 1)
            std = torch.tensor(recipe.data.std, device=device).view(1, 3, 1, 1)
            method.eval()
            images = [s for s in (splits.train, splits.extra) if s is not None]
            cache = build_cache(directory, key, images, recipe.data, recipe.cache, method.teacher_targets,
                                lambda x: normalize(x.to(device), mean, std, recipe.train.channels_last),
                                recipe.train.num_workers, log)
    barrier(info)
    if not info.is_main:
        cache = TeacherCache.open(directory, key)
    assert cache is not None  # rank 0 built it before the barrier
    log(f"teacher cache {directory}: {cache.bytes_per_image:.0f} bytes per image")
    return cache


def _build_method(recipe: Recipe, num_classes: int, device: torch.device,
                  info: DistInfo) -> tuple[DistillMethod, list[TeacherInfo]]:
    """The student, its teacher(s) and the method joining them, on ``device``."""
    method_cls = get_method(recipe.method)
    torch.manual_seed(recipe.train.seed)
    student = build_student(recipe.student, num_classes, recipe)
    teacher, infos = _teachers(recipe, num_classes, method_cls)
    params = recipe.method_params.with_training_size(recipe.data.image_size)  # after --set data.image_size
    method: DistillMethod = method_cls(student, teacher, params)
    if recipe.train.sync_bn and info.enabled and device.type == "cuda":
        method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
    method.to(device)
    if recipe.train.channels_last:
        method.to(memory_format=torch.channels_last)
    return method, infos


def _final_metrics(trainer: Trainer, method: DistillMethod, splits: DataSplits, recipe: Recipe,
                   device: torch.device) -> dict[str, Any]:
    """The exported student's own evaluation (and the live student's beside the EMA's), or why there is none."""
    classifier_trained = method.trains_classifier or recipe.train.finetune_steps > 0
    evaluable = splits.eval_set is not None and classifier_trained
    metrics = evaluate(trainer.final_model(), splits.eval_set, recipe, device) if evaluable else {}
    if not classifier_trained:
        metrics["classifier"] = (f"untrained ({recipe.method} trains features only): judge the student by kNN "
                                 "or linear probe (ssld-eval transfer)")
    elif trainer.ema is not None and evaluable:
        metrics["top1_without_ema"] = evaluate(method.student, splits.eval_set, recipe, device)["top1"]
    return metrics


def _student_meta(recipe: Recipe, splits: DataSplits, infos: list[TeacherInfo], metrics: dict[str, Any],
                  trainer: Trainer, cache: TeacherCache | None, run: dict[str, Any]) -> BackboneMeta:
    """``student.json``: what the student is (typed) and where it came from (``provenance``)."""
    return BackboneMeta(
        arch=recipe.student.arch, kind="student", num_classes=splits.num_classes,
        model_kwargs=dict(recipe.student.model_kwargs), method=recipe.method,
        # the inputs the student was trained on, in timm's data-config shape: every transfer task reads it
        data_config=parse_input_spec({"input_size": [3, recipe.data.image_size, recipe.data.image_size],
                                      "interpolation": "bilinear", "crop_pct": recipe.data.eval_crop_pct,
                                      "mean": list(recipe.data.mean), "std": list(recipe.data.std)},
                                     "the recipe's data block"),
        teachers=tuple(TeacherEntry(t.arch, t.weights_sha256, t.num_classes, t.to_dict()["source"]) for t in infos),
        final_metrics=metrics,
        provenance={
            "data": {"manifest_sha256": splits.manifest()["manifest_sha256"], **splits.manifest()},
            "config": recipe.to_dict(), "config_hash": trainer.config_hash, "steps": trainer.step,
            "seed": recipe.train.seed, "eval_history": trainer.eval_history, "bad_images": splits.bad_images,
            "ema": trainer.ema is not None,
            "cache": None if cache is None else {"dir": str(cache.directory), "bytes_per_image": cache.bytes_per_image},
            **run, "git_sha": git_sha(), "versions": library_versions(),
        },
    )


def _train(recipe: Recipe, work_dir: Path, device: torch.device, info: DistInfo, resume: bool,
           progress: bool, log: Callable[[str], None]) -> Path:
    started = time.perf_counter()
    splits = load_splits(recipe)
    for bad in splits.bad_images:
        log(f"skipped unreadable image {bad['path']} ({bad['error']})")
    method, infos = _build_method(recipe, splits.num_classes, device, info)
    cache = _prepare_cache(recipe, method, splits, infos, work_dir, device, info, log) if recipe.cache.enabled else None
    labelled_and_extra = [s for s in (splits.train, splits.extra) if s is not None]
    datasets = {"distill": TrainDataset(labelled_and_extra, recipe.data, recipe.train.seed, 0, cache)}
    if recipe.train.finetune_steps:
        datasets["finetune"] = TrainDataset([splits.train], recipe.data, recipe.train.seed, 1)
    trainer = Trainer(recipe, method, datasets=datasets, val=splits.val, device=device, info=info, work_dir=work_dir,
                      config=semantic_config(recipe), config_hash=config_hash(recipe),
                      teacher_sha256=[t.weights_sha256 for t in infos], progress=progress, log=log)
    log(f"distill: {recipe.method} | student {recipe.student.arch} | teacher "
        f"{', '.join(t.arch for t in infos) or '-'} | {len(datasets['distill'])} images | "
        f"{trainer.total_steps} steps | {info.world_size} process(es) on {device}")
    trainer.fit(resume)
    weights = work_dir / "student.safetensors"
    if info.is_main:
        metrics = _final_metrics(trainer, method, splits, recipe, device)
        run = {"world_size": info.world_size, "wall_seconds": round(time.perf_counter() - started, 2),
               "execution": {"threads": torch.get_num_threads(), "device": str(device),
                             "deterministic": torch.are_deterministic_algorithms_enabled()}}
        state = {k: v.detach().clone(memory_format=torch.contiguous_format)
                 for k, v in trainer.final_model().state_dict().items()}
        export_student(work_dir, state, _student_meta(recipe, splits, infos, metrics, trainer, cache, run))
        if "top1" in metrics:
            shown = f"{metrics['split']} top-1 {metrics['top1']:.2f}%"
        elif "classifier" in metrics:
            shown = "top-1 not reported: the classifier is untrained"
        else:
            shown = "no eval split"
        log(f"wrote {weights} | {shown}")
    barrier(info)
    return work_dir


def run_recipe(recipe: str | Path | Recipe, work_dir: str | Path | None = None, *,
               overrides: Iterable[str] | Mapping[str, Any] = (), device: str = "auto", resume: bool = False,
               on_bad_image: str | None = None, progress: bool | None = None,
               log: Callable[[str], None] | None = None) -> Path:
    """Train one recipe and return its work dir (holding ``student.safetensors`` and ``student.json``).

    ``recipe`` is a YAML path or a :class:`~distill.recipe.Recipe`; ``overrides`` are ``--set`` items
    (``["train.steps=100"]`` or ``{"train.steps": 100}``). Under ``torchrun`` every process calls this.
    """
    recipe = load_recipe(recipe, overrides) if not isinstance(recipe, Recipe) else with_overrides(recipe, overrides)
    if on_bad_image is not None:
        recipe = with_overrides(recipe, {"data.on_bad_image": on_bad_image})
    work_dir = Path(work_dir) if work_dir is not None else default_work_dir(recipe)
    base_device = resolve_device(device)
    own_group = not torch.distributed.is_initialized()
    threads_before = torch.get_num_threads()
    info = init_distributed(base_device)
    run_device = process_device(base_device, info)
    say = log if log is not None else (lambda message: print(message, file=sys.stderr, flush=True))
    quiet = say if info.is_main else (lambda message: None)
    try:
        _check_work_dir(work_dir, resume, recipe)
        barrier(info)
        if info.is_main:
            work_dir.mkdir(parents=True, exist_ok=True)
            (work_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
        barrier(info)
        show_progress = sys.stderr.isatty() if progress is None else progress
        if recipe.train.threads is not None:
            torch.set_num_threads(recipe.train.threads)
        return _train(recipe, work_dir, run_device, info, resume, show_progress, quiet)
    finally:
        torch.set_num_threads(threads_before)
        if own_group:
            shutdown(info)
