"""SimReg (Navaneet et al., BMVC 2021): loss, heads, export, caching, and that it learns."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from distill.methods.base import Batch
from distill.methods.simreg import SimReg, SimRegParams, normalized_mse
from distill.registry import get_method

RES = 32


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one intra-op thread is faster than two, and far faster on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_heads_and_teachers_absent_from_export():
    method = _method(_teachers())
    exported = method.student_state_dict()
    assert set(exported) == set(method.student.state_dict())
    assert not any(k.startswith(("heads", "teacher")) for k in exported)
    fresh = timm.create_model("test_resnet", num_classes=10)
    fresh.load_state_dict(exported, strict=True)


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
