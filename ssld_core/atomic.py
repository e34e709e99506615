"""Atomic file writes: a crash leaves the old file or the new one, never half a file.

Write a uniquely named temp file in the target's folder (so the rename never crosses file systems and two
writers never share a temp file), fsync it, rename it over the target, then fsync the folder so that the
rename itself survives a power cut. Temp names start with a dot and end in ``.tmp``: a reader listing
``*.json`` or ``*.safetensors`` never sees one, even while a writer is killed halfway.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o644  # mkstemp's 0600 would hide results from colleagues sharing the folder


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temp_path)`` fills a temp file beside ``path`` (e.g. ``safetensors.torch.save_file``), which is
    then fsynced and renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
