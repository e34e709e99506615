"""End to end on tiny data: the exported student, its provenance, the cache, NaN stops, resume errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from distill_helpers import tiny_recipe, write_recipe, write_unlabeled
from safetensors.torch import load_file

from distill import run_recipe
from distill.cache import CacheMismatchError, TeacherCache
from distill.checkpoint import NonFiniteError, list_checkpoints
from distill.data import BadImageError, load_splits
from distill.loader import apply_crop, normalize
from distill.models import TeacherInfo, build_teacher
from distill.recipe import load_recipe
from distill.typed import RecipeError
from ssld_core.sidecar import BackboneMeta

QUIET = {"device": "cpu", "log": lambda _m: None}


def test_student_checkpoint_loads_strictly_and_records_provenance(tiny_data: Path, tiny_teacher: Path,
                                                                  tmp_path: Path) -> None:
    recipe = tiny_recipe(tiny_data, method={"name": "ssld", "loss": "js", "topk": 2},
                         teacher={"checkpoint": str(tiny_teacher)}, data={"extra_unlabeled": "unlabeled"},
                         train={"steps": 3, "finetune_steps": 2, "ema_decay": 0.5})
    work = run_recipe(write_recipe(tmp_path / "ssld.yaml", recipe), tmp_path / "run", **QUIET)
    meta = BackboneMeta.read(work / "student.json")  # strict: every field known, typed
    model = timm.create_model(meta.arch, num_classes=meta.num_classes)
    state = load_file(work / "student.safetensors")
    model.load_state_dict(state, strict=True)  # no heads, no teacher, no prefixes, classifier included
    assert set(state) == set(model.state_dict())
    assert (meta.arch, meta.num_classes, meta.method, meta.kind) == ("test_efficientnet", 3, "ssld", "student")
    teacher = BackboneMeta.read(tiny_teacher / "student.json")
    assert [t.arch for t in meta.teachers] == [teacher.arch] and len(meta.teachers[0].weights_sha256) == 64
    assert meta.data_config.mean == (0.485, 0.456, 0.406) and meta.data_config.input_size == (3, 16, 16)
    provenance = meta.provenance
    assert provenance["execution"]["threads"] >= 1 and provenance["data"]["splits"]["extra_unlabeled"]["images"] == 6
    assert provenance["steps"] == 5 and provenance["seed"] == 0 and provenance["bad_images"] == []
    assert 0.0 <= meta.final_metrics["top1"] <= 100.0 and meta.final_metrics["split"] == "test"
    assert "top1_without_ema" in meta.final_metrics
    assert provenance["config"]["method"] == {"name": "ssld", "loss": "js", "topk": 2}
    assert len(provenance["config_hash"]) == 16
    assert provenance["versions"]["torch"] == torch.__version__.split("+")[0] and "mmdet" in provenance["versions"]
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == ["distill"] * 3 + ["finetune"] * 2
    assert set(log[0]) >= {"step", "lr", "loss", "js"} and "finetune_ce" in log[-1]


def test_ssld_never_sees_labels(tiny_data: Path, tiny_teacher: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from distill.methods.ssld import SSLD

    seen: list[torch.Tensor] = []
    original = SSLD.loss_terms

    def spy(self: SSLD, batch):  # type: ignore[no-untyped-def]
        seen.append(batch.labels.clone())
        return original(self, batch)

    monkeypatch.setattr(SSLD, "loss_terms", spy)
    recipe = tiny_recipe(tiny_data, method="ssld", teacher={"checkpoint": str(tiny_teacher)}, train={"steps": 2})
    run_recipe(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "run", **QUIET)
    assert len(seen) == 2 and all(bool((labels == -1).all()) for labels in seen)


def test_cache_replays_the_teachers_crops_and_refuses_another_teacher(tiny_data: Path, tiny_teacher: Path,
                                                                    tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    recipe = tiny_recipe(tiny_data, method={"name": "kd", "topk": 3}, teacher={"checkpoint": str(tiny_teacher)},
                         data={"extra_unlabeled": "unlabeled"}, cache={"enabled": True, "views": 2,
                                                                      "dir": str(cache_dir)})
    path = write_recipe(tmp_path / "kd.yaml", recipe)
    work = run_recipe(path, tmp_path / "kd", **QUIET)
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    assert manifest["num_images"] == 3 * 8 + 6
    # per image: 2 views x (5 int32 crop params + 3 fp16 values + 3 int32 indices) = 76 bytes + npy headers
    assert 76 <= manifest["bytes_per_image"] < 76 + 3 * 128 * 2
    recorded = BackboneMeta.read(work / "student.json").provenance["cache"]
    assert recorded["bytes_per_image"] == manifest["bytes_per_image"]

    # the stored targets are the teacher's outputs on the stored crop, re-applied to the raw image
    loaded = load_recipe(path)
    splits = load_splits(loaded)
    meta = json.loads((tiny_teacher / "student.json").read_text())
    teacher = build_teacher(TeacherInfo(meta["arch"], 3, "", str(tiny_teacher / "student.safetensors"), False))
    cache = TeacherCache(cache_dir, manifest)
    mean, std = torch.tensor(loaded.data.mean).view(1, 3, 1, 1), torch.tensor(loaded.data.std).view(1, 3, 1, 1)
    for index, view in ((0, 0), (29, 1)):
        image_set, local = (splits.train, index) if index < 24 else (splits.extra, index - 24)
        params, stored = cache.lookup(index, view)
        crop = apply_crop(image_set.load(local), params, 16)[None]
        probs = teacher(normalize(crop, mean, std, False)).softmax(-1)[0]
        replayed = torch.zeros(3).scatter_(0, torch.from_numpy(stored["topk_indices"].astype("int64")),
                                           torch.from_numpy(stored["topk_values"].astype("float32")))
        assert torch.allclose(replayed, probs, atol=1e-3)  # fp16 storage; all 3 classes kept

    # a run on the labelled split alone reuses the cache (its images are a prefix); another teacher is refused
    labelled_only = tiny_recipe(tiny_data, method={"name": "ssld", "topk": 3},
                                teacher={"checkpoint": str(tiny_teacher)},
                                cache={"enabled": True, "views": 2, "dir": str(cache_dir)})
    run_recipe(write_recipe(tmp_path / "ssld.yaml", labelled_only), tmp_path / "ssld", **QUIET)
    assert json.loads((cache_dir / "manifest.json").read_text()) == manifest
    other_teacher = tiny_recipe(tiny_data, train={"steps": 2, "seed": 7})
    other = run_recipe(write_recipe(tmp_path / "t2.yaml", other_teacher), tmp_path / "t2", **QUIET)
    with pytest.raises(CacheMismatchError, match=r"built for a different teacher and is refused"):
        run_recipe(path, tmp_path / "kd2", overrides=[f"teacher.checkpoint={other}"], **QUIET)


def test_nan_loss_stops_naming_term_and_step_and_writes_no_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    # an absurd learning rate: the step-1 update overflows the weights, so step 2's loss is not finite
    recipe = tiny_recipe(tiny_data, train={"steps": 6, "lr": 1.0e30, "checkpoint_every": 3, "opt": "sgd"})
    with pytest.raises(NonFiniteError, match=r"loss term 'ce' is (nan|inf) at step 2 \(stage distill\)"):
        run_recipe(write_recipe(tmp_path / "nan.yaml", recipe), tmp_path / "run", **QUIET)
    assert list_checkpoints(tmp_path / "run" / "checkpoints") == []
    assert not (tmp_path / "run" / "student.safetensors").exists()


def test_resume_errors_name_the_problem(tiny_data: Path, tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_data, train={"steps": 2}))
    with pytest.raises(FileNotFoundError, match=r"--resume: no checkpoint in .*checkpoints"):
        run_recipe(path, tmp_path / "run", resume=True, **QUIET)
    run_recipe(path, tmp_path / "run", **QUIET)
    with pytest.raises(FileExistsError, match="holds a previous run; pass --resume"):
        run_recipe(path, tmp_path / "run", **QUIET)
    with pytest.raises(ValueError, match=r"differs from the checkpoint's in 2 key\(s\): train\.lr: 0\.05 -> 0\.1; "
                                         r"train\.seed: 0 -> 1"):
        run_recipe(path, tmp_path / "run", resume=True, overrides=["train.lr=0.1", "train.seed=1"], **QUIET)


def test_bad_image_skip_is_recorded_in_student_json(tmp_path: Path, tiny_data: Path) -> None:
    extra = write_unlabeled(tmp_path / "extra", 3)
    (extra / "u001.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    recipe = tiny_recipe(tiny_data, method="ssld", teacher={"checkpoint": "unused"},
                         data={"extra_unlabeled": str(extra)}, train={"steps": 1})
    path = write_recipe(tmp_path / "r.yaml", recipe)
    with pytest.raises(BadImageError, match=r"u001\.png: cannot be decoded"):
        run_recipe(path, tmp_path / "fail", on_bad_image="fail", **QUIET)
    supervised = write_recipe(tmp_path / "s.yaml", tiny_recipe(tiny_data, train={"steps": 1}))
    teacher = run_recipe(supervised, tmp_path / "teacher", **QUIET)
    work = run_recipe(path, tmp_path / "skip", on_bad_image="skip", overrides=[f"teacher.checkpoint={teacher}"],
                      **QUIET)
    provenance = BackboneMeta.read(work / "student.json").provenance
    assert [b["path"] for b in provenance["bad_images"]] == [str(extra / "u001.png")]
    assert provenance["data"]["splits"]["extra_unlabeled"]["images"] == 2


def test_multi_teacher_feature_method_runs_cached_through_the_loop(tiny_data: Path, tiny_teacher: Path,
                                                                   tmp_path: Path) -> None:
    """The loop's contract with feature methods (SimReg): a teacher list arrives as an nn.ModuleList and the
    cache stores whatever ``teacher_targets`` returns, here one fp16 feature vector per teacher."""
    teachers = [{"checkpoint": str(tiny_teacher)}, {"checkpoint": str(tiny_teacher)}]
    recipe = tiny_recipe(tiny_data, method={"name": "simreg", "head_layers": 2}, teacher=teachers,
                         train={"steps": 2}, cache={"enabled": True, "views": 1, "dir": str(tmp_path / "cache")})
    work = run_recipe(write_recipe(tmp_path / "simreg.yaml", recipe), tmp_path / "run", **QUIET)
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    width = timm.create_model("test_efficientnet", num_classes=0).num_features
    assert manifest["fields"] == {f"features.{i}": {"dtype": "float16", "shape": [width]} for i in range(2)}
    assert len(BackboneMeta.read(work / "student.json").teachers) == 2
    log = json.loads((work / "log.jsonl").read_text().splitlines()[-1])
    assert {"regression.0", "regression.1"} <= set(log)
    timm.create_model("test_efficientnet", num_classes=3).load_state_dict(load_file(work / "student.safetensors"))


def test_ema_warmup_keeps_the_random_init_out_of_a_short_run(tiny_data: Path, tmp_path: Path) -> None:
    """With decay 0.99 and 4 steps, a plain EMA is still 96% the random init; timm's warmup ramps the decay
    (1 - (1 + step) ** -2/3), so the exported weights move towards the trained ones. The same seed gives every
    run the same init, and an EMA that never decays exports that init."""
    runs = {"init": (1.0 - 1e-12, False), "plain": (0.99, False), "warmup": (0.99, True)}
    exported = {}
    for name, (decay, warmup) in runs.items():
        recipe = tiny_recipe(tiny_data, train={"steps": 4, "ema_decay": decay, "ema_warmup": warmup})
        work = run_recipe(write_recipe(tmp_path / f"{name}.yaml", recipe), tmp_path / name, **QUIET)
        exported[name] = load_file(work / "student.safetensors")
    init = exported["init"]
    convs = [k for k, v in init.items() if v.dim() == 4]

    def moved(state: dict[str, torch.Tensor]) -> float:
        return sum(float((state[k] - init[k]).norm()) for k in convs)

    assert moved(exported["warmup"]) > 5 * moved(exported["plain"]) > 0


def test_tensorboard_logging_writes_the_loss_and_the_evaluation(tiny_data: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = tiny_recipe(tiny_data, train={"steps": 4, "log_every": 2, "log_to": ["jsonl", "tensorboard"]})
    work = run_recipe(write_recipe(tmp_path / "tb.yaml", recipe), tmp_path / "run", **QUIET)
    events = EventAccumulator(str(work / "tensorboard"))
    events.Reload()
    losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
    jsonl = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [step for step, _ in losses] == [2, 4] == [r["step"] for r in jsonl if "loss" in r]
    assert losses[-1][1] == pytest.approx(next(r["loss"] for r in jsonl if r.get("step") == 4))
    with pytest.raises(RecipeError, match=r"train\.log_to \[.wandb.\]"):
        load_recipe(write_recipe(tmp_path / "bad.yaml", tiny_recipe(tiny_data, train={"log_to": ["wandb"]})))
