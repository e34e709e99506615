"""The timm adapter: shapes from feature_info, strict loading, no re-initialisation, freezing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

from mmengine.config import Config
from mmengine.registry import init_default_scope

from ssld_eval.backbones.loader import CheckpointMismatchError, read_state_dict
from ssld_eval.mm.backbone import StrictTimmBackbone
from ssld_eval.mm.recipes import CONFIG_ROOT

pytestmark = pytest.mark.mm


@pytest.mark.parametrize(("arch", "kwargs", "channels"), [
    ("test_resnet", {}, [32, 48, 192, 96]),
    ("test_efficientnet", {}, [24, 32, 48, 64]),
    ("test_vit", {"img_size": 64, "dynamic_img_size": True, "dynamic_img_pad": True}, [16, 32, 64, 64]),
])
def test_four_scales_with_feature_info_widths(save_timm: Callable[..., Path], arch: str, kwargs: dict,
                                              channels: list[int]) -> None:
    weights = save_timm(arch, **kwargs)
    backbone = StrictTimmBackbone(arch, weights=str(weights), model_kwargs=kwargs).eval()
    assert backbone.out_channels == channels
    with torch.no_grad():
        maps = backbone(torch.randn(1, 3, 96, 128))
    assert [m.shape[1] for m in maps] == channels
    assert [(m.shape[2], m.shape[3]) for m in maps] == [(96 // s, 128 // s) for s in (4, 8, 16, 32)]


def test_wrong_prefix_file_is_refused_naming_keys(save_timm: Callable[..., Path]) -> None:
    weights = save_timm("test_resnet", prefix="detector.trunk.")
    expected = r"missing key\(s\): bn1\.bias.*unexpected key\(s\): detector\.trunk\.bn1"
    with pytest.raises(CheckpointMismatchError, match=expected):
        StrictTimmBackbone("test_resnet", weights=str(weights))


def test_init_cfg_is_refused() -> None:
    with pytest.raises(ValueError, match="init_cfg must be None"):
        StrictTimmBackbone("test_resnet", init_cfg={"type": "Pretrained", "checkpoint": "x.pth"})


def test_sync_bn_needs_a_process_group() -> None:
    with pytest.raises(ValueError, match="SyncBN needs an initialised"):
        StrictTimmBackbone("test_resnet", norm_cfg={"type": "SyncBN"})


@pytest.mark.parametrize(("scope", "recipe", "in_channels_keys"), [
    ("mmdet", "coco_det/moco_mask-rcnn_fpn_ms-1x.py", ("neck",)),
    ("mmseg", "ade20k_seg/upernet_512x512_160k.py", ("decode_head", "auxiliary_head")),
])
def test_model_init_weights_keeps_loaded_weights(save_timm: Callable[..., Path], scope: str, recipe: str,
                                                 in_channels_keys: tuple[str, ...]) -> None:
    """mmengine's runner calls ``init_weights()`` on the whole model: the backbone must come out unchanged."""
    from mmengine.registry import MODELS

    weights = save_timm("test_resnet")
    cfg = Config.fromfile(CONFIG_ROOT / recipe)
    cfg.model.backbone.update(arch="test_resnet", weights=str(weights), norm_cfg=None)
    channels = [32, 48, 192, 96]
    for key in in_channels_keys:
        node = cfg.model[key]
        node.in_channels = channels[node.in_index] if key == "auxiliary_head" else channels
        if "norm_cfg" in node:
            node.norm_cfg = {"type": "BN", "requires_grad": True}
    if scope == "mmdet":
        cfg.model.neck.norm_cfg = None
        cfg.model.roi_head.bbox_head.norm_cfg = cfg.model.roi_head.mask_head.norm_cfg = None
    init_default_scope(scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    reference = read_state_dict(weights)
    state = model.backbone.model.state_dict()
    assert state, "the backbone has no weights to compare"
    for key, value in state.items():
        assert torch.equal(value, reference[key]), key


def test_frozen_stages_and_norm_eval() -> None:
    frozen = StrictTimmBackbone("test_resnet", frozen_stages=1).train()
    grads = {name: p.requires_grad for name, p in frozen.model.named_parameters()}
    assert not grads["conv1.0.weight"] and not grads["layer1.0.conv1.weight"]
    assert grads["layer2.0.conv1.weight"] and grads["layer4.0.conv1.weight"]
    assert not frozen.model.layer1[0].bn1.training and frozen.model.layer2[0].bn1.training

    norm_eval = StrictTimmBackbone("test_resnet", norm_eval=True).train()
    bns = [m for m in norm_eval.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert all(p.requires_grad for p in norm_eval.parameters())


def test_vit_frozen_stem_includes_tokens() -> None:
    backbone = StrictTimmBackbone("test_vit", frozen_stages=0, model_kwargs={"dynamic_img_size": True}).train()
    grads = {name: p.requires_grad for name, p in backbone.model.named_parameters()}
    assert not grads["cls_token"] and not grads["pos_embed"] and not grads["patch_embed.proj.weight"]
    assert not grads["blocks.0.attn.qkv.weight"] and grads["blocks.1.attn.qkv.weight"]
    assert backbone.model.training and backbone.pyramid.training


def test_weights_check_stops_a_run_whose_backbone_was_reinitialised(save_timm: Callable[..., Path]) -> None:
    """A parent's init_cfg (e.g. Kaiming on every Conv2d) can reach into the backbone: the hook that runs
    right before the first iteration must notice."""
    from mmengine.model import BaseModule

    from ssld_eval.mm.runner import BackboneWeightsCheck, BackboneWeightsUnloaded

    weights = save_timm("test_resnet")
    model = BaseModule(init_cfg={"type": "Kaiming", "layer": "Conv2d"})
    model.backbone = StrictTimmBackbone("test_resnet", weights=str(weights))
    runner = SimpleNamespace(model=model)
    check = BackboneWeightsCheck(weights, resumed=False)
    check.before_train(runner)  # as loaded: passes
    model.init_weights()
    with pytest.raises(BackboneWeightsUnloaded, match=r"tensor\(s\) differ .*conv1\.0\.weight"):
        check.before_train(runner)


def test_channels_last_gives_the_same_contiguous_maps(save_timm: Callable[..., Path]) -> None:
    weights = str(save_timm("test_efficientnet"))
    plain = StrictTimmBackbone("test_efficientnet", weights=weights).eval()
    fast = StrictTimmBackbone("test_efficientnet", weights=weights, channels_last=True).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(plain(x), fast(x), strict=True):
            assert b.is_contiguous() and torch.allclose(a, b, atol=1e-5)
