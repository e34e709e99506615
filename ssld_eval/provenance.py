"""Content hashes and the identity of a ``--backbone``'s weights. Torch-free on purpose (git SHA and library
versions: :mod:`ssld_core.provenance`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ssld_core.provenance import sha256_file


def canonical_hash(obj: Any) -> str:
    """A stable short hash of a JSON-serialisable object (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weights_id_for_spec(spec: str, pretrained: bool = False) -> str:
    """The identity of a ``--backbone`` value's weights, computed without torch or any model.

    A file or a distill run dir: the sha256 of the weights file. A timm model name: ``random-init:<name>`` or
    ``timm-pretrained:<name>`` (the name is part of it: a random resnet18 is not a random resnet50).
    The loader and the sweep both use this, so their record keys agree.
    """
    if spec.startswith("zoo:"):  # a released model: its file once fetched (transfer fetches it first)
        from ssld_eval.zoo import ZooError, entry, local_path

        try:
            path = local_path(entry(spec))
        except ZooError as exc:
            raise FileNotFoundError(str(exc)) from exc
        if not path.is_file():
            raise FileNotFoundError(f"{spec}: not fetched yet ({path}); 'ssld-eval transfer --backbone {spec}' "
                                    "downloads it")
        return sha256_file(path)
    path = Path(spec)
    if path.is_dir():
        path = path / "student.safetensors"
    if path.is_file():
        return sha256_file(path)
    if "/" in spec or path.suffix in (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pdparams"):
        raise FileNotFoundError(f"{spec}: no such checkpoint file or distill run directory")
    return f"timm-pretrained:{spec}" if pretrained else f"random-init:{spec}"
