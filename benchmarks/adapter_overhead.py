"""What the timm adapter costs: a Mask R-CNN R50-FPN training iteration with ``StrictTimmBackbone`` around
timm's ``resnet50`` against the same detector with mmdet's own ``ResNet`` (depth 50), in one process.

Fair by construction: both detectors are built from configs inheriting mmdet's
``mask-rcnn_r50_fpn_1x_coco.py`` (same frozen stem + layer1, BN in eval), the native backbone receives the
timm weights (the two ResNet-50s share parameter names), the neck and heads get identical weights, every
iteration sees the same images, targets and RNG seed, and the two are timed interleaved (A B B A ...) so
that load from other users of the machine hits both alike. Prints one JSON line with the medians.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/adapter_overhead.py [--iters 8] [--warmup 2] [--size 320] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssld_eval.mm.recipes import CONFIG_ROOT  # noqa: E402


def build_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    from mmdet.registry import MODELS

    init_default_scope("mmdet")
    ours_cfg = Config.fromfile(CONFIG_ROOT / "coco_det" / "mask-rcnn_fpn_1x.py")
    ours_cfg.model.backbone.arch = "resnet50"
    ours_cfg.model.neck.in_channels = [256, 512, 1024, 2048]
    import mmdet

    shipped = Path(mmdet.__file__).parent / ".mim" / "configs" / "mask_rcnn" / "mask-rcnn_r50_fpn_1x_coco.py"
    native_cfg = Config.fromfile(shipped)
    native_cfg.model.backbone.init_cfg = None  # timm's weights are copied in below; no download
    ours, native = MODELS.build(ours_cfg.model), MODELS.build(native_cfg.model)
    ours.init_weights()
    native.init_weights()
    native.backbone.load_state_dict(ours.backbone.model.state_dict(), strict=True)
    rest = {k: v for k, v in ours.state_dict().items() if not k.startswith("backbone.")}
    missing, unexpected = native.load_state_dict(rest, strict=False)
    if unexpected or any(not k.startswith("backbone.") for k in missing):
        raise RuntimeError(f"neck/head weights do not transfer: {unexpected} {missing}")
    return ours, native


def make_batch(size: int, batch: int) -> dict:
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator))
        boxes = []
        masks = torch.zeros(3, size, size, dtype=torch.uint8)
        for j in range(3):
            x0, y0 = (torch.rand(2, generator=generator) * size * 0.5).tolist()
            w, h = (size * (0.2 + 0.3 * torch.rand(2, generator=generator))).tolist()
            boxes.append([x0, y0, x0 + w, y0 + h])
            masks[j, int(y0):int(y0 + h), int(x0):int(x0 + w)] = 1
        sample = DetDataSample(metainfo={"img_shape": (size, size), "ori_shape": (size, size),
                                         "pad_shape": (size, size), "scale_factor": (1.0, 1.0),
                                         "batch_input_shape": (size, size)})
        sample.gt_instances = InstanceData(bboxes=torch.tensor(boxes), labels=torch.tensor([0, 1, 2]),
                                           masks=BitmapMasks(masks.numpy(), size, size))
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


def step_time(model: torch.nn.Module, wrapper: OptimWrapper, batch: dict, seed: int) -> float:
    torch.manual_seed(seed)
    start = time.perf_counter()
    model.train_step(batch, wrapper)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=8, help="timed iterations per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per model")
    parser.add_argument("--size", type=int, default=320, help="square image side (px)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: torch's default); 1 avoids OpenMP stalls on a busy CPU")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # mmengine logs every parameter's initialisation to stdout; this script's stdout is one JSON line
    MMLogger.get_instance("adapter_overhead", log_level="ERROR")
    load_before = os.getloadavg()
    ours, native = build_pair()
    models = {"adapter": ours, "native": native}
    wrappers = {name: OptimWrapper(torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9))
                for name, m in models.items()}
    batch = make_batch(args.size, args.batch)
    times: dict[str, list[float]] = {"adapter": [], "native": []}
    for i in range(args.warmup + args.iters):
        order = ("adapter", "native") if i % 2 == 0 else ("native", "adapter")
        for name in order:
            elapsed = step_time(models[name], wrappers[name], batch, seed=i)
            if i >= args.warmup:
                times[name].append(elapsed)
    adapter_s, native_s = statistics.median(times["adapter"]), statistics.median(times["native"])
    print(json.dumps({
        "adapter_s": round(adapter_s, 4), "native_s": round(native_s, 4), "ratio": round(adapter_s / native_s, 4),
        "iters": args.iters, "warmup": args.warmup, "image": [args.size, args.size], "batch": args.batch,
        "order": "interleaved ABBA", "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "adapter_all_s": [round(t, 4) for t in times["adapter"]],
        "native_all_s": [round(t, 4) for t in times["native"]],
    }))


if __name__ == "__main__":
    main()
