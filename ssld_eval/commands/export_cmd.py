"""``ssld-eval export CKPT --arch NAME --out F.safetensors``: the clean backbone, nothing else.

The checkpoint is loaded with the strict loader (wrappers stripped, classifier dropped, every other
mismatch an error), and the headless model's own state dict is written as safetensors, with a ``.json``
sidecar holding the architecture, the source file and its sha256, the key audit and the source's
provenance (a distilled student's ``student.json``), so that ``--backbone F.safetensors`` loads it and the
probe still finds the student's resolution and normalisation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ssld_core.atomic import atomic_write
from ssld_core.sidecar import BackboneMeta
from ssld_eval.commands import ARCH_HELP
from ssld_eval.zoo import ZooError, resolve_backbone


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .safetensors/.pth/.pt/.bin/.ckpt file or a distill run dir")
    parser.add_argument("--arch", help=ARCH_HELP)
    parser.add_argument("--out", type=Path, required=True,
                        help="output .safetensors file, or with --format timm the folder to write")
    parser.add_argument("--format", choices=("safetensors", "timm"), default="safetensors",
                        help="safetensors: one file + its .json sidecar (ssld-eval's --backbone); timm: a timm hub "
                             "folder (config.json, model.safetensors) that timm.create_model('local-dir:OUT', "
                             "pretrained=True) loads and huggingface_hub.upload_folder publishes as it is")
    parser.add_argument("--allow-missing", action="append", default=[], metavar="REGEX",
                        help="missing keys matching REGEX are allowed (repeatable)")


def export_backbone(spec: str, out: Path, arch: str | None = None, allow_missing: list[str] | None = None) -> Path:
    """Write ``spec``'s headless backbone to ``out`` (+ ``out.json``); returns ``out``."""
    from safetensors.torch import save_file

    from ssld_eval.backbones import load_backbone

    if out.suffix != ".safetensors":
        raise ValueError(f"--out {out}: the file name must end in .safetensors")
    loaded = load_backbone(spec, arch=arch, allow_missing=allow_missing or ())
    tensors = {k: v.detach().clone().contiguous() for k, v in loaded.model.state_dict().items()}
    exported = {"source": str(Path(spec).resolve()), "source_sha256": loaded.weights_id,
                "kind": loaded.meta.kind if loaded.meta else "checkpoint",
                "key_audit": loaded.audit.to_dict()}
    # a distilled student's sidecar travels with it (method, teachers, its own metrics), plus where the
    # export came from; the input description is the one the loader resolved
    base = loaded.meta or BackboneMeta(arch=loaded.arch, kind="exported")
    sidecar = dataclasses.replace(base, kind="exported", data_config=loaded.inputs,
                                  provenance={**base.provenance, "exported_from": exported})
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: save_file(tensors, str(tmp), metadata={"arch": loaded.arch}))
    sidecar.write(out.with_suffix(".json"))
    return out


def export_timm_folder(spec: str, out: Path, arch: str | None = None, allow_missing: list[str] | None = None) -> Path:
    """Write ``spec``'s headless backbone as a timm hub folder (``config.json`` with ``architecture``,
    ``num_classes`` and a ``pretrained_cfg`` holding the weights' own input description, ``model.safetensors``)
    plus ``ssld_eval.json``, its sidecar. Written beside ``out`` first and renamed into place. Models this
    package registers (the PaddleClas ports) need ``import ssld_eval.converters`` before timm can build them."""
    import shutil

    from timm.models import save_for_hf

    from ssld_eval.backbones import load_backbone

    if out.exists():
        raise ValueError(f"--out {out} exists: a timm folder is written whole, into a new path")
    loaded = load_backbone(spec, arch=arch, allow_missing=allow_missing or ())
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model_args = dict(loaded.meta.model_kwargs) if loaded.meta else {}
    save_for_hf(loaded.model, str(partial), model_args=model_args or None, safe_serialization=True,
                data_config=loaded.inputs.to_block())
    base = loaded.meta or BackboneMeta(arch=loaded.arch, kind="exported")
    exported = {"source": str(Path(spec).resolve()), "source_sha256": loaded.weights_id, "format": "timm"}
    dataclasses.replace(base, kind="exported", data_config=loaded.inputs,
                        provenance={**base.provenance, "exported_from": exported}).write(partial / "ssld_eval.json")
    partial.rename(out)
    return out


def run(args: argparse.Namespace) -> int:
    from ssld_eval.backbones import BackboneSpecError, CheckpointMismatchError

    try:
        spec, arch, _ = resolve_backbone(args.checkpoint, args.arch)
        write = export_timm_folder if args.format == "timm" else export_backbone
        out = write(spec, args.out, arch, args.allow_missing)
    except (BackboneSpecError, CheckpointMismatchError, ZooError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sidecar = out / "ssld_eval.json" if args.format == "timm" else out.with_suffix(".json")
    print(json.dumps({"out": str(out), "sidecar": str(sidecar)}))
    return 0
