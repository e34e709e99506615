"""Feature-extraction throughput of the probe's own path against the machine's fp32 matmul rate.

ResNet-50 (timm, headless) at 224 px, batch 32, fp32, through :func:`ssld_eval.features.extract.prepare_model`
and :func:`~ssld_eval.features.extract.forward_batches` (what the linear probe runs: eval mode,
channels_last, inference mode), once eager (the path for small data sets) and once with ``torch.compile``
(the path from ``COMPILE_MIN_IMAGES`` images on); decoding is left out (random input). Side by side in
one process with the same threads: a 2048^3 fp32 ``torch.matmul`` timed the same way. Measurements
alternate in rounds (the machine may be shared) and the medians are reported; both run on the
extractor's thread count (torch's, ``ssld_eval.features.threads``), reported as ``threads``.

Prints one JSON line: ``images_per_s`` / ``achieved_gflops`` / ``ratio`` of the compiled path,
``eager_*`` of the eager one, ``matmul_gflops``, ``compile_s``, the break-even image count of compiling,
the model's GFLOPs per image (FlopCounterMode, 2 per multiply-add) and the 1-minute load average.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from ssld_eval.features.extract import forward_batches, prepare_model
from ssld_eval.features.threads import cpu_threads
from ssld_eval.tasks.configs import COMPILE_MIN_IMAGES

BATCH, SIZE, ROUNDS, BATCHES_PER_ROUND, MATMUL_N = 32, 224, 5, 3, 2048


def gflops_per_image(model: torch.nn.Module) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, SIZE, SIZE))
    return counter.get_total_flops() / 1e9


def time_forward(run: torch.nn.Module, images: torch.Tensor, device: torch.device) -> float:
    """Seconds per image over BATCHES_PER_ROUND batches."""
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(BATCHES_PER_ROUND):
            forward_batches(run, images, device, BATCH)
    return (time.perf_counter() - started) / (BATCHES_PER_ROUND * BATCH)


def time_matmul(a: torch.Tensor, b: torch.Tensor, seconds: float) -> float:
    """GFLOP/s of ``a @ b`` repeated for about ``seconds``."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or count < 2:
        torch.matmul(a, b)
        count += 1
    return 2 * MATMUL_N**3 * count / elapsed / 1e9


def measure_rounds(eager: torch.nn.Module, compiled: torch.nn.Module, images: torch.Tensor, a: torch.Tensor,
                   b: torch.Tensor, device: torch.device, rates: dict[str, list[float]]) -> None:
    for _ in range(ROUNDS):
        eager_s = time_forward(eager, images, device)
        compiled_s = time_forward(compiled, images, device)
        rates["eager"].append(1 / eager_s)
        rates["compiled"].append(1 / compiled_s)
        rates["matmul"].append(time_matmul(a, b, seconds=(eager_s + compiled_s) * BATCH * BATCHES_PER_ROUND / 2))


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = timm.create_model("resnet50", num_classes=0).eval()
    flops = gflops_per_image(model)
    images = torch.randn(BATCH, 3, SIZE, SIZE)
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)

    rates: dict[str, list[float]] = {"eager": [], "compiled": [], "matmul": []}
    with cpu_threads() as threads:  # the extractor's thread count, for the model and the matmul alike
        eager = prepare_model(model, device, compile_model=False)
        compiled = prepare_model(model, device, compile_model=True)
        started = time.perf_counter()
        with torch.inference_mode():
            forward_batches(compiled, images, device, BATCH)  # compiles
        compile_s = time.perf_counter() - started
        with torch.inference_mode():
            forward_batches(eager, images, device, BATCH)  # warm-up
        torch.matmul(a, b)
        measure_rounds(eager, compiled, images, a, b, device, rates)
    eager_ips, compiled_ips, matmul = (statistics.median(rates[k]) for k in ("eager", "compiled", "matmul"))
    saving = 1 / eager_ips - 1 / compiled_ips
    print(json.dumps({
        "images_per_s": round(compiled_ips, 2), "achieved_gflops": round(compiled_ips * flops, 2),
        "matmul_gflops": round(matmul, 2), "ratio": round(compiled_ips * flops / matmul, 3),
        "eager_images_per_s": round(eager_ips, 2), "eager_achieved_gflops": round(eager_ips * flops, 2),
        "eager_ratio": round(eager_ips * flops / matmul, 3), "compile_s": round(compile_s, 1),
        "compile_break_even_images": round(compile_s / saving) if saving > 0 else None,
        "compile_min_images": COMPILE_MIN_IMAGES, "gflops_per_image": round(flops, 3), "batch": BATCH,
        "image_size": SIZE, "threads": threads, "load_avg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
