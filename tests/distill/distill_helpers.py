"""Helpers of the distillation tests: tiny synthetic ImageFolders and recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image


def write_image_folder(root: Path, per_class: dict[str, int], classes: int = 3, seed: int = 0,
                       size: tuple[int, int] = (20, 24)) -> Path:
    """``root/<split>/c<k>/<i>.png``: class k is brighter in channel k, so a model can learn it."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for k in range(classes):
            folder = root / split / f"c{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 120, (*size, 3))
                pixels[..., k % 3] += 120
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


def write_unlabeled(folder: Path, count: int, seed: int = 1, size: tuple[int, int] = (20, 20)) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (*size, 3)).astype(np.uint8)).save(folder / f"u{i:03d}.png")
    return folder


def tiny_recipe(data_root: Path, method: str | dict[str, Any] = "supervised", **sections: Any) -> dict[str, Any]:
    """A recipe dict for ``tiny_data``: test_efficientnet at 16 px, a few steps; ``sections`` update it."""
    recipe: dict[str, Any] = {
        "method": {"name": method} if isinstance(method, str) else method,
        "student": {"arch": "test_efficientnet"},
        "data": {"root": str(data_root), "train": "ds/train", "val": "ds/val", "test": "ds/test",
                 "image_size": 16, "eval_crop_pct": 1.0, "scale": [0.5, 1.0]},
        "train": {"steps": 4, "batch_size": 8, "lr": 0.05, "checkpoint_every": 2, "log_every": 1,
                  "eval_batch_size": 16},
    }
    for key, values in sections.items():
        if values is None:
            recipe[key] = None
        else:
            recipe[key] = {**recipe.get(key, {}), **values} if isinstance(values, dict) else values
    return recipe


def write_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path
