"""ScaleKD (mmpretrain) checkpoints -> timm: restricted reading, strict key maps, and parity with mmpretrain.

Fast tests use fake student state dicts on the meta device, built from the converter's own maps; that they
have as many keys as mmpretrain 1.2.0's backbones (``MM_KEY_COUNTS``, counted from the real modules) is the
check of the maps that needs no mmpretrain. The slow tests build each mmpretrain backbone with random weights
(BatchNorm statistics calibrated on random images, then perturbed; LayerNorm affines, layer scales, position
embeddings and relative-position tables random), write it in ScaleKD's layouts with ``torch.save`` (the raw
distiller checkpoint with teacher / distill_losses / linear junk and a message hub of mmengine
``HistoryBuffer`` objects; the ``pth_transfer.py`` output with an ``ema_state_dict`` that must not be used),
load it with ``load_backbone(path, arch="scalekd:NAME")`` and compare the pooled features with mmpretrain's
(final backbone output, global average pooled, as ScaleKD's ``GlobalAveragePooling`` neck does).

Tolerance: in float64, max |timm - mm| <= 1e-9 x max |mm| (measured: at most 2e-15 relative). The B-size
models are compared in float32 straight from the state dict (no file: their maps are the S-size functions
at another depth), within 1e-5 relative. Each parity test checks that the two images of the batch get
different features, so that the comparison is not vacuous, and the Swin and Mixer tests check that the
tolerance catches the two subtle differences (the patch-merging channel order, LayerNorm eps 1e-5 vs 1e-6).
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import timm
import torch
from torch import nn

from ssld_eval.backbones import load_backbone
from ssld_eval.backbones.converted import ConversionError, convert, source_arch
from ssld_eval.converters import SCALEKD_ARCHS, TorchCheckpointError, convert_scalekd, convert_scalekd_state_dict
from ssld_eval.converters import scalekd as scalekd_module
from ssld_eval.converters.mmpretrain_maps import prefixed, unfold_to_timm_order
from ssld_eval.converters.torch_keymap import BN, BN_COUNTER
from ssld_eval.converters.torch_pickles import mmengine_globals, read_torch_checkpoint

# len(backbone.state_dict()) of mmpretrain 1.2.0's modules as ScaleKD configures them: ResNetV1d(depth=50),
# ResNet(depth=50), SwinTransformer('tiny'), VisionTransformer('deit-small' / 'deit-base',
# with_cls_token=False) (+1: the fork's cls_token), ConvNeXt('tiny', out_indices=(3,)), MlpMixer('s' / 'b').
MM_KEY_COUNTS = {
    ("resnet50", "v1d"): 330, ("resnet50", "v1b"): 318, ("swin_t", ""): 183, ("vit_s16", ""): 150,
    ("vit_b16", ""): 150, ("convnext_t", ""): 180, ("mixer_s16", ""): 100, ("mixer_b16", ""): 148,
}
HEAD_WIDTH = {"resnet50": 2048, "vit_s16": 384, "vit_b16": 768, "swin_t": 768, "convnext_t": 768,
              "mixer_s16": 512, "mixer_b16": 768}


def fake_backbone(arch: str, variant: str = "", fork_vit: bool = True) -> dict[str, torch.Tensor]:
    """A ``backbone.*`` state dict on the meta device in the layout the converter expects."""
    hint = {"backbone.conv1.weight"} if variant == "v1b" else ({"backbone.cls_token"} if fork_vit else set())
    layout = scalekd_module._ARCHS[arch].layout(hint)
    with torch.device("meta"):
        expected = timm.create_model(layout.timm_name, num_classes=0).state_dict()
        state: dict[str, torch.Tensor] = {}
        for m in prefixed(layout.maps, "backbone."):
            for param in m.params:
                key = f"{m.source}.{param}"
                shape = tuple(expected[f"{m.timm}.{param}" if m.timm else param].shape)
                if param == "pos_embed" and fork_vit:
                    shape = (1, shape[1] + 1, shape[2])
                state[key] = torch.empty(shape)
            if m.params == BN:
                state[f"{m.source}.{BN_COUNTER}"] = torch.empty((), dtype=torch.long)
        for key in layout.dropped:
            width = expected["pos_embed"].shape[-1] if key == "cls_token" else 0
            state[f"backbone.{key}"] = torch.empty((1, 1, width)) if width else torch.empty((49, 49), dtype=torch.long)
    return state


def with_head(state: dict[str, torch.Tensor], arch: str, classes: int = 1000) -> dict[str, torch.Tensor]:
    device = next(iter(state.values())).device
    return {**state, "head.fc.weight": torch.zeros(classes, HEAD_WIDTH[arch], device=device),
            "head.fc.bias": torch.zeros(classes, device=device)}


def as_distiller(student: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """ScaleKD's ClassificationDistiller state dict: the student beside teacher, losses and the stray linear."""
    state = OrderedDict((f"student.{k}", v) for k, v in student.items())
    state["teacher.backbone.patch_embed.projection.weight"] = torch.randn(8, 3, 4, 4)
    state["teacher.head.fc.weight"] = torch.randn(10, 8)
    state["distill_losses.loss_fmd_s3.projector.weight"] = torch.randn(16, 8)
    state["distill_losses.loss_fmd_s4.pos_embed"] = torch.randn(1, 4, 8)
    state["linear.weight"], state["linear.bias"] = torch.randn(384, 384), torch.randn(384)
    return state


