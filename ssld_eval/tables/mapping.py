"""Which ssld-eval record reproduces a published cell, and which command would make one.

A complete record matches a cell in one of two ways:

1. **Explicitly**: its ``protocol`` or ``config`` holds ``paper_cell = "paper|table|model|setting|metric"``
   (see :attr:`PaperCell.cell_id`). Any cell can be claimed this way, ImageNet top-1 cells included.
2. **By the mapping below**, for transfer cells only: the cell's metric maps to a task, data set and record
   metric (:data:`METRIC_TARGETS`), its model to a timm architecture (:data:`MODEL_ARCH`, compared with
   ``record.arch``) and its setting to a distillation method (:data:`SETTING_METHODS`, compared with
   ``record.method``, plus a fragment of ``record.teacher`` where the setting names a teacher). ``baseline``
   matches a record without a distillation method (or ``supervised``) whose weights are not random.

Everything else (teachers, ablation steps, SimReg's teachers named by their SSL method, ImageNet top-1,
detectors other than the shipped Mask R-CNN 1x recipe) matches only explicitly: a guessed match would put a
number beside a cell it does not reproduce. A cell without a record shows the command that would make one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssld_eval.records.frame import paper_cell_of
from ssld_eval.records.schema import ResultRecord
from ssld_eval.tables.papers import PaperCell


@dataclass(frozen=True)
class Target:
    """The ssld-eval run that measures a metric: task, data set, record metric, recipe keys that must hold."""

    task: str
    dataset: str
    metric: str  # the name in record.metrics
    config: tuple[tuple[str, str], ...] = ()  # (key, value) that record.config must have; passed as --set


_FINETUNE = ("flowers102", "caltech101", "pets", "dtd", "aircraft", "cars", "sun397", "cifar100", "cifar10",
             "food101")
_COCO = {"ap": "AP", "ap_s": "APs", "ap_m": "APm", "ap_l": "APl"}

#: paper metric -> how ssld-eval measures it (the record metric names are the tasks' own)
METRIC_TARGETS: dict[str, Target] = {
    **{f"{d}_top1": Target("fine-tune", d, "top1") for d in _FINETUNE},
    **{f"coco_{kind}_{k}": Target("coco-det", "coco", f"{kind}_{v}") for kind in ("box", "mask")
       for k, v in _COCO.items()},
    "ade20k_miou": Target("ade20k-seg", "ade20k", "mIoU"),
    "imagenet_linear": Target("linear-probe", "imagenet", "top1"),
    "imagenet_1nn": Target("knn", "imagenet", "knn1_top1"),
}

#: paper model name -> timm architecture (None: no timm equivalent)
MODEL_ARCH: dict[str, str | None] = {
    # SSLD (PaddleClas names; "_vd" is timm's deep-stem "d" variant)
    "MobileNetV1": "mobilenetv1_100", "MobileNetV2": "mobilenetv2_100",
    "MobileNetV3_large_x1_0": "mobilenetv3_large_100", "MobileNetV3-large": "mobilenetv3_large_100",
    "MobileNetV3_small_x1_0": "mobilenetv3_small_100", "MobileNetV3_small_x0_35": None,
    "GhostNet_x1_3": "ghostnet_130", "ResNet34_vd": "resnet34d", "ResNet50_vd": "resnet50d",
    "ResNet50-D": "resnet50d", "ResNet101_vd": "resnet101d", "Res2Net50_vd_26w_4s": "res2net50d",
    "HRNet_W18_C": "hrnet_w18",
    # ScaleKD (its "ResNet-50" student is a ResNet-50-D)
    "MobileNet-V1": "mobilenetv1_100", "ResNet-50": "resnet50d", "ConvNeXt-T": "convnext_tiny",
    "Mixer-S/16": "mixer_s16_224", "Mixer-B/16": "mixer_b16_224", "ViT-S/16": "vit_small_patch16_224",
    "Swin-T": "swin_tiny_patch4_window7_224", "ViT-B/16": "vit_base_patch16_224", "Mixer-B/14": None,
    "ViT-B/14": None, "Swin-L (IN-22k)": "swin_large_patch4_window7_224", "BEiT-L/14 (EVA)": None,
    # SimReg
    "MobileNet-v2": "mobilenetv2_100", "ResNet-18": "resnet18",
}
#: per paper, model names that mean another architecture there
PAPER_MODEL_ARCH: dict[tuple[str, str], str | None] = {("simreg", "ResNet-50"): "resnet50"}
#: detector rows of the SSLD COCO table that ssld-eval's coco-det recipes reproduce
DETECTOR_ROWS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "Mask R-CNN R50-vd-FPN 1x": ("resnet50d", (("recipe", "mask-rcnn-1x"),)),
}
#: paper setting -> (record.method, fragment of record.teacher or "")
SETTING_METHODS: dict[str, tuple[str, str]] = {
    "baseline": ("supervised", ""), "ssld": ("ssld", ""), "scalekd": ("scalekd", ""),
    "scalekd_swin-l": ("scalekd", "swin_large"), "scalekd_beit-l": ("scalekd", "beit"),
}


def arch_of(cell: PaperCell) -> str | None:
    if cell.model in DETECTOR_ROWS:
        return DETECTOR_ROWS[cell.model][0]
    return PAPER_MODEL_ARCH.get((cell.paper, cell.model), MODEL_ARCH.get(cell.model))


def target_of(cell: PaperCell) -> Target | None:
    target = METRIC_TARGETS.get(cell.metric)
    if target is None:
        return None
    if cell.model in DETECTOR_ROWS:
        return Target(target.task, target.dataset, target.metric, DETECTOR_ROWS[cell.model][1])
    if target.task == "coco-det" and " " in cell.model:
        return None  # a detector ssld-eval has no recipe for (Faster R-CNN, 2x schedules)
    return target


def _method_matches(record: ResultRecord, setting: str) -> bool:
    method, teacher = SETTING_METHODS[setting]
    if method == "supervised":
        return record.method in ("", "supervised") and not record.weights_id.startswith("random-init")
    return record.method == method and teacher in record.teacher.lower()


def matches(cell: PaperCell, record: ResultRecord) -> float | None:
    """The record's value for ``cell`` when it reproduces it, else ``None``."""
    if record.status != "complete":
        return None
    explicit = paper_cell_of(record)
    if explicit:
        if explicit != cell.cell_id:
            return None
        name = cell.metric if cell.metric in record.metrics else record.primary_metric
        return record.metrics.get(name, record.primary_value)
    target, arch = target_of(cell), arch_of(cell)
    if target is None or arch is None or cell.setting not in SETTING_METHODS:
        return None
    if (record.task, record.dataset, record.arch) != (target.task, target.dataset, arch):
        return None
    if any(str(record.config.get(k)) != v for k, v in target.config):
        return None
    if not _method_matches(record, cell.setting):
        return None
    return record.metrics.get(target.metric)


