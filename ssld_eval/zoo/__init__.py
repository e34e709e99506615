"""The papers' released models by name: ``--backbone zoo:NAME`` and ``ssld-eval zoo list``. Torch-free.

The entries live in one data file, :file:`zoo.yaml` beside this module (URL, architecture as ``--arch``
reads it, paper, published ImageNet top-1 and its source, the source's preprocessing, sha256 when
published). A named model is fetched once into ``$SSLD_EVAL_ZOO`` (default ``~/.cache/ssld-eval/zoo``)
with a progress bar and checked: against the published sha256, or, where the publisher gives none, against
the sha256 recorded beside the file at its first download. Offline (no network, or ``HF_HUB_OFFLINE=1`` /
``SSLD_EVAL_OFFLINE=1``), the error names the URL and the path to put the file at.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from ssld_core.atomic import atomic_write, atomic_write_text
from ssld_core.provenance import sha256_file

PREFIX = "zoo:"
ENTRY_FIELDS = ("url", "arch", "paper", "description", "top1", "top1_source", "preprocessing", "sha256")


class ZooError(ValueError):
    """An unknown zoo name, a file that is not there (offline) or one whose sha256 is wrong."""


@dataclass(frozen=True)
class ZooEntry:
    name: str
    url: str
    arch: str
    paper: str
    description: str
    top1: float
    top1_source: str
    preprocessing: str
    sha256: str | None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@cache
def entries() -> dict[str, ZooEntry]:
    path = Path(__file__).with_name("zoo.yaml")
    data = yaml.safe_load(path.read_text())
    result = {}
    for name, fields in data.items():
        unknown, missing = sorted(set(fields) - set(ENTRY_FIELDS)), sorted(set(ENTRY_FIELDS) - set(fields))
        if unknown or missing:
            raise ZooError(f"{path}: entry {name!r} has unknown field(s) {unknown} and lacks {missing}")
        result[name] = ZooEntry(name=name, **fields)
    return result


def entry(name: str) -> ZooEntry:
    name = name.removeprefix(PREFIX)
    known = entries()
    if name not in known:
        raise ZooError(f"zoo:{name}: no such model; known: {sorted(known)} ('ssld-eval zoo list')")
    return known[name]


def cache_dir() -> Path:
    return Path(os.environ.get("SSLD_EVAL_ZOO", Path.home() / ".cache" / "ssld-eval" / "zoo"))


def local_path(item: ZooEntry) -> Path:
    return cache_dir() / item.name / item.filename



def _offline() -> bool:
    return any(os.environ.get(flag, "") not in ("", "0") for flag in ("HF_HUB_OFFLINE", "SSLD_EVAL_OFFLINE"))


def _check(item: ZooEntry, path: Path) -> Path:
    """``path`` when its sha256 is the published one, or the one recorded at its first download."""
    recorded = path.with_name(path.name + ".sha256")
    expected = item.sha256 or (recorded.read_text().strip() if recorded.is_file() else None)
    actual = sha256_file(path)
    if expected is None:  # the file was put there by hand: record what it is from now on
        atomic_write_text(recorded, actual + "\n")
    elif actual != expected:
        raise ZooError(f"zoo:{item.name}: {path} has sha256 {actual[:16]}..., expected {expected[:16]}... "
                       f"({'published' if item.sha256 else 'recorded at its first download'}); delete it to "
                       f"download it again from {item.url}")
    return path


def _download(item: ZooEntry, path: Path) -> None:
    from tqdm import tqdm

    def write(tmp: Path) -> None:
        with urllib.request.urlopen(item.url, timeout=30) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"zoo:{item.name}") as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))

    atomic_write(path, write)


def fetch(name: str) -> tuple[Path, ZooEntry]:
    """The checked local file of zoo model ``name`` (downloaded when missing and the network allows)."""
    item = entry(name)
    path = local_path(item)
    if not path.is_file():
        where = f"download {item.url} and put it at {path} (or set SSLD_EVAL_ZOO to the folder holding {item.name}/)"
        if _offline():
            raise ZooError(f"zoo:{item.name}: not in the zoo cache and offline: {where}")
        try:
            _download(item, path)
        except OSError as exc:
            raise ZooError(f"zoo:{item.name}: download failed ({exc}): {where}") from exc
    return _check(item, path), item


def resolve_backbone(spec: str, arch: str | None) -> tuple[str, str | None, str | None]:
    """``(weights path, --arch, display name)`` of a ``--backbone``: a ``zoo:NAME`` becomes its fetched file
    and the entry's architecture; anything else is returned as it is (display name ``None``)."""
    if not spec.startswith(PREFIX):
        return spec, arch, None
    path, item = fetch(spec)
    if arch and arch != item.arch:
        raise ZooError(f"{spec} is a {item.arch} checkpoint; --arch {arch} would contradict it")
    return str(path), item.arch, item.name
