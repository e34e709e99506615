"""Tiny synthetic ImageFolders and a forward-pass counter for the command-level tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = ((220, 40, 40), (40, 200, 60), (50, 60, 230))


def write_image_folder(root: Path, per_split: dict[str, int], size: int = 32, seed: int = 0) -> Path:
    """``root/<split>/<class>/<n>.png``: 3 classes, each a noisy patch of its own colour on grey."""
    rng = np.random.default_rng(seed)
    for split, count in per_split.items():
        for c, colour in enumerate(COLOURS):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.full((size, size, 3), 128.0) + rng.normal(0, 20, (size, size, 3))
                x, y = rng.integers(0, size // 2, 2)
                pixels[y:y + size // 2, x:x + size // 2] = colour
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "folder", {"train": 8, "val": 4, "test": 4})


@pytest.fixture
def forward_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch sizes of every feature-extraction forward pass made while the test runs."""
    from ssld_eval.features import extract

    calls: list[int] = []
    original = extract.forward_batches

    def counting(run, images, device, pad_to):
        calls.append(len(images))
        return original(run, images, device, pad_to)

    monkeypatch.setattr(extract, "forward_batches", counting)
    return calls
