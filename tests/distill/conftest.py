"""Fixtures of the distillation tests: a tiny synthetic ImageFolder and recipe writing.

Training threads: this project's CI and development machines are 2 shared cores; oversubscribed OpenMP
threads made small CPU steps up to 10x slower than one thread, so these tests train with
``SSLD_EVAL_TEST_THREADS`` threads (default 1) and restore torch's setting afterwards.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from distill_helpers import tiny_recipe, write_image_folder, write_recipe, write_unlabeled

TEST_THREADS = int(os.environ.get("SSLD_EVAL_TEST_THREADS", "1"))


@contextlib.contextmanager
def limited_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(TEST_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _torch_threads() -> Iterator[None]:
    with limited_threads():
        yield


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes: 8 train, 2 val, 2 test images per class; ``unlabeled/`` holds 6 more images."""
    root = tmp_path_factory.mktemp("distill_tiny")
    write_image_folder(root / "ds", {"train": 8, "val": 2, "test": 2})
    write_unlabeled(root / "unlabeled", 6)
    return root


@pytest.fixture(scope="session")
def tiny_teacher(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A distill run dir: test_efficientnet trained with ``supervised`` on ``tiny_data`` (a teacher for kd/ssld)."""
    from distill import run_recipe

    work = tmp_path_factory.mktemp("tiny_teacher")
    recipe = write_recipe(work / "teacher.yaml", tiny_recipe(tiny_data, train={"steps": 6}))
    with limited_threads():  # session fixtures are set up before the function-scoped thread fixture
        return run_recipe(recipe, work / "run", device="cpu", log=lambda _m: None)


@pytest.fixture(scope="session")
def fashion_teacher(builtin_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in teacher run dir (Lite2 fine-tuned on ``builtin_small`` Fashion), trained once per session."""
    from signal_helpers import train_teacher

    with limited_threads():
        return train_teacher(builtin_small, tmp_path_factory.mktemp("fashion_teacher") / "run")