_HUBS = iter(range(10**6))


def mmengine_extras() -> dict[str, Any]:
    """``meta``, ``message_hub`` (real HistoryBuffers, numpy scalars) and scheduler state as mmengine saves them."""
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance(f"scalekd-test-{next(_HUBS)}")
    for step in range(3):
        hub.update_scalar("train/loss", 1.0 / (step + 1))
        hub.update_scalar("train/lr", np.float64(1e-3))
    hub.update_info("epoch", 300)
    hub.update_info("best_score", np.float64(83.9))
    meta = {"epoch": 300, "iter": 375300, "cfg": "model = dict(type='ClassificationDistiller')", "seed": 0,
            "experiment_name": "swin-l_distill_deit-s_img_s3_s4", "mmengine_version": "0.10.7",
            "dataset_meta": {"classes": ("tench", "goldfish")}}
    return {"meta": meta, "message_hub": hub.state_dict(),
            "param_schedulers": [{"base_values": [1e-3], "last_step": 300, "_get_lr_called_within_step": False}]}


def raw_checkpoint(student: dict[str, torch.Tensor]) -> dict[str, Any]:
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                 "param_groups": [{"lr": 1e-3, "weight_decay": 0.05, "params": [0]}]}
    return {**mmengine_extras(), "state_dict": as_distiller(student), "optimizer": optimizer}


def transferred_checkpoint(student: dict[str, torch.Tensor], ema: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    """``pth_transfer.py``'s output: the student's keys, no optimizer; EMAHook's swapped ``ema_state_dict``."""
    checkpoint = {**mmengine_extras(), "state_dict": OrderedDict(student)}
    if ema is not None:
        checkpoint["ema_state_dict"] = {"steps": torch.tensor(375300), **{f"module.{k}": v for k, v in ema.items()}}
    return checkpoint


# ---------------------------------------------------------------------------------------------- fast tests


@pytest.mark.parametrize(("arch", "variant"), sorted(MM_KEY_COUNTS))
def test_expected_keys_match_mmpretrain_counts(arch: str, variant: str) -> None:
    assert len(fake_backbone(arch, variant)) == MM_KEY_COUNTS[(arch, variant)]


@pytest.mark.parametrize(("arch", "variant"), sorted(MM_KEY_COUNTS))
def test_converts_every_key_in_both_layouts(arch: str, variant: str) -> None:
    student = with_head(fake_backbone(arch, variant), arch)
    for state, layout in ((as_distiller(student), "distiller"), (student, "transferred")):
        converted = convert_scalekd_state_dict(state, arch, "x.pth")
        with torch.device("meta"):
            expected = timm.create_model(converted.timm_name).state_dict()
        assert list(converted.state_dict) == list(expected)
        assert converted.num_classes == 1000 and converted.details["layout"] == layout
        assert ("ignored_keys" in converted.details) == (layout == "distiller")
    expected_name = {"v1d": "resnet50d", "v1b": "resnet50"}.get(variant)
    if expected_name:
        assert converted.timm_name == expected_name
        assert converted.data_config["interpolation"] == ("bilinear" if variant == "v1b" else "bicubic")


def test_distiller_junk_is_counted_not_loaded() -> None:
    converted = convert_scalekd_state_dict(as_distiller(with_head(fake_backbone("mixer_s16"), "mixer_s16")),
                                           "mixer_s16", "x.pth")
    assert converted.details["ignored_keys"] == {"distill_losses": 2, "linear": 2, "teacher": 2}


def test_headless_student_converts_without_classifier() -> None:
    converted = convert_scalekd_state_dict(fake_backbone("convnext_t"), "convnext_t", "x.pth")
    assert converted.num_classes == 0 and not any(k.startswith("head.fc") for k in converted.state_dict)


def test_mmpretrain_vit_without_stored_class_token() -> None:
    state = with_head(fake_backbone("vit_s16", fork_vit=False), "vit_s16")
    assert "backbone.cls_token" not in state and state["backbone.pos_embed"].shape == (1, 196, 384)
    converted = convert_scalekd_state_dict(state, "vit_s16", "x.pth")
    assert converted.details["network"].startswith("mmpretrain")


def test_fork_vit_drops_the_class_token_row() -> None:
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in fake_backbone("vit_s16").items()}
    state["backbone.pos_embed"] = torch.arange(197 * 384, dtype=torch.float32).reshape(1, 197, 384)
    converted = convert_scalekd_state_dict(state, "vit_s16", "x.pth")
    assert torch.equal(converted.state_dict["pos_embed"], state["backbone.pos_embed"][:, 1:])
    assert "cls_token" not in converted.state_dict


