"""One backbone class that puts any timm model into MMDetection and MMSegmentation.

Why one adapter and not mmdet's/mmseg's own backbones: the suite evaluates arbitrary timm students, and the
only weights it trusts are the ones its strict loader (:mod:`ssld_eval.backbones.loader`) has checked. So
the adapter builds the headless timm model, loads a safetensors file with ``load_state_dict_strictly`` (a
wrong key is an error, never a silent random init as with mmengine's ``init_cfg``), and only then prunes
what the detector does not use (a classifier's ``conv_head``, a ViT's final norm) so that DDP sees no
unused parameters. ``init_weights`` is a no-op: mmengine's runner calls it on the whole detector before
training, and it must not re-randomise what was loaded.

CNNs give their stride 4/8/16/32 maps through timm's ``forward_intermediates``; plain ViTs (one stride)
give their last block's map, turned into four scales by a ViTDet-style simple feature pyramid. The output
widths come from timm's ``feature_info`` (:func:`pyramid_channels`), so the task writes the neck's
``in_channels`` from the model instead of by hand.

Importing this module registers the class in both frameworks' ``MODELS``; configs pull it in with
``custom_imports=dict(imports=['ssld_eval.mm.backbone'], allow_failed_imports=False)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from mmdet.registry import MODELS as DET_MODELS
from mmengine.model import BaseModule
from mmseg.registry import MODELS as SEG_MODELS
from timm.layers import LayerNorm2d
from timm.layers import convert_sync_batchnorm as timm_convert_sync_batchnorm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ssld_eval.backbones.loader import KeyAudit, create_headless, load_state_dict_strictly, read_state_dict

#: strides the FPN / UperNet recipes expect, finest first
PYRAMID_STRIDES = (4, 8, 16, 32)


def _feature_info(model: nn.Module) -> list[dict[str, Any]]:
    info = getattr(model, "feature_info", None)
    if not info:
        raise ValueError(f"{type(model).__name__} has no timm feature_info; it cannot feed a feature pyramid")
    return [dict(entry) for entry in info]


def is_single_stride(model: nn.Module) -> bool:
    """True for plain ViTs: every feature level has the same stride, so a pyramid must be made."""
    return len({entry["reduction"] for entry in _feature_info(model)}) == 1


def default_out_indices(model: nn.Module) -> tuple[int, ...]:
    """The last feature level at each stride 4, 8, 16, 32 (CNNs) or the last block (single-stride ViTs)."""
    info = _feature_info(model)
    if is_single_stride(model):
        return (len(info) - 1,)
    chosen = []
    for stride in PYRAMID_STRIDES:
        levels = [i for i, entry in enumerate(info) if entry["reduction"] == stride]
        if not levels:
            found = sorted({entry["reduction"] for entry in info})
            raise ValueError(f"{type(model).__name__}: no feature level at stride {stride} (strides {found})")
        chosen.append(levels[-1])
    return tuple(chosen)


def pyramid_channels(model: nn.Module, out_indices: Sequence[int] | None = None) -> list[int]:
    """Widths of the four maps the adapter yields for ``model`` (read from ``feature_info``)."""
    info = _feature_info(model)
    indices = tuple(out_indices) if out_indices is not None else default_out_indices(model)
    if is_single_stride(model):
        width = info[indices[-1]]["num_chs"]
        return [width // 4, width // 2, width, width]
    return [info[i]["num_chs"] for i in indices]


class SimpleFeaturePyramid(nn.Module):
    """ViTDet's pyramid from one stride-16 map: 2 deconvs (4), 1 deconv (8), identity (16), max-pool (32)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        half, quarter = width // 2, width // 4
        self.up4 = nn.Sequential(
            nn.ConvTranspose2d(width, half, 2, stride=2), LayerNorm2d(half), nn.GELU(),
            nn.ConvTranspose2d(half, quarter, 2, stride=2),
        )
        self.up2 = nn.ConvTranspose2d(width, half, 2, stride=2)
        self.down2 = nn.MaxPool2d(2, stride=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.up4(x), self.up2(x), x, self.down2(x)


def _modules_up_to(model: nn.Module, boundary: str) -> list[tuple[nn.Module, bool]]:
    """``(module, whole)`` in registration (forward) order up to and including ``boundary``'s subtree.

    ``whole`` is False for the boundary's ancestors (the root, ``blocks``): only their own parameters
    (a ViT's ``cls_token`` and ``pos_embed``) come before the boundary, their later children do not.
    """
    taken: list[tuple[nn.Module, bool]] = []
    inside = False
    for name, module in model.named_modules():
        in_boundary = name == boundary or name.startswith(boundary + ".")
        if inside and not in_boundary:
            break
        inside = inside or in_boundary
        taken.append((module, in_boundary or not (name == "" or boundary.startswith(name + "."))))
    return taken


class StrictTimmBackbone(BaseModule):
    """A timm model as an mm backbone; weights only through the suite's strict loader.

    Args:
        arch: timm model name.
        weights: safetensors (or weights-only pickle) of the headless model; ``None`` keeps timm's
            random init (the task always passes a file, so that a run never starts from unloaded weights).
        model_kwargs: extra ``timm.create_model`` arguments (``img_size``, ``dynamic_img_size`` for ViTs).
        out_indices: timm feature levels to return; default: strides 4/8/16/32, or a ViT's last block.
        frozen_stages: -1 trains everything; k >= 0 freezes every parameter up to and including
            ``feature_info[k]`` (k = 0 is the stride-2 stem of a ResNet, k = 1 adds ``layer1``), as mm's
            ``frozen_stages`` does for its ResNets; frozen norms stay in eval mode.
        norm_eval: keep every BatchNorm of the timm model in eval mode while training.
        norm_cfg: ``None`` or ``dict(type='BN')`` keeps timm's norms; ``dict(type='SyncBN')`` converts the
            BatchNorms (timm's norm+act layers included) to synchronised ones, which needs torch.distributed.
        channels_last: run the timm model in channels-last memory format (much faster for depthwise and
            1x1 convolutions on CPU); the maps handed to the neck are contiguous NCHW again.
        init_cfg: must stay ``None``: mmengine's ``Pretrained`` init loads with ``strict=False``.
    """

    def __init__(
        self,
        arch: str,
        weights: str | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        out_indices: Sequence[int] | None = None,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        norm_cfg: Mapping[str, Any] | None = None,
        channels_last: bool = False,
        init_cfg: Any = None,
    ) -> None:
        if init_cfg is not None:
            raise ValueError(
                "StrictTimmBackbone: init_cfg must be None; weights are loaded strictly through 'weights' "
                f"(mmengine's init_cfg loads with strict=False), got {init_cfg!r}"
            )
        super().__init__(init_cfg=None)
        self.arch = arch
        self.model = create_headless(arch, **dict(model_kwargs or {}))
        self.audit: KeyAudit | None = None
        if weights is not None:
            self.audit = load_state_dict_strictly(
                self.model, read_state_dict(weights), source=str(weights), arch=arch
            )
        self.single_stride = is_single_stride(self.model)
        self.out_indices = tuple(out_indices) if out_indices is not None else default_out_indices(self.model)
        self.out_channels = pyramid_channels(self.model, self.out_indices)
        # forward_intermediates returns raw block outputs: drop the final norm / head so DDP sees no
        # parameter without a gradient (after loading, so the strict check saw the full model).
        self.model.prune_intermediate_layers(list(self.out_indices), prune_norm=True, prune_head=True)
        self.pyramid = SimpleFeaturePyramid(self.out_channels[-1]) if self.single_stride else None
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._apply_norm_cfg(norm_cfg)  # before freezing: the conversion replaces the norm modules
        self._frozen = self._freeze(frozen_stages)
        self.channels_last = channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    def _freeze(self, frozen_stages: int) -> list[nn.Module]:
        if frozen_stages < 0:
            return []
        info = _feature_info(self.model)
        if frozen_stages >= len(info):
            raise ValueError(f"frozen_stages={frozen_stages}: {self.arch} has {len(info)} feature levels")
        frozen = []
        for module, whole in _modules_up_to(self.model, info[frozen_stages]["module"]):
            for param in module.parameters(recurse=False):
                param.requires_grad = False
            if whole:
                frozen.append(module)
        return frozen

    def _apply_norm_cfg(self, norm_cfg: Mapping[str, Any] | None) -> None:
        kind = (norm_cfg or {}).get("type", "BN")
        if kind == "BN":
            return
        if kind != "SyncBN":
            raise ValueError(f"StrictTimmBackbone: norm_cfg type {kind!r}; expected 'BN' or 'SyncBN'")
        if not (dist.is_available() and dist.is_initialized()):
            # mmengine would revert SyncBN to a plain BN that drops timm's fused activation.
            raise ValueError("StrictTimmBackbone: SyncBN needs an initialised torch.distributed process group")
        self.model = timm_convert_sync_batchnorm(self.model)

    def init_weights(self) -> None:
        """Deliberately nothing: the weights were loaded strictly in ``__init__`` and must survive the
        runner's ``model.init_weights()``; the ViT pyramid keeps PyTorch's default initialisation."""

    def train(self, mode: bool = True) -> StrictTimmBackbone:
        super().train(mode)
        if mode:
            for module in self._frozen:
                module.eval()
            if self.norm_eval:
                for module in self.model.modules():
                    if isinstance(module, _BatchNorm):
                        module.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        features = self.model.forward_intermediates(
            x, indices=list(self.out_indices), intermediates_only=True, stop_early=True
        )
        if self.pyramid is not None:
            features = self.pyramid(features[-1])
        # mmcv's compiled ops (RoIAlign) index raw NCHW memory: hand the neck contiguous maps
        return tuple(f.contiguous() for f in features)


DET_MODELS.register_module(module=StrictTimmBackbone)
SEG_MODELS.register_module(module=StrictTimmBackbone)
