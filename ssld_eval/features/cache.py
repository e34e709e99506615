"""On-disk feature cache: one safetensors file per (weights, data, split, transform, precision).

The key hashes everything the features depend on: the weights (``weights_id``, i.e. the weights file's
sha256; for random-init models, a hash of the initialised tensors, since every seed draws others), the
architecture, the data set's file fingerprint (the built-in manifest's sha256 entries when present, else
paths + sizes + mtimes), the split, the transform's description, the compute precision and
:data:`FEATURES_VERSION`. Files are written to a temp name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ssld_core.atomic import atomic_write
from ssld_eval.features.extract import Features
from ssld_eval.provenance import canonical_hash

FEATURES_VERSION = 1  # bump when extraction changes what a cached file would hold


def weights_identity(weights_id: str, model: nn.Module) -> str:
    """``weights_id``, made unique for random-init weights (``random-init:<arch>``) by hashing the initialised
    tensors: every seed draws other weights."""
    if not weights_id.startswith("random-init"):
        return weights_id
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{weights_id}:{digest.hexdigest()}"


def feature_key(*, weights: str, arch: str, dataset: str, fingerprint: str, split: str, transform: dict[str, Any],
                precision: str) -> str:
    return canonical_hash({
        "weights": weights, "arch": arch, "dataset": dataset, "data": fingerprint, "split": split,
        "transform": transform, "precision": precision, "version": FEATURES_VERSION,
    })


class FeatureCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def load(self, key: str) -> Features | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in ("features", "targets", "indices")}
        except Exception:  # a damaged cache file is recomputed, never trusted
            return None
        return Features(tensors["features"], tensors["targets"], tensors["indices"],
                        tuple(json.loads(meta.get("bad", "[]"))))

    def save(self, key: str, features: Features, info: dict[str, Any]) -> Path:
        path = self.path(key)
        tensors = {"features": features.features.contiguous(), "targets": features.targets.contiguous(),
                   "indices": features.indices.contiguous()}
        metadata = {"bad": json.dumps(list(features.bad)), "info": json.dumps(info, default=str)}
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
        return path
