"""``ssld-eval transfer --backbone B --task T --dataset D``: one task, one record.

The record key is computed before anything heavy happens (it needs only the weights file's hash and the
command line), so ``--skip-existing`` answers in milliseconds for a finished run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ssld_eval.config import ConfigError, build_config, config_to_dict, parse_set_args
from ssld_eval.provenance import canonical_hash, weights_id_for_spec
from ssld_eval.records import ResultRecord, ResultStore, record_key

DEFAULT_RESULTS = Path("results")
DEFAULT_CACHE = Path.home() / ".cache" / "ssld-eval" / "features"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", required=True,
                        help="timm model name, distill run dir, student.safetensors, or a .pth/.pt/.safetensors")
    parser.add_argument("--arch", help="timm architecture of a checkpoint that has no student.json beside it")
    parser.add_argument("--pretrained", action="store_true", help="timm's pretrained weights (needs internet)")
    parser.add_argument("--allow-missing", action="append", default=[], metavar="REGEX",
                        help="missing checkpoint keys matching REGEX are allowed (repeatable)")
    parser.add_argument("--task", required=True, help="linear-probe, knn, fine-tune, coco-det, ade20k-seg, ...")
    parser.add_argument("--dataset", required=True, help="a registered data set name, or imagefolder")
    parser.add_argument("--data-root", type=Path, help="where the data set lives on disk")
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


def display_name(spec: str, name: str | None) -> str:
    if name:
        return name
    path = Path(spec)
    if path.is_dir():
        return path.name
    if path.suffix and path.name == "student.safetensors":
        return path.parent.name
    return path.stem if path.suffix else spec


def run(args: argparse.Namespace) -> int:
    try:
        overrides = parse_set_args(args.overrides)
        weights_id = weights_id_for_spec(args.backbone, args.pretrained)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = ResultStore(args.results)
    key = record_key(weights_id, args.task, args.dataset, overrides, args.seed)
    if args.skip_existing and store.has_complete(key):
        print(f"skip: complete record {store.path_for(key)} exists")
        return 0

    # Heavy imports only once we know there is work to do.
    from ssld_eval.backbones import BackboneSpecError, CheckpointMismatchError, load_backbone
    from ssld_eval.devices import resolve_device
    from ssld_eval.tasks import get_task
    from ssld_eval.tasks.base import TaskContext

    try:
        task = get_task(args.task)()
        config = build_config(task.Config, overrides)
        device = resolve_device(args.device)
        backbone = load_backbone(args.backbone, arch=args.arch, pretrained=args.pretrained,
                                 allow_missing=args.allow_missing)
    except (KeyError, ConfigError, ValueError, BackboneSpecError, CheckpointMismatchError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    work_dir = args.results / "work" / key
    work_dir.mkdir(parents=True, exist_ok=True)
    ctx = TaskContext(backbone=backbone, dataset=args.dataset, data_root=args.data_root, seed=args.seed,
                      device=device, work_dir=work_dir, cache_dir=args.cache_dir, launcher=args.launcher)
    started = time.perf_counter()
    result = task.run(ctx, config)
    provenance = backbone.provenance
    config_dict = config_to_dict(config)
    record = ResultRecord(
        task=args.task, dataset=args.dataset, backbone=display_name(args.backbone, args.name),
        arch=backbone.arch, weights_id=weights_id, seed=args.seed, status=result.status,
        metrics=result.metrics, primary_metric=result.primary_metric, overrides=overrides,
        protocol=result.protocol, config=config_dict, config_hash=canonical_hash(config_dict),
        reason=result.reason, method=str(provenance.get("method", "")),
        teacher=str(provenance.get("teacher", {}).get("arch", "")) if provenance else "",
        source_top1=provenance.get("final_metrics", {}).get("top1") if provenance else None,
        key_audit=backbone.audit.to_dict(), bad_images=result.bad_images,
        duration_s=round(time.perf_counter() - started, 3),
    )
    if args.launcher == "pytorch":
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_rank() != 0:
            return 0 if result.status == "complete" else 1
    path = store.write(record)
    print(json.dumps({"record": str(path), "status": record.status, "metrics": record.metrics,
                      "reason": record.reason}))
    return 0 if result.status == "complete" else 1
