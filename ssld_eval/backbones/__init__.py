"""Any timm backbone, from a name, a distilled run or a checkpoint, loaded strictly with a key audit."""

from ssld_eval.backbones.loader import (
    BackboneSpecError,
    CheckpointMismatchError,
    KeyAudit,
    LoadedBackbone,
    NonFiniteWeightsError,
    load_backbone,
    read_state_dict,
)

__all__ = [
    "BackboneSpecError",
    "CheckpointMismatchError",
    "KeyAudit",
    "LoadedBackbone",
    "NonFiniteWeightsError",
    "load_backbone",
    "read_state_dict",
]
