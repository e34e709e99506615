"""Tiny synthetic ImageFolders for tests: 3 classes, each a noisy patch of its own colour on grey.

A module of its own (not a conftest) so that tests in any folder import it by one unambiguous name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
