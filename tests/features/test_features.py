"""Feature extraction, the evaluation transform and the on-disk cache."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from ssld_core.sidecar import BackboneMeta
from ssld_eval.backbones import KeyAudit, LoadedBackbone
from ssld_eval.datasets.base import ArraySource
from ssld_eval.features.cache import FeatureCache, feature_key, weights_identity
from ssld_eval.features.extract import Features, extract_features
from ssld_eval.features.transforms import eval_transform


def backbone(arch: str = "test_resnet", sidecar: dict | None = None, seed: int = 0) -> LoadedBackbone:
    torch.manual_seed(seed)
    model = timm.create_model(arch, num_classes=0)
    weights_id = f"random-init:{arch}"
    meta = None if sidecar is None else BackboneMeta.from_dict({"arch": arch, "method": "kd", **sidecar}, "x.json")
    return LoadedBackbone(model, arch, weights_id, KeyAudit(weights_id, arch, "", 0, 0), meta)


def test_transform_defaults_to_timm_config_bicubic_centre_crop():
    t = eval_transform(backbone())
    assert (t.image_size, t.interpolation, t.source) == (160, "bicubic", "timm")
    tensor = t.build()(Image.new("RGB", (300, 200), (255, 0, 0)))
    assert tensor.shape == (3, 160, 160)
    assert tensor[0].mean().item() == pytest.approx((1 - t.mean[0]) / t.std[0], rel=1e-3)


def test_transform_follows_the_students_data_config_and_overrides():
    block = {"input_size": [3, 64, 64], "interpolation": "bilinear", "crop_pct": 1.0, "mean": [0.5, 0.5, 0.5],
             "std": [0.25] * 3}
    student = backbone(sidecar={"data_config": block})
    t = eval_transform(student)
    assert (t.image_size, t.mean, t.std, t.crop_pct, t.source) == (64, (0.5,) * 3, (0.25,) * 3, 1.0, "sidecar")
    assert t.interpolation == "bicubic"  # the probe protocol's, not the weights' training resize
    legacy = backbone(sidecar={"data": {"image_size": 64, "mean": [0.5] * 3, "std": [0.25] * 3, "crop_pct": 1.0}})
    assert eval_transform(legacy).describe() == {**t.describe(), "source": "sidecar (legacy data block)"}
    assert eval_transform(student, image_size=96).image_size == 96
    assert eval_transform(student).describe() != eval_transform(student, 96).describe()


def test_random_init_identity_depends_on_the_drawn_weights():
    a, b, a_again = backbone(seed=0), backbone(seed=1), backbone(seed=0)
    ident = "random-init:test_resnet"
    assert weights_identity(ident, a.model) == weights_identity(ident, a_again.model)
    assert weights_identity(ident, a.model) != weights_identity(ident, b.model)
    assert weights_identity(ident, a.model).startswith(ident + ":")
    assert weights_identity("abc123", a.model) == "abc123"


@dataclass(frozen=True)
class PartlyBroken(ArraySource):
    broken: tuple[int, ...] = ()

    def load(self, index: int) -> Image.Image:
        if index in self.broken:
            raise OSError("image file is truncated")
        return super().load(index)


def test_extraction_keeps_order_and_drops_bad_images():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (7, 20, 20, 3), dtype=np.uint8)
    source = PartlyBroken(images, torch.arange(7), "toy", broken=(2, 5))
    model = backbone().model
    t = eval_transform(backbone(), image_size=32).build()
    feats = extract_features(model, source, t, device=torch.device("cpu"), batch_size=3)
    assert feats.indices.tolist() == [0, 1, 3, 4, 6] and feats.targets.tolist() == [0, 1, 3, 4, 6]
    assert feats.bad == ("toy[2]", "toy[5]") and feats.features.shape == (5, 96)
    with torch.inference_mode():
        single = model.eval()(t(source.load(3)).unsqueeze(0))
    assert torch.allclose(feats.features[2], single[0], atol=1e-4)


def test_cache_roundtrip_and_damaged_files(tmp_path):
    cache = FeatureCache(tmp_path)
    key = feature_key(weights="w", arch="a", dataset="d", fingerprint="f", split="train",
                      transform={"image_size": 32}, precision="fp32")
    assert key != feature_key(weights="w", arch="a", dataset="d", fingerprint="f", split="test",
                              transform={"image_size": 32}, precision="fp32")
    assert cache.load(key) is None
    feats = Features(torch.randn(4, 3), torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 2, 4]), ("x.png",))
    cache.save(key, feats, {"note": "test"})
    back = cache.load(key)
    assert back is not None and back.bad == ("x.png",)
    assert torch.equal(back.features, feats.features) and torch.equal(back.indices, feats.indices)
    assert not list(tmp_path.glob(".*.tmp"))
    cache.path(key).write_bytes(b"garbage")
    assert cache.load(key) is None


def test_thread_policy_single_thread_for_small_work_only_never_for_load(monkeypatch):
    from ssld_eval.features import threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for load in (0.0, 64.0 + (threads.os.cpu_count() or 1)):
            monkeypatch.setattr(threads.os, "getloadavg", lambda load=load: (load, load, load))
            with threads.cpu_threads(1000) as small:
                pass
            with threads.cpu_threads(1 << 30) as large:
                assert torch.get_num_threads() == 2
            assert (small, large) == (1, 2) and torch.get_num_threads() == 2
        with threads.run_threads(1) as configured:
            assert torch.get_num_threads() == 1
        assert configured == 1 and torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="threads=0"):
            threads.check_threads(0)
    finally:
        torch.set_num_threads(before)


def test_a_missing_file_is_an_error_and_an_undecodable_one_is_excluded(tmp_path):
    """A listed image that is not there (moved, unreadable) stops the run naming it; a file that is there but
    cannot be decoded is excluded and listed (the one bad-image policy of distill and transfer)."""
    from ssld_eval.datasets.base import FileSource
    from ssld_eval.features.extract import DecodedImages, ImageFileError

    good, broken, gone = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    Image.new("RGB", (8, 8)).save(good)
    broken.write_bytes(b"\x89PNG not really")
    source = FileSource((good, broken, gone), torch.tensor([0, 1, 2]), tmp_path)
    images = DecodedImages(source, lambda image: torch.zeros(3))
    assert images[0][1] is not None and images[1] == (1, None)
    with pytest.raises(ImageFileError, match=r"c\.png: cannot be read"):
        images[2]
