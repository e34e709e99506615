"""The distillation core: build student backbones from strong teachers.

Students and teachers are any timm model. Methods register themselves in :mod:`distill.registry`; a run
writes ``student.safetensors`` (student weights only) and ``student.json`` (provenance). This package never
imports ``ssld_eval``: its only contract with the rest of the suite is those two files.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_recipe", "run_recipe"]


def __getattr__(name: str) -> Any:
    """``distill.run_recipe`` and ``distill.load_recipe``, imported on first use (they pull in torch)."""
    if name == "run_recipe":
        from distill.run import run_recipe

        return run_recipe
    if name == "load_recipe":
        from distill.recipe import load_recipe

        return load_recipe
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
