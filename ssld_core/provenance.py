"""Where a number came from: the git SHA of the checkout and the versions of the libraries that make it.
Torch-free, and imported by distill (``student.json``) and ssld_eval (records) alike, so both name the same
libraries."""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

#: every library whose version can change a number: the model and training stack, the detection /
#: segmentation stack, and what decodes and stores images and weights
TRACKED_LIBRARIES = ("torch", "torchvision", "timm", "mmengine", "mmcv", "mmdet", "mmsegmentation", "safetensors",
                     "pillow", "numpy")


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The commit of the ssld-eval checkout, with ``-dirty`` when it has uncommitted changes, else unknown."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def library_versions() -> dict[str, str]:
    """``{library: version or "absent"}``, a fresh dict each call."""
    return dict(_versions_once())


@lru_cache(maxsize=1)
def _versions_once() -> tuple[tuple[str, str], ...]:
    # importlib.metadata scans site-packages on every call: once per process is enough (and makes building
    # thousands of records in a sweep or a benchmark cheap)
    versions = []
    for name in TRACKED_LIBRARIES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "absent"))
    return tuple(versions)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks (weights files are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
