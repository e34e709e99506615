"""The last two stages of a timm model, for ScaleKD (Fan et al., NeurIPS 2024, arXiv 2411.06786).

ScaleKD needs, for both networks, the outputs of the last two stages and, for the teacher, the ability to run
its own last stage on a tensor the student produced (teacher parameter perception). :class:`StageAdapter`
gives that for three families, each in its native layout:

* CNNs (ResNet, EfficientNet / MobileNetV3, ConvNeXt, RegNet, ...): the last two entries of ``feature_info``
  name the stage-3 and stage-4 modules; the last stage is every module after stage 3 up to stage 4, either
  in the shared container (``blocks.4`` -> ``blocks.6`` runs ``blocks[5:7]``) or among the model's top-level
  children (``layer3`` -> ``layer4``). Layout NCHW.
* Plain ViTs: the transformer blocks split into four groups, the last holding ``depth // 4`` blocks; stage 3 is
  the output of the block before it, the last stage is that group plus the final norm. Layout: the full token
  sequence (B, prefix + H*W, C), so the cls/prefix tokens pass through the teacher's last stage too.
* Swin: ``layers[-2]`` and ``layers[-1]`` plus the final norm. Layout NHWC.

Outputs are captured with forward hooks during the model's own ``forward``, so logits and stage features
come from one pass and the adapter never re-implements a model's forward beyond its last stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn


@dataclass(frozen=True)
class StageOutputs:
    """One forward pass: the stage-3 and stage-4 outputs in the model's native layout, and the logits."""

    stage3: torch.Tensor
    stage4: torch.Tensor
    logits: torch.Tensor


class StageAdapter:
    """Hooks into a timm model's last two stages. Not an ``nn.Module``: it only points at the model's modules,
    so it adds no parameters and no state-dict keys."""

    def __init__(
        self,
        model: nn.Module,
        stage3: nn.Module,
        stage4: nn.Module,
        last_stage: list[nn.Module],
        layout: str,
        num_prefix_tokens: int = 0,
        grid: tuple[int, int] | None = None,
    ) -> None:
        self.model = model
        self.stage3_module = stage3
        self.stage4_module = stage4
        self.last_stage = last_stage
        self.layout = layout
        self.num_prefix_tokens = num_prefix_tokens
        self.grid = grid

    def forward(self, images: torch.Tensor) -> StageOutputs:
        """Run the whole model once, capturing the two stage outputs."""
        captured: dict[str, torch.Tensor] = {}

        def capture(key: str):
            def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
                captured[key] = output

            return hook

        handles = [
            self.stage3_module.register_forward_hook(capture("stage3")),
            self.stage4_module.register_forward_hook(capture("stage4")),
        ]
        try:
            logits = self.model(images)
        finally:
            for handle in handles:
                handle.remove()
        return StageOutputs(captured["stage3"], captured["stage4"], logits)

    def run_last_stage(self, stage3: torch.Tensor) -> torch.Tensor:
        """The model's own last stage applied to a stage-3 tensor in native layout (gradients flow through
        to ``stage3``; the module's parameters stay as they are)."""
        x = stage3
        for module in self.last_stage:
            x = module(x)
        return x

    def to_map(self, native: torch.Tensor) -> torch.Tensor:
        """Native layout -> (B, C, H, W); a ViT's prefix tokens are dropped."""
        if self.layout == "nchw":
            return native
        if self.layout == "nhwc":
            return native.permute(0, 3, 1, 2)
        patches = native[:, self.num_prefix_tokens :]
        return patches.transpose(1, 2).reshape(patches.shape[0], patches.shape[2], *self.grid)

    def from_tokens(self, tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(B, H*W, C) row-major tokens -> the native layout of ``reference`` (a stage-3 output of this model).
        For a ViT the reference's own prefix tokens are put in front: a projector only makes patch tokens, and
        the teacher's last stage expects the cls token it computed itself."""
        b, _, c = tokens.shape
        if self.layout == "nchw":
            return tokens.transpose(1, 2).reshape(b, c, *reference.shape[-2:])
        if self.layout == "nhwc":
            return tokens.reshape(b, *reference.shape[1:3], c)
        return torch.cat([reference[:, : self.num_prefix_tokens].detach(), tokens], dim=1)


def _vit_adapter(model: VisionTransformer) -> StageAdapter:
    depth = len(model.blocks)
    if depth < 2:
        raise ValueError(f"a ViT needs at least 2 blocks to have a last stage, got {depth}")
    start = depth - max(depth // 4, 1)
    return StageAdapter(
        model,
        stage3=model.blocks[start - 1],
        stage4=model.norm,
        last_stage=[*model.blocks[start:], model.norm],
        layout="tokens",
        num_prefix_tokens=model.num_prefix_tokens,
        grid=tuple(model.patch_embed.grid_size),
    )


def _swin_adapter(model: SwinTransformer) -> StageAdapter:
    return StageAdapter(
        model, stage3=model.layers[-2], stage4=model.norm, last_stage=[model.layers[-1], model.norm], layout="nhwc"
    )


def _cnn_adapter(model: nn.Module) -> StageAdapter:
    names = [info["module"] for info in model.feature_info][-2:]
    if len(names) < 2:
        raise ValueError(f"{type(model).__name__}: feature_info lists fewer than two stages")
    name3, name4 = names
    container3, _, index3 = name3.rpartition(".")
    container4, _, index4 = name4.rpartition(".")
    if container3 and container3 == container4 and index3.isdigit() and index4.isdigit():
        blocks = model.get_submodule(container3)
        last = list(blocks[int(index3) + 1 : int(index4) + 1])
        return StageAdapter(model, blocks[int(index3)], blocks[int(index4)], last, layout="nchw")
    children = [name for name, _ in model.named_children()]
    if name3 in children and name4 in children:
        last = [model.get_submodule(n) for n in children[children.index(name3) + 1 : children.index(name4) + 1]]
        return StageAdapter(model, model.get_submodule(name3), model.get_submodule(name4), last, layout="nchw")
    raise ValueError(
        f"{type(model).__name__}: cannot tell its last stage from feature_info modules {name3!r}, {name4!r} "
        "(supported: CNNs whose last two stages are siblings, plain ViTs, Swin)"
    )


def stage_adapter(model: nn.Module) -> StageAdapter:
    """The adapter for ``model``'s family (ViT, Swin, else a CNN described by ``feature_info``)."""
    if isinstance(model, VisionTransformer):
        return _vit_adapter(model)
    if isinstance(model, SwinTransformer):
        return _swin_adapter(model)
    return _cnn_adapter(model)