def test_unfold_order_matches_timm_patch_merging() -> None:
    """Reorder mm's ``nn.Unfold`` channels and get timm's ``reshape/permute`` channels, on a real tensor."""
    c, x = 3, torch.randn(1, 3, 4, 6)
    unfolded = nn.Unfold(kernel_size=2, stride=2)(x).transpose(1, 2)  # [1, L, 4C], mm's order
    nhwc = x.permute(0, 2, 3, 1)
    timm_order = nhwc.reshape(1, 2, 2, 3, 2, c).permute(0, 1, 3, 4, 2, 5).flatten(3).reshape(1, 6, 4 * c)
    assert torch.equal(unfold_to_timm_order(unfolded), timm_order)
    weight = torch.randn(5, 4 * c)  # the columns of reduction.weight follow the same order
    assert torch.allclose(unfolded @ weight.T, timm_order @ unfold_to_timm_order(weight).T, atol=1e-6)


def test_leftover_key_is_named() -> None:
    state = as_distiller(with_head(fake_backbone("mixer_s16"), "mixer_s16"))
    state["student.backbone.layers.0.extra.weight"] = torch.ones(3)
    with pytest.raises(TorchCheckpointError, match=r"x\.pth \(keys under 'student\.'\): 1 key\(s\) this "
                       r"converter does not consume: 'backbone\.layers\.0\.extra\.weight'"):
        convert_scalekd_state_dict(state, "mixer_s16", "x.pth")


def test_missing_key_is_named() -> None:
    state = fake_backbone("swin_t")
    del state["backbone.stages.1.downsample.reduction.weight"]
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: 1 expected key\(s\) missing: "
                       r"'backbone\.stages\.1\.downsample\.reduction\.weight'"):
        convert_scalekd_state_dict(state, "swin_t", "x.pth")


def test_wrong_shape_names_both_keys() -> None:
    state = fake_backbone("convnext_t")
    state["backbone.stages.2.4.gamma"] = torch.empty(96, device="meta")
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: 1 key\(s\) have a shape .*'backbone\.stages\.2\.4\.gamma' "
                       r"-> 'stages\.2\.blocks\.4\.gamma': \(96,\) vs \(384,\)"):
        convert_scalekd_state_dict(state, "convnext_t", "x.pth")


def test_weights_of_another_student_are_refused() -> None:
    with pytest.raises(TorchCheckpointError, match=r"vit_s\.pth: .*have a shape timm 'scalekd_vit_base_patch16_224'"):
        convert_scalekd_state_dict(fake_backbone("vit_s16"), "vit_b16", "vit_s.pth")
    with pytest.raises(TorchCheckpointError, match=r"mixer\.pth: .*expected key\(s\) missing: 'backbone\.layers\.8\."):
        convert_scalekd_state_dict(fake_backbone("mixer_s16"), "mixer_b16", "mixer.pth")


