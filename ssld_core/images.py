"""Which files are images, for every scanner (distill's training folders, the transfer data sets, the data
identity of the record key): one list, so one folder gives the same images to distillation and transfer.
Hidden files and folders (a leading dot: editors' and OS metadata) are never images. Torch-free."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


def is_image(path: str | Path) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively, hidden entries skipped), sorted."""
    return sorted(p for p in Path(folder).rglob("*")
                  if is_image(p) and p.is_file() and not any(part.startswith(".")
                                                              for part in p.relative_to(folder).parts))
