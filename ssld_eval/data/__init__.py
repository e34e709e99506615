"""Built-in data sets and teachers, made offline from packaged real images and weights.

The heavy modules (torch, timm, pycocotools) are imported only when a build needs them, so importing
:mod:`ssld_eval.data` or its CLI stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ssld_eval.data.builtin import BuiltinManifest, build_builtin, read_manifest

__all__ = ["BuiltinManifest", "build_builtin", "read_manifest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ssld_eval.data import builtin

        return getattr(builtin, name)
    raise AttributeError(f"module 'ssld_eval.data' has no attribute {name!r}")