def test_neither_layout_is_refused() -> None:
    with pytest.raises(TorchCheckpointError, match=r"x\.pth: neither a ScaleKD distiller checkpoint .*'layers\.0"):
        convert_scalekd_state_dict({"layers.0.ln1.weight": torch.ones(2)}, "mixer_s16", "x.pth")


def test_unknown_arch_is_named_before_reading(tmp_path: Path) -> None:
    with pytest.raises(TorchCheckpointError, match=r"absent\.pth: unknown ScaleKD student 'deit_s'; supported: "
                       r"resnet50 \(ResNet-50\), vit_s16 \(ViT-S/16\)"):
        convert_scalekd(tmp_path / "absent.pth", "deit_s")
    with pytest.raises(ConversionError, match=r"--arch scalekd:deit_s: scalekd has no converter for 'deit_s'; "
                       r"supported: resnet50, vit_s16, vit_b16, swin_t, convnext_t, mixer_s16, mixer_b16"):
        source_arch("scalekd:deit_s")
    assert source_arch("scalekd:swin_t") == ("scalekd", "swin_t")
    assert SCALEKD_ARCHS == ("resnet50", "vit_s16", "vit_b16", "swin_t", "convnext_t", "mixer_s16", "mixer_b16")


def test_state_dict_is_used_not_ema_state_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    student = {k: torch.full(v.shape, 1.0, dtype=v.dtype) for k, v in fake_backbone("mixer_s16").items()}
    ema = {k: torch.full(v.shape, 2.0, dtype=v.dtype) for k, v in student.items()}
    monkeypatch.setattr(scalekd_module, "read_torch_checkpoint", lambda *_: transferred_checkpoint(student, ema))
    converted = convert_scalekd(Path("t.pth"), "mixer_s16")
    assert all(bool((v == 1).all()) for k, v in converted.state_dict.items() if not k.endswith(BN_COUNTER))
    assert converted.details["weights"] == "state_dict" and "ema_state_dict" in converted.details


def test_reads_mmengine_objects_that_plain_weights_only_refuses(tmp_path: Path) -> None:
    path = tmp_path / "raw.pth"
    torch.save(raw_checkpoint({"backbone.x": torch.ones(2)}), path)
    with pytest.raises(pickle.UnpicklingError, match="HistoryBuffer"):
        torch.load(path, weights_only=True)
    loaded = read_torch_checkpoint(path, mmengine_globals)
    buffer = loaded["message_hub"]["log_scalars"]["train/loss"]
    assert type(buffer).__name__ == "HistoryBuffer" and buffer.current() == pytest.approx(1 / 3)
    assert loaded["message_hub"]["runtime_info"]["best_score"] == pytest.approx(83.9)
    assert torch.equal(loaded["state_dict"]["student.backbone.x"], torch.ones(2))


def test_reads_numpy_1_pickles(tmp_path: Path) -> None:
    """ScaleKD's files come from numpy 1, which names ``numpy.core.multiarray``: written here by renaming."""
    path = tmp_path / "np1.pth"
    torch.save(mmengine_extras(), path, _use_new_zipfile_serialization=False)  # one plain pickle stream
    data = path.read_bytes()
    assert b"numpy._core.multiarray" in data
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    loaded = read_torch_checkpoint(path, mmengine_globals)
    assert loaded["message_hub"]["runtime_info"]["best_score"] == pytest.approx(83.9)


def _record_execution(marker: str) -> None:  # what a malicious pickle would call
    Path(marker).write_text("executed")


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return _record_execution, (self.marker,)