def method_of(cell: PaperCell) -> str:
    """The distillation method a setting stands for; an ablation step is its paper's own method."""
    if cell.setting in SETTING_METHODS:
        return SETTING_METHODS[cell.setting][0]
    if cell.setting.startswith("baseline"):
        return "supervised"
    return cell.setting.split("_")[0] if cell.setting.startswith(("simreg", "scalekd", "ssld")) else cell.paper


def command_for(cell: PaperCell, results: str = "results") -> str:
    """The command that would produce ``cell`` (placeholders in <angle brackets>), or why there is none."""
    if cell.setting == "teacher":
        return "teacher: published weights, not trained by ssld-eval"
    arch = arch_of(cell)
    name = arch or cell.model
    method = method_of(cell)
    if cell.metric == "imagenet_top1":
        return f"ssld-eval distill --config configs/distill/{method}/<{name} {cell.setting} recipe>.yaml"
    target = target_of(cell)
    if target is None:
        return f"no ssld-eval recipe for {cell.model} / {cell.metric}"
    if method == "supervised":
        backbone = f"{arch} --pretrained" if arch else f"<supervised {cell.model} checkpoint> --arch <timm name>"
    else:
        backbone = f"<{cell.setting} student of {name}: distill run dir>"
    sets = "".join(f" --set {k}={v}" for k, v in target.config)
    return (f"ssld-eval transfer --backbone {backbone} --task {target.task} --dataset {target.dataset}"
            f"{sets} --results {results}")
