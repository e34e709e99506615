"""The inputs a backbone's weights were made for, in timm's data-config shape. Torch-free.

Shape: what ``timm.data.resolve_data_config`` returns and ``pretrained_cfg`` holds: ``input_size``
([C, H, W]), ``interpolation``, ``crop_pct``, ``mean``, ``std`` on the 0-1 scale. A backbone's sidecar
(:mod:`ssld_core.sidecar`) carries it under ``data_config``: distill writes it into ``student.json``, the
built-in teachers', exported and converted backbones' ``.json`` carry it too. ``student.json`` files written
before the block existed carry the same facts under ``data`` (``image_size``, ``mean``, ``std``,
``interpolation``, ``crop_pct``); :func:`legacy_data_block` reads those, so that old runs keep their own
normalisation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SIDECAR_KEY = "data_config"
FIELDS = ("input_size", "interpolation", "crop_pct", "mean", "std")
_OPTIONAL = ("crop_mode",)


class InputSpecError(ValueError):
    """A sidecar's input description that does not validate; the message names the file and the field."""


@dataclass(frozen=True)
class InputSpec:
    input_size: tuple[int, int, int]
    interpolation: str
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str  # "sidecar", "sidecar (legacy data block)" or "timm": where the description came from

    @property
    def side(self) -> int:
        return self.input_size[-1]

    def mean_std_255(self) -> tuple[list[float], list[float]]:
        """Mean and std on the 0-255 scale (mmdet's and mmseg's ``data_preprocessor``)."""
        return [round(255 * m, 4) for m in self.mean], [round(255 * s, 4) for s in self.std]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def to_block(self) -> dict[str, Any]:
        """The sidecar's ``data_config`` block (what :func:`parse_input_spec` reads back)."""
        return {k: v for k, v in self.to_dict().items() if k != "source"}


def _triple(value: Any, where: str, name: str, kind: type) -> tuple[Any, Any, Any]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
        raise InputSpecError(f"{where}: field {name!r} must be a list of 3 numbers, found {value!r}")
    try:
        values = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise InputSpecError(f"{where}: field {name!r} must be a list of 3 numbers, found {value!r}") from None
    return values  # type: ignore[return-value]


def parse_input_spec(block: Any, where: str, source: str = "sidecar") -> InputSpec:
    """Strictly read a ``data_config`` block: every field present, nothing unknown, values of their type."""
    if not isinstance(block, Mapping):
        raise InputSpecError(f"{where}: {SIDECAR_KEY!r} must be an object, found {type(block).__name__}")
    unknown = sorted(set(block) - set(FIELDS) - set(_OPTIONAL))
    missing = [name for name in FIELDS if name not in block]
    if unknown or missing:
        raise InputSpecError(f"{where}: {SIDECAR_KEY} has unknown field(s) {unknown} and lacks {missing}; "
                             f"expected {list(FIELDS)}")
    size = block["input_size"]
    if isinstance(size, int):
        size = [3, size, size]
    input_size = _triple(size, where, "input_size", int)
    crop_pct = block["crop_pct"]
    if not isinstance(crop_pct, (int, float)) or not 0 < crop_pct <= 1:
        raise InputSpecError(f"{where}: field 'crop_pct' must be in (0, 1], found {crop_pct!r}")
    std = _triple(block["std"], where, "std", float)
    if min(std) <= 0:
        raise InputSpecError(f"{where}: field 'std' must be positive, found {list(std)}")
    if not isinstance(block["interpolation"], str):
        raise InputSpecError(f"{where}: field 'interpolation' must be a string, found {block['interpolation']!r}")
    return InputSpec(input_size=input_size, interpolation=block["interpolation"], crop_pct=float(crop_pct),
                     mean=_triple(block["mean"], where, "mean", float), std=std, source=source)


def legacy_data_block(data: Mapping[str, Any], where: str) -> InputSpec | None:
    """``student.json`` of distill runs made before ``data_config`` existed."""
    if "mean" not in data or "image_size" not in data:
        return None
    side = data["image_size"]
    side = side[-1] if isinstance(side, Sequence) else side
    block = {"input_size": [3, int(side), int(side)], "interpolation": data.get("interpolation", "bilinear"),
             "crop_pct": data.get("crop_pct") or 1.0, "mean": data["mean"], "std": data["std"]}
    return parse_input_spec(block, f"{where} (field 'data')", source="sidecar (legacy data block)")
