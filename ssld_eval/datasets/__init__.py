"""Classification data sets by name, read from the user's disk (never downloaded).

- the 12 sets of the transfer literature (Kornblith et al. 2019): ``food101``, ``cifar10``, ``cifar100``,
  ``birdsnap``, ``sun397``, ``cars``, ``aircraft``, ``voc2007``, ``dtd``, ``pets``, ``caltech101``,
  ``flowers102``, with their official splits (torchvision's readers with ``download=False`` where
  torchvision has one);
- ``imagefolder``: any ``DIR`` holding ``train/<class>/*`` and ``test/<class>/*`` (``val/`` optional);
- ``imagenet``: ImageNet-1k, ``DIR/val/<wnid>/*`` (the test split) and optionally ``DIR/train/<wnid>/*``, with
  the 1,000 wnids' canonical class indices (:mod:`ssld_eval.datasets.imagenet`);
- the built-in sets ``fashion``, ``animals`` and ``digits`` (``ssld-eval data builtin``): ``--data-root`` is
  the built-in folder holding ``NAME/``; by default ``$SSLD_EVAL_DATA`` or ``data/builtin``.

Each name maps to a :class:`DatasetSpec`: its loader, its primary metric and the layout it expects, which
every "not found" error prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ssld_core.registry import Registry
from ssld_eval.data_identity import DATA_FOLDERS, builtin_root
from ssld_eval.datasets.base import BadImagesError, ClassificationData, DatasetLayoutError, ImageSource

Loader = Callable[[Path], ClassificationData]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Loader
    metric: str  # top1, mean_per_class or map11
    layout: str  # what --data-root must hold, shown in errors and in --help
    builtin: bool = False


#: the loader modules are imported below, where this module ends (they register themselves on import)
DATASETS: Registry[DatasetSpec] = Registry("data set")


def _has_folder(name: str, _spec: DatasetSpec) -> None:
    if name not in DATA_FOLDERS:
        raise ValueError(f"data set {name!r} must name its folder in ssld_eval.data_identity.DATA_FOLDERS: "
                         "the record key hashes the files there")


def register_dataset(name: str, *, metric: str, layout: str, builtin: bool = False) -> Callable[[Loader], Loader]:
    def decorate(loader: Loader) -> Loader:
        DATASETS.register(name, check=_has_folder)(DatasetSpec(name, loader, metric, layout, builtin))
        return loader

    return decorate


def dataset_names() -> list[str]:
    return DATASETS.names()


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS.get(name)
    except KeyError as exc:
        raise DatasetLayoutError(exc.args[0]) from None


def load_dataset(name: str, data_root: Path | None) -> ClassificationData:
    """Load ``name`` from ``data_root`` (for built-in sets: the folder holding ``name/``)."""
    spec = get_dataset_spec(name)
    if data_root is None:
        if not spec.builtin:
            raise DatasetLayoutError(f"{name}: --data-root is required; expected layout: {spec.layout}")
        data_root = builtin_root()
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{name}: data root {root} does not exist or is not a folder; "
                                 f"expected layout: {spec.layout}")
    return spec.loader(root)


# Registration happens on import of the loader modules.
from ssld_eval.datasets import folders, imagenet, torchvision_sets  # noqa: E402

__all__ = [
    "DATASETS", "BadImagesError", "ClassificationData", "DatasetLayoutError", "DatasetSpec", "ImageSource",
    "dataset_names", "folders", "get_dataset_spec", "imagenet", "load_dataset", "register_dataset",
    "torchvision_sets",
]
