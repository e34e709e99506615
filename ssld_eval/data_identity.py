"""Which files each data set reads, and their identity: the data part of a record's key. Torch-free.

Two runs on different data are different experiments, so the record key hashes a digest of what the run
actually reads, not the data set's name (two ImageFolders, a rebuilt built-in set, a user's COCO after a fix
of its annotations). The digest:

- a built-in set: its ``manifest.json``'s sha256 entries, while the manifest still describes the files;
- user data: every file under the data set's own folder, images by relative path and size, every other
  file (annotations, split lists, CIFAR's pickled batches) by relative path and the sha256 of its bytes.

Listing ImageNet-sized folders and hashing annotation files is done once: the digest is cached under
``<cache>/data-identity/`` with the modification times of the folders and of the non-image files it was
computed from, and reused while they are unchanged (adding, removing or renaming an image changes its
folder's time). Image bytes are never hashed, so an image rewritten in place at the same size is not seen.

Each registered data set names its folder here, in :data:`DATA_FOLDERS`; its loader reads the same entry,
so the feature cache, the record key and the loader agree on what the data is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

from ssld_core.atomic import atomic_write_text
from ssld_core.images import IMAGE_SUFFIXES
from ssld_core.provenance import sha256_file

MANIFEST = "manifest.json"
BUILTIN_CLASSIFICATION = ("fashion", "animals", "digits")

#: data set -> its folder relative to ``--data-root`` ("" is the root itself); the built-in classification
#: sets live in ``NAME/`` of the built-in folder, COCO and ADE20K where :func:`locate_root` finds them
DATA_FOLDERS: Mapping[str, str] = MappingProxyType({
    **{name: name for name in BUILTIN_CLASSIFICATION},
    "imagefolder": "", "birdsnap": "", "sun397": "",
    "cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "food101": "food-101",
    "cars": "stanford_cars", "aircraft": "fgvc-aircraft-2013b", "voc2007": "VOCdevkit/VOC2007", "dtd": "dtd",
    "pets": "oxford-iiit-pet", "caltech101": "caltech101", "flowers102": "flowers-102",
    "coco": "coco", "ade20k": "ade/ADEChallengeData2016",
    "imagenet": "",
})
#: the detection / segmentation sets: ``--data-root`` may name the set itself or the built-in folder
MM_DATASETS = ("coco", "ade20k")


class UnknownDatasetError(KeyError):
    """A data set name that no data set declares."""


def builtin_root() -> Path:
    """The built-in data folder (``ssld-eval data builtin --out``): ``$SSLD_EVAL_DATA`` or data/builtin."""
    return Path(os.environ.get("SSLD_EVAL_DATA", "data/builtin"))


def known_datasets() -> list[str]:
    return sorted(DATA_FOLDERS)


def dataset_folder(dataset: str, data_root: Path) -> Path:
    """The folder whose files make up ``dataset`` under ``data_root`` (a classification set's root)."""
    if dataset not in DATA_FOLDERS:
        raise UnknownDatasetError(f"unknown data set {dataset!r}; known: {known_datasets()}")
    sub = DATA_FOLDERS[dataset]
    return data_root / sub if sub else data_root


def locate_root(data_root: Path | None, builtin_subpath: str, classes_folder_up: int = 0) -> tuple[Path, bool]:
    """(root of a detection / segmentation set, whether it is a built-in set with its own ``classes.json``).

    ``--data-root`` may name the data set itself (a user's COCO 2017 / ADEChallengeData2016, or the built-in
    set's own folder) or, as for the built-in classification sets, the built-in folder holding
    ``builtin_subpath``; without it the built-in folder is ``$SSLD_EVAL_DATA`` or data/builtin. A set is
    built-in when ``classes.json`` sits ``classes_folder_up`` folders above its root (real COCO and ADE20K
    have none: their classes are mmdet's and mmseg's); the default folder always counts as built-in.
    """
    if data_root is None:
        return builtin_root() / builtin_subpath, True
    root = data_root / builtin_subpath if (data_root / builtin_subpath).is_dir() else data_root
    classes_folder = root.parents[classes_folder_up - 1] if classes_folder_up else root
    return root, (classes_folder / "classes.json").is_file()


def files_root(dataset: str, data_root: Path | None) -> Path:
    """Everything the run on ``dataset`` reads lies under this folder (a built-in ADE20K's ``classes.json``
    sits one above its ADEChallengeData2016, so that folder is the one)."""
    if dataset in MM_DATASETS:
        up = 1 if dataset == "ade20k" else 0
        root, builtin = locate_root(data_root, DATA_FOLDERS[dataset], classes_folder_up=up)
        return root.parent if builtin and up else root
    return dataset_folder(dataset, builtin_root() if data_root is None else Path(data_root).expanduser())


def _listing(root: Path) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """((relative path, size, mtime_ns) of every non-hidden file, sorted; folder -> its mtime_ns)."""
    files, folders = [], {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folders[Path(folder).relative_to(root).as_posix()] = os.stat(folder).st_mtime_ns
        for name in names:
            if not name.startswith("."):
                path = Path(folder, name)
                stat = path.stat()
                files.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sorted(files), folders


def _is_image(rel: str) -> bool:
    return rel.lower().endswith(IMAGE_SUFFIXES)


def _manifest_entries(root: Path, files: list[tuple[str, int, int]]) -> list[tuple[str, str]] | None:
    """(path, sha256) of ``root``'s files from a ``manifest.json`` in ``root`` or its parent, if it is still
    true: same files, same sizes, none modified after the manifest was written."""
    for manifest_dir in (root, root.parent):
        manifest = manifest_dir / MANIFEST
        if not manifest.is_file():
            continue
        try:
            listed = json.loads(manifest.read_text()).get("files", {})
        except (OSError, json.JSONDecodeError, AttributeError):
            return None
        prefix = "" if manifest_dir == root else root.name + "/"
        written = manifest.stat().st_mtime_ns
        entries = []
        for rel, size, mtime in files:
            if rel == MANIFEST:
                continue
            info = listed.get(prefix + rel)
            if not isinstance(info, dict) or info.get("bytes") != size or mtime > written:
                return None
            entries.append((rel, str(info.get("sha256"))))
        if len(entries) != sum(1 for key in listed if key.startswith(prefix)):
            return None
        return entries
    return None



def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()[:32]


def _parent_manifest_time(root: Path) -> int | None:
    """A built-in set's manifest sits in the folder above it: a rebuild rewrites it."""
    manifest = root.parent / MANIFEST
    return manifest.stat().st_mtime_ns if manifest.is_file() else None


def _signature(root: Path, folders: Mapping[str, int], files: list[tuple[str, int, int]]) -> dict[str, object]:
    """What the cached digest was computed from: folder times and the non-image files' size and time."""
    return {"folders": dict(folders), "manifest": _parent_manifest_time(root),
            "files": {rel: [size, mtime] for rel, size, mtime in files if not _is_image(rel)}}


def _current_signature(root: Path) -> dict[str, object]:
    """The same as :func:`_signature` without a ``stat`` per image: a listing of folders and non-images."""
    folders: dict[str, int] = {}
    files: dict[str, list[int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_folder = Path(folder).relative_to(root)
        folders[rel_folder.as_posix()] = os.stat(folder).st_mtime_ns
        for name in names:
            rel = (rel_folder / name).as_posix()
            if not name.startswith(".") and not _is_image(rel):
                stat = os.stat(Path(folder, name))
                files[rel] = [stat.st_size, stat.st_mtime_ns]
    return {"folders": folders, "manifest": _parent_manifest_time(root), "files": files}


def folder_identity(root: Path, cache_dir: Path | None = None) -> str:
    """The identity of the files under ``root`` (see the module docstring); cached under ``cache_dir``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return f"missing:{root.resolve()}"  # the run itself fails with the data set's layout message
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / "data-identity" / f"{_digest(str(root.resolve()))[:20]}.json"
        if cache_file.is_file():
            try:
                cached = json.loads(cache_file.read_text())
            except (OSError, json.JSONDecodeError):
                cached = {}
            if cached.get("signature") == _current_signature(root) and isinstance(cached.get("identity"), str):
                return cached["identity"]
    files, folders = _listing(root)
    manifest = _manifest_entries(root, files)
    if manifest is not None:
        identity = _digest({"sha256": manifest})
    else:
        identity = _digest({"images": [[rel, size] for rel, size, _ in files if _is_image(rel)],
                            "content": [[rel, sha256_file(root / rel)] for rel, _, _ in files if not _is_image(rel)]})
    if cache_file is not None:
        atomic_write_text(cache_file, json.dumps({"root": str(root.resolve()), "identity": identity,
                                                  "signature": _signature(root, folders, files)}))
    return identity


def data_identity(dataset: str, data_root: Path | None, cache_dir: Path | None = None) -> str:
    """The identity of the data a run on ``dataset`` reads from ``data_root`` (the record key's data part)."""
    return folder_identity(files_root(dataset, data_root), cache_dir)


def memoised_data_identity() -> Callable[[str, Path | None, Path | None], str]:
    """:func:`data_identity` with a memo: a sweep asks it once per data set, not once per job (a fresh memo
    per sweep, so a long-lived process never keeps a stale identity)."""
    return cache(data_identity)
