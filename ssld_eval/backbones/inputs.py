"""The inputs a backbone's weights were made for: one typed description (:class:`ssld_core.inputs.InputSpec`),
read by every task through :func:`input_spec`.

Why one reader: a distilled student trained with mean = std = 0.5 must be fed that in every task. When the
probe read the sidecar and detection read timm's ImageNet statistics, the detector got inputs twice as
large as the student ever saw. Without a sidecar's block, timm's config for the architecture is used.
"""

from __future__ import annotations

from timm.data import resolve_data_config
from torch import nn

from ssld_core.inputs import FIELDS, InputSpec, InputSpecError, parse_input_spec
from ssld_core.sidecar import BackboneMeta

__all__ = ["InputSpec", "InputSpecError", "input_spec", "parse_input_spec"]


def input_spec(model: nn.Module, meta: BackboneMeta | None) -> InputSpec:
    """The backbone's input description: its sidecar's, else timm's for the architecture."""
    if meta is not None and meta.data_config is not None:
        return meta.data_config
    cfg = resolve_data_config({}, model=model)
    return parse_input_spec({k: cfg[k] for k in FIELDS}, f"timm's data config of {type(model).__name__}",
                            source="timm")
