"""ScaleKD (Fan et al., NeurIPS 2024): DCT, losses, projector, stage adapters, TPP gradients, training."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import scipy.fft
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from signal_helpers import CONFIGS
from torch import nn

from distill import run_recipe
from distill.losses import hinton_kd
from distill.methods.base import Batch
from distill.methods.scalekd import (
    ScaleKD,
    ScaleKDParams,
    dct2,
    dct_matrix,
    frequency_mimic_loss,
    idct2,
    remove_dc,
    spatial_mimic_loss,
)
from distill.methods.scalekd_projector import CrossAttentionProjector
from distill.methods.scalekd_stages import stage_adapter
from distill.registry import get_method
from ssld_core.sidecar import BackboneMeta

RES = 64


def _swin() -> nn.Module:
    """A two-layer-wide Swin small enough for CPU tests; window 4 fits its 16/8/4/2 grids at 64 px."""
    return timm.create_model(
        "swin_tiny_patch4_window7_224",
        img_size=RES,
        embed_dim=16,
        depths=(1, 1, 1, 1),
        num_heads=(1, 2, 2, 4),
        window_size=4,
        num_classes=10,
    )


TEACHERS = {
    "vit": lambda: timm.create_model("test_vit", img_size=RES, num_classes=10),
    "swin": _swin,
    "cnn": lambda: timm.create_model("test_efficientnet", num_classes=10),
}


def _method(teacher: str = "vit", **params) -> ScaleKD:
    torch.manual_seed(0)
    values = {"image_size": RES, "num_heads": [4, 4], **params}
    student = timm.create_model("test_resnet", num_classes=10)
    return ScaleKD(student, TEACHERS[teacher]().eval(), ScaleKDParams.from_mapping(values))


def _batch(n: int = 4) -> Batch:
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(n, 3, RES, RES, generator=generator), torch.arange(n) % 10)


# --- pure functions ------------------------------------------------------------------------------


def test_dct_matches_scipy_and_inverts():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    reference = scipy.fft.dctn(x.numpy(), axes=(-2, -1), norm="ortho")
    np.testing.assert_allclose(dct2(x).numpy(), reference, atol=1e-12)
    np.testing.assert_allclose(idct2(dct2(x)).numpy(), x.numpy(), atol=1e-12)
    d = dct_matrix(6, torch.float64)
    assert torch.allclose(d @ d.T, torch.eye(6, dtype=torch.float64), atol=1e-12)


def test_remove_dc_zeroes_the_mean_and_keeps_the_rest():
    x = torch.randn(2, 3, 4, 6, dtype=torch.float64) + 5.0
    without = remove_dc(x)
    assert torch.allclose(without.mean(dim=(-2, -1)), torch.zeros(2, 3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(without, x - x.mean(dim=(-2, -1), keepdim=True), atol=1e-12)
    assert torch.allclose(dct2(without)[..., 0, 0], torch.zeros(2, 3, dtype=torch.float64), atol=1e-12)


def _reference_mimic(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    total = torch.zeros((), dtype=pred.dtype)
    b, _, h, w = pred.shape
    for i in range(b):
        for y in range(h):
            for x in range(w):
                p, t = pred[i, :, y, x], target[i, :, y, x]
                total = total + ((p / p.norm() - t / t.norm()) ** 2).sum()
    return total / b


def test_mimic_losses_match_a_direct_computation():
    pred, target = torch.randn(2, 5, 3, 4, dtype=torch.float64), torch.randn(2, 5, 3, 4, dtype=torch.float64)
    reference = _reference_mimic(pred, target)
    assert torch.allclose(spatial_mimic_loss(pred, target).double(), reference, rtol=1e-5)
    centre = lambda m: m - m.mean(dim=(-2, -1), keepdim=True)  # noqa: E731
    reference = _reference_mimic(centre(pred), centre(target))
    assert torch.allclose(frequency_mimic_loss(pred, target).double(), reference, rtol=1e-5)
    assert spatial_mimic_loss(target, 3 * target) < 1e-6


def test_mimic_losses_stay_fp32_under_autocast():
    pred, target = torch.randn(2, 5, 3, 4).bfloat16(), torch.randn(2, 5, 3, 4)
    exact = frequency_mimic_loss(pred.float(), target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for loss in (spatial_mimic_loss(pred, target), frequency_mimic_loss(pred, target)):
            assert loss.dtype == torch.float32
        assert torch.allclose(frequency_mimic_loss(pred, target), exact)


def test_frequency_view_of_a_single_position_is_zero_with_finite_gradients():
    # a 32 px input leaves a CNN teacher's stage 4 at 1x1: nothing but DC, so the view has nothing to match
    pred = torch.randn(2, 5, 1, 1, requires_grad=True)
    loss = frequency_mimic_loss(pred, torch.randn(2, 5, 1, 1))
    loss.backward()
    assert loss == 0 and torch.isfinite(pred.grad).all()


def test_the_logit_term_is_hinton_kd_on_raw_teacher_logits():
    """ScaleKD's logit term is losses.hinton_kd, fed the teacher's raw logits (log-softmax is shift-invariant,
    so logits and log-probabilities give the same loss): KL(teacher || student) at T, times T^2."""
    s, t = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    p_t, p_s = F.softmax(t, dim=1), F.softmax(s, dim=1)
    reference = (p_t * (p_t.log() - p_s.log())).sum(dim=1).mean()
    assert torch.allclose(hinton_kd(s, t, 1.0).double(), reference, atol=1e-6)
    p_t2, p_s2 = F.softmax(t / 2, dim=1), F.softmax(s / 2, dim=1)
    expected = 4 * (p_t2 * (p_t2.log() - p_s2.log())).sum(dim=1).mean()
    assert torch.allclose(hinton_kd(s, t, 2.0).double(), expected, atol=1e-6)
    assert torch.allclose(hinton_kd(s, t, 2.0), hinton_kd(s, F.log_softmax(t, dim=1), 2.0))


# --- projector and stage adapters ----------------------------------------------------------------


def test_projector_gives_the_teachers_grid_and_width():
    projector = CrossAttentionProjector(24, (3, 3), 16, (5, 4), width=32, num_heads=4)
    out = projector(torch.randn(2, 24, 3, 3))
    assert out.shape == (2, 20, 16)
    external = CrossAttentionProjector(24, (3, 3), 16, (5, 4), width=16, num_heads=2, learned_queries=False)
    assert external(torch.randn(2, 24, 3, 3), torch.randn(2, 20, 16)).shape == (2, 20, 16)
    with pytest.raises(ValueError, match="queries"):
        external(torch.randn(2, 24, 3, 3), torch.randn(2, 19, 16))
    with pytest.raises(ValueError, match="divisible"):
        CrossAttentionProjector(24, (3, 3), 16, (5, 4), width=30, num_heads=4)


ADAPTED = {
    "resnet": (lambda: timm.create_model("test_resnet", num_classes=10), (192, 4, 4), (96, 2, 2)),
    "efficientnet": (lambda: timm.create_model("test_efficientnet", num_classes=10), (48, 4, 4), (64, 2, 2)),
    "convnext": (lambda: timm.create_model("test_convnext", num_classes=10), (None, 4, 4), (None, 2, 2)),
    "vit": (TEACHERS["vit"], (64, 4, 4), (64, 4, 4)),
    "swin": (_swin, (64, 4, 4), (128, 2, 2)),
}


@pytest.mark.parametrize("family", sorted(ADAPTED))
def test_stage_adapter_last_stage_is_the_models_own(family):
    build, shape3, shape4 = ADAPTED[family]
    torch.manual_seed(0)
    model = build().eval()
    adapter = stage_adapter(model)
    images = torch.randn(2, 3, RES, RES)
    with torch.no_grad():
        out = adapter.forward(images)
        assert torch.allclose(out.logits, model(images))
        map3, map4 = adapter.to_map(out.stage3), adapter.to_map(out.stage4)
        for got, expected in ((map3.shape[1:], shape3), (map4.shape[1:], shape4)):
            assert got[1:] == expected[1:] and (expected[0] is None or got[0] == expected[0])
        # running the last stage on the captured stage-3 output reproduces the model's stage-4 output
        assert torch.allclose(adapter.run_last_stage(out.stage3), out.stage4, atol=1e-5)
        # row-major tokens of the stage-3 map go back to the native layout unchanged
        tokens = map3.flatten(2).transpose(1, 2)
        assert torch.equal(adapter.from_tokens(tokens, out.stage3), out.stage3)


def test_unsupported_model_is_named():
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.feature_info = [{"module": "a.0"}, {"module": "b.1"}]

    with pytest.raises(ValueError, match="Plain"):
        stage_adapter(Plain())


# --- the method ----------------------------------------------------------------------------------


def test_registered_and_declared():
    assert get_method("scalekd") is ScaleKD
    assert ScaleKD.uses_labels and ScaleKD.cache_kind is None and ScaleKD.needs_teacher


@pytest.mark.parametrize("teacher", sorted(TEACHERS))
def test_runs_with_each_teacher_family(teacher):
    method = _method(teacher).train()
    terms = method.loss_terms(_batch())
    expected = {f"{part}_{view}" for part in ("tpp", "stage4") for view in ("spatial", "frequency")}
    assert set(terms) == expected | {"kd", "ce"}
    assert all(t.ndim == 0 and torch.isfinite(t) for t in terms.values())
    sum(terms.values()).backward()
    assert all(p.grad is None for p in method.teacher.parameters())


def test_tpp_gradient_reaches_student_stage3_through_the_frozen_teacher():
    method = _method("vit").train()
    terms = method.loss_terms(_batch())
    terms["tpp_spatial"].backward()
    student = method.student
    stage3_grads = [p.grad for p in student.layer3.parameters()]
    assert all(g is not None for g in stage3_grads)
    assert sum(g.abs().sum() for g in stage3_grads) > 0  # (timm zero-inits the last BN of each block)
    assert all(p.grad is None for p in student.layer4.parameters())  # stage 4 does not feed this term
    assert all(p.grad is None and not p.requires_grad for p in method.teacher.parameters())
    assert all(p.grad is not None for p in method.projectors["stage3_spatial"].parameters())


def test_a_step_leaves_the_teacher_unchanged():
    method = _method("cnn").train()
    before = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    sum(method.loss_terms(_batch()).values()).backward()
    optimizer.step()
    after = method.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running BN stats included (eval mode)


def test_stage4_query_modes():
    tpp = _method("vit")
    assert tpp.projectors["stage4_spatial"].query_table is None
    assert tpp.projectors["stage3_spatial"].query_table.weight.shape == (16, 64)  # teacher grid 4x4, width 64
    learned = _method("vit", stage4_queries="learned")
    assert learned.projectors["stage4_frequency"].query_table.weight.shape == (16, 64)
    with pytest.raises(ValueError, match="stage4_queries"):
        ScaleKDParams.from_mapping({"stage4_queries": "student"})


def test_loss_decreases_on_a_fixed_batch():
    method = _method("cnn").train()
    batch = _batch(8)
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(20):
        loss = sum(method.loss_terms(batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0], losses


def test_wrong_resolution_and_several_teachers_are_refused():
    method = _method("cnn")
    with pytest.raises(ValueError, match="image_size"):
        method.loss_terms(Batch(torch.randn(2, 3, 32, 32), torch.zeros(2, dtype=torch.long)))
    teachers = nn.ModuleList([TEACHERS["cnn"](), TEACHERS["cnn"]()])
    student = timm.create_model("test_resnet", num_classes=10)
    with pytest.raises(ValueError, match="single teacher"):
        ScaleKD(student, teachers, ScaleKDParams.from_mapping({"image_size": RES, "num_heads": [4, 4]}))


def test_projectors_follow_the_recipes_training_size_and_stay_out_of_the_export(tiny_data, tiny_teacher, tmp_path):
    """method.image_size unset: the projectors' grids come from data.image_size (32 px here; the teacher's own
    default input is 160 px, whose grids would not fit the crops the trainer feeds). The exported file holds
    the student alone: no projectors, no teacher, loadable strictly into timm."""
    from distill_helpers import tiny_recipe, write_recipe

    recipe = tiny_recipe(tiny_data, method={"name": "scalekd", "num_heads": [4, 4]},
                         teacher={"checkpoint": str(tiny_teacher)}, data={"image_size": 32}, train={"steps": 2})
    run = run_recipe(write_recipe(tmp_path / "scalekd.yaml", recipe), tmp_path / "run", device="cpu",
                     log=lambda _m: None)
    meta = BackboneMeta.read(run / "student.json")
    assert meta.provenance["steps"] == 2 and meta.provenance["config"]["method"]["image_size"] is None
    exported = load_file(run / "student.safetensors")
    assert not any(k.startswith(("projectors", "teacher")) for k in exported)
    timm.create_model(meta.arch, num_classes=meta.num_classes).load_state_dict(exported, strict=True)


# --- signal on the built-in data (slow) ----------------------------------------------------------

# Not claimed: "ScaleKD beats supervised" on the built-in budget. Measured (Fashion test top-1 %, one
# thread, the built-in recipes' 300 steps, seeds 0-7; supervised as in test_distill_signal.py):
# scalekd 72.6 / 74.7 / 68.8 / 68.7 / 71.6 / 68.2 / 70.2 / 69.7 against supervised 70.6 / 10.1 / 70.9 /
# 69.2 / 69.9 / 68.8 / 67.9 / 69.6: 5 of 8 seeds won, median +0.90, one-sided Wilcoxon p = 0.19. At 200
# steps (what the earlier test ran, for CI time) seed 0 reached only 63.3. The gain is within the training
# noise at a budget CI can afford (a ScaleKD student runs its teacher online, 60 s a seed), so no test
# asserts it; the slow test below checks that ScaleKD trains (its mimic losses fall) with a ViT teacher.


@pytest.mark.slow
def test_scalekd_runs_with_a_vit_teacher_trained_here(builtin_small, tmp_path):
    """A ViT-Tiny/16 at 64 px trained here for a few steps (far from a good teacher: this checks the plumbing,
    the CNN student's projectors learning to mimic ViT tokens through the teacher's own last blocks)."""
    short = [
        f"data.root={builtin_small}",
        "train.steps=30",
        "train.checkpoint_every=30",
        "train.ema_decay=null",
        "train.log_every=1",
    ]
    vit_teacher = run_recipe(
        CONFIGS / "supervised" / "vit_tiny_patch16_teacher_builtin.yaml",
        tmp_path / "vit_teacher",
        overrides=short,
        device="cpu",
        log=lambda _m: None,
    )
    run = run_recipe(
        CONFIGS / "scalekd" / "mobilenetv3_small_050_from_vit_tiny_builtin.yaml",
        tmp_path / "scalekd_vit",
        overrides=[*short, f"teacher.checkpoint={vit_teacher}"],
        device="cpu",
        log=lambda _m: None,
    )
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"step"' in line]
    assert [r["step"] for r in logged] == list(range(1, 31)) and (run / "student.safetensors").is_file()
    terms = [f"{part}_{view}" for part in ("tpp", "stage4") for view in ("spatial", "frequency")]
    mimic = [sum(r[t] for t in terms) for r in logged]
    assert statistics.mean(mimic[-5:]) < 0.9 * statistics.mean(mimic[:5]), mimic
