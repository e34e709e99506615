"""Fine-tuning parts: per-stage learning-rate multipliers mapped by feature_info, layer decay, schedules."""

import pytest
import timm
import torch
from timm.scheduler import create_scheduler_v2

from ssld_eval.tasks.configs import FineTuneConfig as Config
from ssld_eval.tasks.fine_tune import build_optimizer, loss_fn, parameter_stages, stage_param_groups

SSLD_RESNET50_VD = (0.1, 0.1, 0.2, 0.2, 0.3)


def model(arch: str, classes: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(arch, num_classes=classes)


def test_resnet_stages_are_stem_plus_four_layers():
    stages, mapping = parameter_stages(model("test_resnet"))
    assert stages == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert mapping["conv1.0.weight"] == 0 and mapping["bn1.weight"] == 0
    assert mapping["layer1.0.conv1.weight"] == 1 and mapping["layer4.0.bn2.bias"] == 4


def test_efficientnet_stem_and_head_conv_join_the_first_and_last_stage():
    stages, mapping = parameter_stages(model("test_efficientnet"))
    assert len(stages) == 5
    assert mapping["conv_stem.weight"] == 0 and mapping["conv_head.weight"] == 4


def test_stage_groups_scale_lr_keep_head_at_one_and_skip_decay_on_1d():
    net = model("test_resnet")
    groups = stage_param_groups(net, SSLD_RESNET50_VD, weight_decay=1e-4)
    scale_of = {id(p): (g["lr_scale"], g["weight_decay"]) for g in groups for p in g["params"]}
    params = dict(net.named_parameters())
    assert scale_of[id(params["conv1.0.weight"])] == (0.1, 1e-4)
    assert scale_of[id(params["layer3.0.conv1.weight"])] == (0.2, 1e-4)
    assert scale_of[id(params["layer4.0.bn1.weight"])] == (0.3, 0.0)
    assert scale_of[id(params["fc.weight"])] == (1.0, 1e-4)
    assert sum(len(g["params"]) for g in groups) == len(params)
    with pytest.raises(ValueError, match=r"3 values; this backbone has 5 stages \['act1', 'layer1'"):
        stage_param_groups(net, (0.1, 0.2, 0.3), 1e-4)


def test_scheduler_applies_stage_multipliers():
    net = model("test_resnet")
    optimizer = build_optimizer(net, Config(lr=0.1, stage_lr=SSLD_RESNET50_VD))
    scheduler, _ = create_scheduler_v2(optimizer, sched="cosine", num_epochs=100, warmup_epochs=0)
    scheduler.step(50)
    by_scale = {g["lr_scale"]: g["lr"] for g in optimizer.param_groups}
    assert by_scale[1.0] == pytest.approx(0.05, rel=1e-3)  # half-way down the cosine
    assert by_scale[0.2] == pytest.approx(0.2 * by_scale[1.0])


def test_layer_decay_for_vits_and_exclusive_options():
    optimizer = build_optimizer(model("test_vit"), Config(opt="adamw", lr=1e-3, layer_decay=0.65))
    scales = sorted({g["lr_scale"] for g in optimizer.param_groups})
    assert len(scales) > 5 and scales[-1] == 1.0 and scales[0] == pytest.approx(0.65 ** (len(scales) - 1))
    with pytest.raises(ValueError, match="not both"):
        build_optimizer(model("test_vit"), Config(layer_decay=0.65, stage_lr=(1.0,)))


def test_multilabel_loss_ignores_difficult_entries():
    logits = torch.tensor([[2.0, -1.0, 5.0]])
    easy = loss_fn(logits, torch.tensor([[1, 0, -1]]), 0.0)
    other = loss_fn(torch.tensor([[2.0, -1.0, -5.0]]), torch.tensor([[1, 0, -1]]), 0.0)
    assert easy.item() == pytest.approx(other.item())
    assert loss_fn(torch.tensor([[3.0, 0.0]]), torch.tensor([0]), 0.1) > loss_fn(torch.tensor([[3.0, 0.0]]),
                                                                                   torch.tensor([0]), 0.0)
