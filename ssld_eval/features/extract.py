"""Pooled penultimate features of a frozen backbone over one split: ``model(x)`` of a timm model built with
``num_classes=0``.

Speed on CPU: fp32 (these CPUs have no bf16 units), channels_last (oneDNN's fast convolution layout) and,
for many images, ``torch.compile`` (Inductor fuses the convolutions with their batch norms and activations).
Compiling costs tens of seconds up front, so it is used only when the number of images makes it pay (see
:data:`ssld_eval.tasks.configs.COMPILE_MIN_IMAGES`, measured by ``benchmarks/features.py``); compiled runs
always see full batches (the last one is padded) so that nothing is compiled twice; the run's configured thread count
(:mod:`ssld_eval.features.threads`). On CUDA, bf16 autocast. Images that cannot be decoded are dropped and
named in :attr:`Features.bad`; nothing is substituted for them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ssld_core.devices import autocast
from ssld_eval.datasets.base import DatasetLayoutError, ImageSource
from ssld_eval.features.threads import cpu_threads

#: compile (CPU, "auto") from this many images on: compile time / per-image saving, measured on resnet50


@dataclass(frozen=True)
class Features:
    features: torch.Tensor  # (N, D) float32, rows in split order, bad images left out
    targets: torch.Tensor  # (N,) class indices or (N, C) multi-label
    indices: torch.Tensor  # (N,) positions in the split
    bad: tuple[str, ...] = ()  # identifiers of the images that could not be decoded
    compiled: bool = False  # computed by a torch.compile'd model (not stored in the cache)

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, rows: torch.Tensor) -> Features:
        return Features(self.features[rows], self.targets[rows], self.indices[rows], ())

    @staticmethod
    def concat(parts: list[Features]) -> Features:
        return Features(torch.cat([p.features for p in parts]), torch.cat([p.targets for p in parts]),
                        torch.cat([p.indices for p in parts]), tuple(b for p in parts for b in p.bad))


class ImageFileError(DatasetLayoutError):
    """An image the data set lists that is missing or unreadable (unlike an undecodable one, never excluded)."""

    def __init__(self, message: str) -> None:  # one argument: DataLoader workers re-raise it by its type
        super().__init__(message)


class DecodedImages(Dataset):
    """``(index, tensor)`` per image, ``(index, None)`` when the image cannot be opened or decoded."""

    def __init__(self, source: ImageSource, transform: Callable[[Any], torch.Tensor]) -> None:
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None]:
        try:
            image = self.source.load(index)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            # not a bad image but a data set that is not what its listing says: never a silent exclusion
            raise ImageFileError(f"{self.source.ident(index)}: cannot be read ({type(exc).__name__}: {exc})") from exc
        except Exception:  # PIL raises OSError, SyntaxError, ValueError, zlib errors ... for broken files
            return index, None
        return index, self.transform(image)


def collate_decoded(
    batch: list[tuple[int, torch.Tensor | None]],
) -> tuple[torch.Tensor, torch.Tensor | None, list[int]]:
    """-> (indices of decoded images, their stacked tensors or None, indices of failed images)."""
    good = [(i, x) for i, x in batch if x is not None]
    images = torch.stack([x for _, x in good]) if good else None
    return torch.tensor([i for i, _ in good], dtype=torch.long), images, [i for i, x in batch if x is None]


def default_workers() -> int:
    """DataLoader workers: none on <= 2 CPUs (decoding would steal the forward pass's cores)."""
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(8, cpus // 2)


def prepare_model(model: nn.Module, device: torch.device, compile_model: bool) -> nn.Module:
    """Eval mode, on ``device``, channels_last; wrapped by ``torch.compile`` when asked."""
    model = model.eval().to(device=device, memory_format=torch.channels_last)
    return torch.compile(model, dynamic=False) if compile_model else model


def forward_batches(run: nn.Module, images: torch.Tensor, device: torch.device, pad_to: int | None) -> torch.Tensor:
    """Features of one batch; padded with zeros to ``pad_to`` rows (compiled models) and trimmed back."""
    count = len(images)
    if pad_to is not None and count < pad_to:
        images = torch.cat([images, images.new_zeros((pad_to - count, *images.shape[1:]))])
    images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with autocast(device):
        return run(images)[:count].float().cpu()


def extract_features(
    model: nn.Module, source: ImageSource, transform: Callable[[Any], torch.Tensor], *, device: torch.device,
    batch_size: int = 64, workers: int = 0, compile_model: bool = False, desc: str = "features",
) -> Features:
    """Features of every decodable image of ``source``, in order; bad images listed, never replaced."""
    loader = DataLoader(DecodedImages(source, transform), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=collate_decoded, pin_memory=device.type == "cuda")
    run = prepare_model(model, device, compile_model)
    chunks, kept, bad = [], [], []
    started = time.perf_counter()
    with torch.inference_mode(), cpu_threads() if device.type == "cpu" else nullcontext():
        for indices, images, failed in tqdm(loader, desc=desc, file=sys.stderr, mininterval=2.0, leave=False):
            bad.extend(failed)
            if images is None:
                continue
            try:
                chunks.append(forward_batches(run, images, device, batch_size if compile_model else None))
            except Exception as exc:  # torch.compile cannot build here (no C++ compiler, unsupported op ...)
                if not compile_model or chunks:
                    raise
                print(f"[ssld-eval] {desc}: torch.compile failed ({type(exc).__name__}: {exc}); running eager",
                      file=sys.stderr)
                compile_model, run = False, prepare_model(model, device, compile_model=False)
                chunks.append(forward_batches(run, images, device, None))
            kept.append(indices)
    if not chunks:
        raise ValueError(f"{desc}: none of the {len(source)} images could be decoded")
    rows = torch.cat(kept)
    elapsed = time.perf_counter() - started
    print(f"[ssld-eval] {desc}: {len(rows)} images in {elapsed:.1f} s ({len(rows) / elapsed:.1f} img/s)"
          + (f", {len(bad)} undecodable" if bad else ""), file=sys.stderr)
    return Features(torch.cat(chunks), source.targets[rows], rows, tuple(source.ident(i) for i in bad), compile_model)
