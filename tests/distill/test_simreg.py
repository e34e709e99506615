"""SimReg (Navaneet et al., BMVC 2021): loss, heads, export, caching, and that it learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from signal_helpers import CONFIGS, builtin_overrides
from signal_stats import mcnemar_claim
from torch import nn

from distill import run_recipe
from distill.methods.base import Batch
from distill.methods.simreg import SimReg, SimRegParams, normalized_mse, pooled_features
from distill.registry import get_method

RES = 32


def _student() -> nn.Module:
    return timm.create_model("test_resnet", num_classes=10)


def _teachers() -> nn.ModuleList:
    torch.manual_seed(1)
    vit = timm.create_model("test_vit", img_size=RES, num_classes=10)  # pooled width 64
    effnet = timm.create_model("test_efficientnet", num_classes=10)  # pooled width 256 (head conv)
    return nn.ModuleList([vit, effnet]).eval()


def _method(teacher: nn.Module, **params) -> SimReg:
    torch.manual_seed(0)
    values = {"head_layers": 4, "head_hidden_dims": [32, 16, 32], **params}
    return SimReg(_student(), teacher, SimRegParams.from_mapping(values))


def _batch(n: int = 8) -> Batch:
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(n, 3, RES, RES, generator=generator), torch.full((n,), -1))


def test_registered_and_declared():
    assert get_method("simreg") is SimReg
    assert SimReg.uses_labels is False and SimReg.cache_kind == "features" and SimReg.needs_teacher


def test_loss_is_two_minus_two_cos():
    pred, target = torch.randn(5, 7), torch.randn(5, 7) * 3
    unit_pred = pred / pred.norm(dim=1, keepdim=True)
    unit_target = target / target.norm(dim=1, keepdim=True)
    reference = ((unit_pred - unit_target) ** 2).sum(dim=1).mean()
    assert torch.allclose(normalized_mse(pred, target), reference, atol=1e-6)
    assert normalized_mse(target, 2 * target).abs() < 1e-6
    assert torch.allclose(normalized_mse(target, -target), torch.tensor(4.0))


def test_one_head_per_teacher_with_the_teachers_widths():
    method = _method(_teachers())
    assert len(method.heads) == 2
    for head, width in zip(method.heads, (64, 256), strict=True):
        linears = [m for m in head if isinstance(m, nn.Linear)]
        assert len(linears) == 4
        assert sum(isinstance(m, nn.BatchNorm1d) for m in head) == 3
        assert linears[0].in_features == 96  # test_resnet's pooled width
        assert linears[-1].out_features == width
    assert [m.out_features for m in linears[:-1]] == [32, 16, 32]
    authors = _method(_teachers(), head_layers=2, head_hidden_dims=None)
    for head in authors.heads:  # one hidden layer of twice the student's width
        assert [m.out_features for m in head if isinstance(m, nn.Linear)][:-1] == [192]
    with pytest.raises(ValueError, match="head_hidden_dims"):
        SimRegParams.from_mapping({"head_layers": 2, "head_hidden_dims": [8, 8]})


def test_no_top1_is_reported_for_the_untrained_classifier(tiny_data: Path, tiny_teacher: Path, tmp_path: Path):
    """SimReg never trains the classifier it exports: its student.json reports no top-1 (a chance-level number
    would reach the report as the student's source accuracy), only why."""
    import json

    from distill_helpers import tiny_recipe, write_recipe

    recipe = tiny_recipe(tiny_data, method={"name": "simreg", "head_layers": 2},
                         teacher={"checkpoint": str(tiny_teacher)}, train={"steps": 2}, cache={"enabled": False})
    run = run_recipe(write_recipe(tmp_path / "simreg.yaml", recipe), tmp_path / "run", device="cpu",
                     log=lambda _m: None)
    meta = json.loads((run / "student.json").read_text())
    assert "top1" not in meta["final_metrics"] and "untrained" in meta["final_metrics"]["classifier"]
    exported = load_file(run / "student.safetensors")  # the student alone: no regression heads, no teacher
    assert not any(k.startswith(("heads", "teacher")) for k in exported)
    timm.create_model(meta["arch"], num_classes=meta["num_classes"]).load_state_dict(exported, strict=True)


def test_cached_and_online_paths_agree_and_cache_skips_the_teacher():
    method = _method(_teachers())
    batch = _batch()
    cached = method.teacher_targets(batch.images)
    assert set(cached) == {"features.0", "features.1"}
    assert cached["features.0"].dtype == torch.float16 and cached["features.1"].shape == (8, 256)
    online = method.loss_terms(batch)

    def refuse(*_args):
        raise AssertionError("the teacher ran on a cached batch")

    handles = [t.register_forward_pre_hook(refuse) for t in method.teachers]
    replayed = method.loss_terms(Batch(batch.images, batch.labels, cached))
    for handle in handles:
        handle.remove()
    assert set(online) == set(replayed) == {"regression.0", "regression.1"}
    for key in online:
        assert torch.allclose(online[key], replayed[key], atol=1e-6)


def test_cache_is_shared_across_head_settings():
    plain = _method(_teachers())
    other = _method(_teachers(), head_layers=2, head_hidden_dims=[8], teacher_weights=[1.0, 3.0])
    assert plain.cache_signature() == other.cache_signature()
    assert plain.cache_signature()["kind"] == "features"


def test_teacher_weights_scale_each_term():
    batch = _batch()
    plain = _method(_teachers()).loss_terms(batch)
    weighted = _method(_teachers(), teacher_weights=[2.0, 0.5]).loss_terms(batch)
    assert torch.allclose(weighted["regression.0"], 2.0 * plain["regression.0"], atol=1e-6)
    assert torch.allclose(weighted["regression.1"], 0.5 * plain["regression.1"], atol=1e-6)
    with pytest.raises(ValueError, match="teacher_weights"):
        _method(_teachers(), teacher_weights=[1.0])
    with pytest.raises(ValueError, match="unknown key"):
        SimRegParams.from_mapping({"head_layer": 2})


def test_loss_decreases_on_a_fixed_batch():
    teacher = timm.create_model("test_efficientnet", num_classes=10).eval()
    method = _method(teacher).train()
    images = _batch(16).images
    batch = Batch(images, torch.full((16,), -1), method.teacher_targets(images))
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    losses = []
    for _ in range(20):
        loss = sum(method.loss_terms(batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0], losses
    assert all(not p.requires_grad for p in teacher.parameters())


# --- signal on the built-in data (slow) ----------------------------------------------------------


def knn_correct(
    train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, test_labels: torch.Tensor, k: int = 20
) -> torch.Tensor:
    """Cosine kNN, whether each test sample is classified right: its ``k`` most similar train features vote
    for their class, each vote weighted by its cosine similarity."""
    similarity = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    weights, neighbours = similarity.topk(k, dim=1)
    votes = torch.zeros(len(test), int(train_labels.max()) + 1).scatter_add_(1, train_labels[neighbours], weights)
    return votes.argmax(dim=1) == test_labels


def knn_top1(*args: torch.Tensor, k: int = 20) -> float:
    """Cosine kNN top-1 (percent), see :func:`knn_correct`."""
    return 100.0 * knn_correct(*args, k=k).float().mean().item()


def test_knn_top1_on_separable_and_on_shuffled_labels():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=generator) * 5
    labels = torch.arange(200) % 4
    points = centres[labels] + torch.randn(200, 16, generator=generator)
    assert knn_top1(points[:160], labels[:160], points[160:], labels[160:]) == 100.0
    shuffled = labels[torch.randperm(200, generator=generator)]
    assert knn_top1(points[:160], shuffled[:160], points[160:], labels[160:]) < 60.0


@torch.no_grad()
def _pooled_split(model: nn.Module, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features and labels of an ImageFolder split at its own size (the built-in 64 px), normalised as
    the built-in recipes do (mean = std = 0.5)."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((folder / name).glob("*.png"))]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f, _ in files])
    images = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    model.eval()
    features = torch.cat([pooled_features(model, chunk) for chunk in images.split(250)])
    return features, torch.tensor([c for _, c in files])


@pytest.mark.slow
def test_simreg_knn_beats_random_init_on_fashion(builtin_small, fashion_teacher, tmp_path):
    """Claim: SimReg's student (200 steps regressing the Lite2 teacher's features, labels unused) has better
    features than its own random init, by kNN top-1 on Fashion's 1000 test images; asserted by a one-sided
    exact McNemar test on the same images (:func:`signal_stats.mcnemar_claim`) at p < 0.01.

    Measured (seed 0, one thread): kNN top-1 66.5 (simreg) vs 60.6 (random init); 17.7% of the test images
    are right only for simreg, 11.8% only for random init: McNemar p = 3.5e-4 (the unpaired 99% lower bound
    of the difference, Newcombe's, is +0.9 points).
    """
    recipe = CONFIGS / "simreg" / "mobilenetv3_small_050_from_lite2_builtin.yaml"
    overrides = [
        *builtin_overrides(builtin_small, fashion_teacher, tmp_path / "cache"),
        "cache.views=1",  # one teacher pass over the images
        "train.steps=200",  # two thirds of the recipe's 300, for CI time
        "train.checkpoint_every=100",
    ]
    run = run_recipe(recipe, tmp_path / "simreg", overrides=overrides, device="cpu", log=lambda _m: None)
    torch.manual_seed(0)  # train.seed 0: the random init the run started from
    random_init = timm.create_model("mobilenetv3_small_050", num_classes=10)
    distilled = timm.create_model("mobilenetv3_small_050", num_classes=10)
    distilled.load_state_dict(load_file(run / "student.safetensors"), strict=True)
    fashion = builtin_small / "fashion"
    correct = {}
    for name, model in (("random init", random_init), ("simreg", distilled)):
        train, test = _pooled_split(model, fashion / "train"), _pooled_split(model, fashion / "test")
        correct[name] = knn_correct(*train, *test).tolist()
    claim = mcnemar_claim(correct["simreg"], correct["random init"], alpha=0.01)
    print(f"\nFashion test kNN top-1 (k=20, cosine), MobileNetV3-small-0.5, simreg vs random init: {claim}")
    assert claim.holds, claim
