"""The vocabulary of the cell catalogue (:mod:`ssld_eval.tables.catalogue`): the placeholder data folders,
what a cell's weights, training and run are, and the paper-level tolerances. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ssld_eval.tables.papers import PaperCell

#: the data folders a printed command names, and what each must hold
PLACEHOLDERS: dict[str, str] = {
    "IMAGENET": "ImageNet-1k: the folder holding val/<wnid>/ (and train/<wnid>/ for linear-probe and knn)",
    "COCO": "COCO 2017: the folder holding annotations/, train2017/ and val2017/",
    "ADE20K": "ADE20K: the ADEChallengeData2016 folder (images/, annotations/)",
    "DATA": "the folder holding the fine-tune data sets, each in its own subfolder (flowers-102/, dtd/, ...)",
    "IMAGENET22K_TOPK": "SSLD's ~4M ImageNet-22k images picked by the teacher's top-k per class (the selection "
                        "is not published: build it as one folder of images)",
}
#: weights kinds that are files somebody published (the plan's cells); "trained" is a distill work dir
RELEASED_KINDS = ("zoo", "timm", "file", "builtin")
#: PaddleClas builder names ssld-eval converts (ssld_eval.converters.PADDLECLAS_ARCHS; a test keeps them equal)
PADDLECLAS_CONVERTED = ("ResNet34_vd", "ResNet50_vd", "ResNet101_vd", "MobileNetV1", "MobileNetV3_large_x1_0",
                        "MobileNetV3_small_x1_0")
DRIVE = "https://drive.google.com/file/d/"
PADDLE = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"


@dataclass(frozen=True)
class Target:
    """The ssld-eval run that measures a metric: task, data set, the record's metric name, its data folder."""

    task: str
    dataset: str
    metric: str  # the name in record.metrics
    data_root: str  # a PLACEHOLDERS key


_FINETUNE = ("flowers102", "caltech101", "pets", "dtd", "aircraft", "cars", "sun397", "cifar100", "cifar10",
             "food101")
_COCO = {"ap": "AP", "ap_s": "APs", "ap_m": "APm", "ap_l": "APl"}

#: paper metric -> how ssld-eval measures it (the record metric names are the tasks' own)
METRIC_TARGETS: dict[str, Target] = {
    "imagenet_top1": Target("imagenet", "imagenet", "top1", "IMAGENET"),
    "imagenet_linear": Target("linear-probe", "imagenet", "top1", "IMAGENET"),
    "imagenet_1nn": Target("knn", "imagenet", "knn1_top1", "IMAGENET"),
    **{f"{d}_top1": Target("fine-tune", d, "top1", "DATA") for d in _FINETUNE},
    **{f"coco_{kind}_{k}": Target("coco-det", "coco", f"{kind}_{v}", "COCO") for kind in ("box", "mask")
       for k, v in _COCO.items()},
    "ade20k_miou": Target("ade20k-seg", "ade20k", "mIoU", "ADE20K"),
}
#: the paper-level tolerance per kind of metric, and its name as the flag prints it
TOLERANCES: dict[str, tuple[float, str]] = {"top1": (0.2, "top-1"), "ap": (0.3, "AP"), "miou": (0.5, "mIoU")}


def tolerance_of(metric: str) -> tuple[float, str]:
    """(tolerance, unit) of a paper metric: 0.2 top-1 for accuracies, 0.3 AP for COCO, 0.5 mIoU for ADE20K."""
    if metric.startswith("coco_"):
        return TOLERANCES["ap"]
    if metric.endswith("miou"):
        return TOLERANCES["miou"]
    return TOLERANCES["top1"]


@dataclass(frozen=True)
class Weights:
    """The backbone of a command: ``spec`` is the ``--backbone`` value, relative to ``--checkpoints`` for a
    downloaded file and to the built-in folder for a built-in teacher."""

    kind: str  # zoo | timm | file | builtin | trained
    spec: str
    arch: str | None = None  # --arch
    name: str | None = None  # --name (the record's display name)
    source: str = ""  # where the file is published

    @property
    def released(self) -> bool:
        return self.kind in RELEASED_KINDS


@dataclass(frozen=True)
class Training:
    """A ``distill`` run whose work dir becomes the backbone; ``arch`` is its student (for the method match)."""

    config: str  # configs/distill/<method>/<name>.yaml
    work_dir: str
    arch: str
    method: str
    teacher: str = ""  # a fragment of the student.json teacher, for the method match
    sets: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not Path(self.config).parts[:2] == ("configs", "distill"):
            raise ValueError(f"{self.config}: distillation recipes live in configs/distill/")


@dataclass(frozen=True)
class Run:
    """One ``transfer`` run: task, data set, data folder (placeholder), record metric and ``--set`` values."""

    task: str
    dataset: str
    data_root: str  # a PLACEHOLDERS key, or a path with "{builtin}" for the built-in folder
    metric: str
    sets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CellRecipe:
    weights: Weights | None = None
    run: Run | None = None
    training: Training | None = None
    note: str = ""  # what differs from the paper's run, or why there is no command

    @property
    def runnable(self) -> bool:
        return self.weights is not None and self.run is not None

    @property
    def released(self) -> bool:
        """Reproducible from released weights alone: the plan's cells."""
        return self.runnable and self.training is None and self.weights is not None and self.weights.released


def _run(cell: PaperCell, sets: tuple[tuple[str, str], ...] = ()) -> Run:
    target = METRIC_TARGETS[cell.metric]
    return Run(target.task, target.dataset, target.data_root, target.metric, sets)


def _trained(cell: PaperCell, training: Training, note: str, run_sets: tuple[tuple[str, str], ...] = ()
             ) -> CellRecipe:
    weights = Weights("trained", training.work_dir, name=Path(training.work_dir).name)
    return CellRecipe(weights, _run(cell, run_sets), training, note)
