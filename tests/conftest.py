"""Shared fixtures: the built-in data, built once per test session.

``builtin_tiny`` (seconds to build) is what most tests should use; ``builtin_small`` takes about a minute
and is meant for ``@pytest.mark.slow`` signal tests. Both are ``build_builtin(dir, seed=0, size=...)``
folders: see :mod:`ssld_eval.data.builtin` for the layout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the test suite may reach the network


@pytest.fixture(scope="session")
def builtin_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tiny`` built-in data folder (8 images per class and split, 16 + 8 composites, both teachers)."""
    from ssld_eval.data.builtin import build_builtin

    root = tmp_path_factory.mktemp("builtin_tiny")
    build_builtin(root, seed=0, size="tiny", log=lambda _message: None)
    return root


@pytest.fixture(scope="session")
def builtin_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``small`` built-in data folder (fashion 3000 train images, 400 + 100 composites, both teachers)."""
    from ssld_eval.data.builtin import build_builtin

    root = tmp_path_factory.mktemp("builtin_small")
    build_builtin(root, seed=0, size="small", log=lambda _message: None)
    return root