@pytest.mark.parametrize("payload", ["function", "os.system"])
def test_disallowed_global_is_refused_without_executing(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pth"

    class System:
        def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
            return os.system, (f"touch {marker}",)

    evil = _Evil(marker) if payload == "function" else System()
    torch.save({**mmengine_extras(), "state_dict": {"student.backbone.x": torch.ones(1)}, "hook": evil}, path)
    name = r"\S*_record_execution" if payload == "function" else r"(posix|os|nt)\.system"
    with pytest.raises(ConversionError, match=rf"evil\.pth: refusing to load global {name}: .*nothing was executed"):
        convert(path, "scalekd:mixer_s16")
    assert not marker.exists()


def test_truncated_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save(raw_checkpoint({"backbone.x": torch.ones(2)}), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TorchCheckpointError, match=r"cut\.pth: not readable as a weights-only PyTorch checkpoint"):
        convert_scalekd(path, "swin_t")


# ---------------------------------------------------------------------------------------------- parity (slow)

FLOAT64_TOLERANCE = 1e-9
FLOAT32_TOLERANCE = 1e-5


def _randomise(model: nn.Module, size: int, seed: int) -> None:
    """Random affines / embeddings; BatchNorm statistics calibrated on random images, then perturbed."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            leaf = name.rsplit(".", 1)[-1]
            if not tensor.is_floating_point() or leaf in ("running_mean", "running_var"):
                continue
            if leaf in ("pos_embed", "cls_token", "relative_position_bias_table"):
                tensor.copy_(0.5 * torch.randn(tensor.shape, generator=g))
            elif tensor.ndim == 1 and leaf in ("weight", "gamma"):  # norm affines, ConvNeXt's layer scale
                tensor.copy_(1 + 0.3 * torch.randn(tensor.shape, generator=g))
            elif tensor.ndim == 1:  # biases
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=g))
        if bns:
            for bn in bns:
                bn.momentum = 1.0
            model.train()
            model(torch.randn(4, 3, size, size, generator=g))
            for bn in bns:
                std = bn.running_var.sqrt()
                bn.running_mean.add_(0.2 * std * torch.randn(std.shape, generator=g))
                bn.running_var.mul_(torch.empty(std.shape).uniform_(0.7, 1.4, generator=g))
    model.eval()


def _pooled(output: Any) -> torch.Tensor:
    """The last backbone output, globally average pooled (ScaleKD's GlobalAveragePooling neck)."""
    last = output[-1] if isinstance(output, (tuple, list)) else output
    return last.flatten(2).mean(-1) if last.ndim > 2 else last


def _assert_close(expected: torch.Tensor, actual: torch.Tensor, tolerance: float, what: str) -> float:
    scale = float(expected.abs().max())
    diff = float((expected - actual).abs().max())
    print(f"{what}: max |diff| {diff:.3g}, feature scale {scale:.3g}, relative {diff / scale:.3g}")
    assert float((expected[0] - expected[1]).abs().max()) > 0.01 * scale, f"{what}: features ignore the input"
    assert diff <= tolerance * scale, f"{what}: max |diff| {diff:.3g} > {tolerance} x {scale:.3g}"
    return diff / scale


@pytest.fixture(scope="module")
def mm() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mmpretrain.models as models
    except ImportError as exc:
        pytest.fail(f"mmpretrain is needed for the ScaleKD parity tests (requirements/data-packages.txt): {exc}")
    return models


def _mm_backbone(mm: Any, arch: str, variant: str) -> tuple[nn.Module, int]:
    builders: dict[str, Callable[[], nn.Module]] = {
        "resnet50": (lambda: mm.ResNet(depth=50)) if variant == "v1b" else (lambda: mm.ResNetV1d(depth=50)),
        "vit_s16": lambda: mm.VisionTransformer(arch="deit-small", with_cls_token=False, out_type="featmap"),
        "vit_b16": lambda: mm.VisionTransformer(arch="deit-base", with_cls_token=False, out_type="featmap"),
        "swin_t": lambda: mm.SwinTransformer(arch="tiny"),
        "convnext_t": lambda: mm.ConvNeXt(arch="tiny", out_indices=(3,), gap_before_final_norm=False),
        "mixer_s16": lambda: mm.MlpMixer(arch="s"),
        "mixer_b16": lambda: mm.MlpMixer(arch="b"),
    }
    size = 64 if arch in ("resnet50", "convnext_t") else 224
    torch.manual_seed(len(arch) + len(variant))  # mmpretrain's constructors draw from the global generator
    model = builders[arch]()
    _randomise(model, size, seed=len(arch) + len(variant))
    return model, size


def _student(model: nn.Module, arch: str, fork_vit: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    student = {f"backbone.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    if fork_vit:  # ScaleKD's fork keeps an unused class token and its pos_embed row
        width = student["backbone.pos_embed"].shape[-1]
        student["backbone.cls_token"] = torch.randn(1, 1, width, generator=g)
        student["backbone.pos_embed"] = torch.cat([torch.randn(1, 1, width, generator=g),
                                                   student["backbone.pos_embed"]], dim=1)
    student["head.fc.weight"] = torch.randn(1000, HEAD_WIDTH[arch], generator=g)
    student["head.fc.bias"] = torch.randn(1000, generator=g)
    return student


PARITY = [  # arch, variant, file layout
    ("resnet50", "v1d", "distiller"),
    ("resnet50", "v1b", "transferred"),
    ("vit_s16", "", "distiller"),
    ("swin_t", "", "distiller"),
    ("convnext_t", "", "transferred"),
    ("mixer_s16", "", "distiller"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "variant", "layout"), PARITY)
def test_parity_with_mmpretrain_through_the_loader(mm: Any, tmp_path: Path, arch: str, variant: str,
                                                   layout: str) -> None:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    model, size = _mm_backbone(mm, arch, variant)
    student = _student(model, arch, fork_vit=arch == "vit_s16")
    path = tmp_path / f"{arch}.pth"
    if layout == "distiller":
        torch.save(raw_checkpoint(student), path)
    else:  # EMAHook's swapped-out raw weights: different values, which must not be the ones loaded
        torch.save(transferred_checkpoint(student, ema={k: v + 1 for k, v in student.items()
                                                        if v.is_floating_point()}), path)
    loaded = load_backbone(str(path), arch=f"scalekd:{arch}")
    assert loaded.audit.matched == loaded.audit.expected and set(loaded.audit.dropped_head) <= {
        "fc.weight", "fc.bias", "head.weight", "head.bias", "head.fc.weight", "head.fc.bias"}
    assert loaded.meta is not None and loaded.meta.provenance["layout"] == layout
    assert loaded.inputs.interpolation == ("bilinear" if variant == "v1b" else "bicubic")
    timm_model = loaded.model.eval().double()
    model.double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, actual = _pooled(model(x)), timm_model(x)
    _assert_close(expected, actual, FLOAT64_TOLERANCE, f"scalekd:{arch} {variant} ({layout}) vs mmpretrain")

    if arch == "convnext_t":  # export: the sidecar's registered timm name alone rebuilds it
        from ssld_eval import cli

        out = tmp_path / "exported.safetensors"
        assert cli.main(["export", str(path), "--arch", f"scalekd:{arch}", "--out", str(out)]) == 0
        again = load_backbone(str(out))
        assert again.arch == "scalekd_convnext_tiny" and again.meta.provenance["source_arch"] == "scalekd:convnext_t"
        assert again.inputs.to_block() == loaded.inputs.to_block()
        with torch.no_grad():
            assert torch.equal(again.model.eval().double()(x), actual)

    if arch in ("swin_t", "mixer_s16"):  # the subtle differences are larger than the tolerance
        wrong = timm.create_model("mixer_s16_224" if arch == "mixer_s16" else loaded.arch, num_classes=0).double()
        weights = dict(loaded.model.state_dict())
        if arch == "swin_t":  # without the patch-merging reorder
            for i in (1, 2, 3):
                for name in ("norm.weight", "norm.bias", "reduction.weight"):
                    weights[f"layers.{i}.downsample.{name}"] = student[f"backbone.stages.{i - 1}.downsample.{name}"]
        wrong.load_state_dict(weights)
        with torch.no_grad():
            off = float((wrong.eval()(x) - expected).abs().max()) / float(expected.abs().max())
        print(f"scalekd:{arch} negative control: relative {off:.3g}")
        assert off > 100 * FLOAT64_TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["vit_b16", "mixer_b16"])
def test_parity_base_models_from_the_state_dict(mm: Any, arch: str) -> None:
    model, size = _mm_backbone(mm, arch, "")
    converted = convert_scalekd_state_dict(_student(model, arch, fork_vit=False), arch, "mem")
    timm_model = timm.create_model(converted.timm_name, num_classes=0)
    timm_model.load_state_dict({k: v for k, v in converted.state_dict.items() if not k.startswith("head.")})
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, actual = _pooled(model(x)), timm_model.eval()(x)
    _assert_close(expected, actual, FLOAT32_TOLERANCE, f"scalekd:{arch} vs mmpretrain (float32)")
