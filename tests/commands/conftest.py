"""The command-level tests' fixtures: a tiny ImageFolder and a forward-pass counter."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_folders import write_image_folder


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
