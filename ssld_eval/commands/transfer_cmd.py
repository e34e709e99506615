"""``ssld-eval transfer --backbone B --task T --dataset D``: one task, one record.

The record key is computed before anything heavy happens (the weights file's hash, the data's identity and
the command line: :mod:`ssld_eval.records.experiment`), so ``--skip-existing`` answers in milliseconds for a
finished run.

From Python, :func:`transfer` does the same and returns the :class:`ResultRecord`::

    from ssld_eval.commands.transfer_cmd import transfer
    record = transfer("runs/ssld/student.safetensors", "linear-probe", "animals", data_root=Path("data/builtin"))
    record.metrics["top1"]

``--data-root``: for a built-in set (``fashion``, ``animals``, ``digits``) the built-in folder holding
``NAME/`` (default ``$SSLD_EVAL_DATA`` or ``data/builtin``); for ``imagefolder`` the folder holding
``train/`` and ``test/``; for the literature sets the folder torchvision's reader expects (the error
message of a wrong root shows the layout).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ssld_core.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, raised_by_us
from ssld_eval.commands import ARCH_HELP
from ssld_eval.config import ConfigError, parse_set_args
from ssld_eval.provenance import canonical_hash, weights_id_for_spec
from ssld_eval.records import ResultRecord, ResultStore
from ssld_eval.records.experiment import Experiment, resolve_experiment
from ssld_eval.tasks.configs import TaskConfig
from ssld_eval.zoo import ZooError, resolve_backbone

DEFAULT_RESULTS = Path("results")
DEFAULT_CACHE = Path.home() / ".cache" / "ssld-eval" / "features"


class TransferError(ValueError):
    """A problem with the inputs (backbone, task, data, overrides); the message says which."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", required=True,
                        help="timm model name, distill run dir, student.safetensors, a .pth/.pt/.safetensors/.pdparams "
                             "(with --arch), or zoo:NAME, a released model ('ssld-eval zoo list')")
    parser.add_argument("--arch", help=ARCH_HELP)
    parser.add_argument("--pretrained", action="store_true", help="timm's pretrained weights (needs internet)")
    parser.add_argument("--allow-missing", action="append", default=[], metavar="REGEX",
                        help="missing checkpoint keys matching REGEX are allowed (repeatable)")
    parser.add_argument("--task", required=True, help="linear-probe, knn, fine-tune, coco-det, ade20k-seg, ...")
    parser.add_argument("--dataset", required=True,
                        help="a registered data set (cifar10, aircraft, voc2007, animals, ...) or imagefolder")
    parser.add_argument("--data-root", type=Path,
                        help="where the data set lives; for built-in sets the folder holding NAME/ "
                             "(default: $SSLD_EVAL_DATA or data/builtin)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: results)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="feature cache folder")
    parser.add_argument("--name", help="display name of the backbone in reports (default: derived)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a key of the task's recipe (repeatable)")
    parser.add_argument("--skip-existing", action="store_true", help="skip if a complete record exists")
    parser.add_argument("--launcher", choices=("none", "pytorch"), default="none",
                        help="pytorch: run under torchrun (detection/segmentation multi-process)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int,
                        help="CPU threads of torch (default: torch's count, from OMP_NUM_THREADS or the cores); "
                             "recorded, not part of the record key")


def display_name(spec: str, name: str | None) -> str:
    if name:
        return name
    path = Path(spec)
    if path.is_dir():
        return path.name
    if path.suffix and path.name == "student.safetensors":
        return path.parent.name
    return path.stem if path.suffix else spec


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch generators (random init, shuffling, timm's augmentations)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def execution_is_deterministic() -> bool:
    """Whether torch's deterministic algorithms are on (``torch.use_deterministic_algorithms``)."""
    import torch

    return torch.are_deterministic_algorithms_enabled()


def transfer(
    backbone: str, task: str, dataset: str, *, data_root: Path | None = None, results: Path = DEFAULT_RESULTS,
    cache_dir: Path = DEFAULT_CACHE, seed: int = 0, overrides: Mapping[str, Any] | None = None,
    arch: str | None = None, pretrained: bool = False, allow_missing: Iterable[str] = (), name: str | None = None,
    device: str = "auto", skip_existing: bool = False, launcher: str = "none", threads: int | None = None,
) -> ResultRecord:
    """Run ``task`` on ``dataset`` with ``backbone`` and write the record; returns it.

    ``overrides`` are the recipe's ``--set`` values (strings are parsed as YAML, as on the command line).
    ``threads``: torch's CPU threads for the run (default: its current count); the record names the count.
    With ``skip_existing``, a complete record of the same key is returned without running anything.
    Raises :class:`TransferError` for bad inputs.
    """
    overrides = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (overrides or {}).items()}
    try:
        backbone, arch, zoo_name = resolve_backbone(backbone, arch)
    except ZooError as exc:
        raise TransferError(str(exc)) from exc
    name = name or zoo_name
    experiment, config = _experiment(backbone, task, dataset, data_root, overrides, seed, pretrained, cache_dir)
    store = ResultStore(results)
    if skip_existing and store.has_complete(experiment.key):
        print(f"skip: complete record {store.path_for(experiment.key)} exists", file=sys.stderr)
        return store.read(store.path_for(experiment.key))
    return _run(experiment, config, store, backbone=backbone, data_root=data_root, cache_dir=Path(cache_dir),
                arch=arch, pretrained=pretrained, allow_missing=allow_missing, name=name, device=device,
                launcher=launcher, threads=threads, overrides=overrides)


def _experiment(backbone: str, task: str, dataset: str, data_root: Path | None, overrides: Mapping[str, str],
                seed: int, pretrained: bool, cache_dir: Path) -> tuple[Experiment, TaskConfig]:
    """The experiment (its key) from the command line alone: no torch, no model."""
    try:
        weights_id = weights_id_for_spec(backbone, pretrained)
        return resolve_experiment(weights_id, task, dataset, data_root, overrides, seed, cache_dir=Path(cache_dir))
    except FileNotFoundError as exc:
        raise TransferError(str(exc)) from exc
    except KeyError as exc:  # an unknown task or data set; the message lists the known ones
        raise TransferError(exc.args[0]) from exc
    except ConfigError as exc:
        raise TransferError(str(exc)) from exc


def _run(experiment: Experiment, config: TaskConfig, store: ResultStore, *, backbone: str, data_root: Path | None,
         cache_dir: Path, arch: str | None, pretrained: bool, allow_missing: Iterable[str], name: str | None,
         device: str, launcher: str, threads: int | None, overrides: dict[str, str]) -> ResultRecord:
    # Heavy imports only once we know there is work to do.
    from ssld_core.devices import resolve_device
    from ssld_eval.backbones import BackboneSpecError, CheckpointMismatchError, load_backbone
    from ssld_eval.datasets import BadImagesError, DatasetLayoutError
    from ssld_eval.features.threads import check_threads, run_threads
    from ssld_eval.tasks import get_task
    from ssld_eval.tasks.base import TaskContext

    try:
        task_obj = get_task(experiment.task)()
        run_device = resolve_device(device)
        check_threads(threads)
        seed_everything(experiment.seed)  # before the model is built: random-init weights depend on it
        loaded = load_backbone(backbone, arch=arch, pretrained=pretrained, allow_missing=allow_missing,
                               weights_id=experiment.weights_id, keep_head=task_obj.keeps_head)
    except (BackboneSpecError, CheckpointMismatchError, ValueError) as exc:
        if not raised_by_us(exc):
            raise  # a bug inside torch or timm keeps its traceback (exit 1), never "error: ..." (exit 2)
        raise TransferError(str(exc)) from exc
    work_dir = store.root / "work" / experiment.key
    work_dir.mkdir(parents=True, exist_ok=True)
    ctx = TaskContext(backbone=loaded, dataset=experiment.dataset, data_root=data_root, seed=experiment.seed,
                      device=run_device, work_dir=work_dir, cache_dir=cache_dir, launcher=launcher)
    started = time.perf_counter()
    seed_everything(experiment.seed)
    try:
        with run_threads(threads) as thread_count:
            result = task_obj.run(ctx, config)
    except (DatasetLayoutError, BadImagesError, ConfigError, BackboneSpecError) as exc:
        raise TransferError(str(exc)) from exc
    execution = {"threads": thread_count, "deterministic": execution_is_deterministic(), "device": str(run_device),
                 "settings": dict(experiment.execution_settings)}
    meta = loaded.meta
    blob, ci95, outcomes = _per_sample(result, experiment.key)
    record = ResultRecord(
        task=experiment.task, dataset=experiment.dataset, backbone=display_name(backbone, name), arch=loaded.arch,
        weights_id=experiment.weights_id, seed=experiment.seed, status=result.status, data_id=experiment.data_id,
        protocol_version=experiment.protocol_version, metrics=result.metrics, ci95=ci95, outcomes=outcomes,
        primary_metric=result.primary_metric,
        overrides=overrides, protocol=result.protocol, config=dict(experiment.config),
        config_hash=canonical_hash(dict(experiment.config)), execution=execution, reason=result.reason,
        method=meta.method if meta else "", teacher=meta.teacher_archs if meta else "",
        source_top1=meta.final_metrics.get("top1") if meta else None, key_audit=loaded.audit.to_dict(),
        bad_images=result.bad_images, duration_s=round(time.perf_counter() - started, 3),
    )
    if record.key != experiment.key:
        raise AssertionError(f"the record's key {record.key} is not the experiment's {experiment.key}")
    if launcher == "pytorch":
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_rank() != 0:
            return record
    store.write(record, outcomes=blob)
    return record


def _per_sample(result: Any, key: str) -> tuple[bytes | None, dict[str, list[float]], dict[str, Any]]:
    """(the outcomes file's bytes, the metrics' 95% intervals, the record's ``outcomes`` field) of a complete
    run whose task kept per-sample outcomes (:mod:`ssld_eval.records.outcomes`)."""
    if result.status != "complete" or not result.outcomes:
        return None, {}, {}
    from ssld_eval.records import outcomes as per_sample

    ci95 = per_sample.intervals(result.metrics, result.outcomes)
    blob = per_sample.encode(result.outcomes)
    return blob, ci95, {"file": f"{key}{per_sample.SUFFIX}", "sha256": per_sample.sha256(blob),
                        "samples": len(result.outcomes["sample_id"]), "bootstrap": per_sample.bootstrap_description()}


def run(args: argparse.Namespace) -> int:
    try:
        overrides = parse_set_args(args.overrides)
        record = transfer(
            args.backbone, args.task, args.dataset, data_root=args.data_root, results=args.results,
            cache_dir=args.cache_dir, seed=args.seed, overrides=overrides, arch=args.arch, pretrained=args.pretrained,
            allow_missing=args.allow_missing, name=args.name, device=args.device, skip_existing=args.skip_existing,
            launcher=args.launcher, threads=args.threads,
        )
    except (ConfigError, TransferError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    path = ResultStore(args.results).path_for(record.key)
    print(json.dumps({"record": str(path), "status": record.status, "metrics": record.metrics,
                      "reason": record.reason}))
    return EXIT_OK if record.status == "complete" else EXIT_FAILED
