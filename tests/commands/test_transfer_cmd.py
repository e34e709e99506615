"""``ssld-eval transfer`` end to end on tiny data: records, the feature cache, bad images, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from image_folders import write_image_folder

from ssld_eval import cli
from ssld_eval.commands.transfer_cmd import TransferError, transfer
from ssld_eval.records import ResultStore

BACKBONE = "test_resnet"  # timm's tiny ResNet, random init: fast and offline
SMALL = {"image_size": "32", "num_l2": "9"}


def run_cli(*args: str) -> int:
    return cli.main(["transfer", *args])


def test_cli_writes_a_linear_probe_record(image_folder, tmp_path, capsys):
    code = run_cli("--backbone", BACKBONE, "--task", "linear-probe", "--dataset", "imagefolder",
                   "--data-root", str(image_folder), "--results", str(tmp_path / "results"),
                   "--cache-dir", str(tmp_path / "cache"), "--set", "image_size=32")
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    record = ResultStore(tmp_path / "results").read(Path(printed["record"]))
    assert record.status == "complete" and record.task == "linear-probe" and record.dataset == "imagefolder"
    assert record.arch == BACKBONE and record.weights_id == f"random-init:{BACKBONE}"
    assert record.primary_metric == "top1"
    assert 0.0 <= record.metrics["top1"] <= 100.0
    protocol = record.protocol
    assert protocol["num_l2_values"] == 45 and protocol["l2_range"] == [pytest.approx(1e-6), pytest.approx(1e5)]
    assert protocol["chosen_l2"] in [p[0] for p in protocol["path"]]
    assert (protocol["n_train"], protocol["n_val"], protocol["n_test"]) == (24, 12, 12)
    assert protocol["val_split"] == "official" and protocol["feature_dim"] == 96
    assert protocol["transform"]["image_size"] == 32 and protocol["transform"]["interpolation"] == "bicubic"
    assert record.overrides == {"image_size": "32"} and record.config["image_size"] == 32
    assert record.key_audit["arch"] == BACKBONE and record.bad_images == ()


def test_second_probe_and_knn_reuse_cached_features(image_folder, tmp_path, forward_calls):
    common = {"data_root": image_folder, "results": tmp_path / "r", "cache_dir": tmp_path / "cache"}
    first = transfer(BACKBONE, "linear-probe", "imagefolder", overrides=SMALL, **common)
    assert sum(forward_calls) == 48  # train + val + test (3 classes x 16 images), each image once
    forward_calls.clear()
    second = transfer(BACKBONE, "linear-probe", "imagefolder", overrides={**SMALL, "gtol": "1e-5"}, **common)
    knn = transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32"}, **common)
    assert forward_calls == []
    assert second.protocol["features_cached"] == {"train": True, "val": True, "test": True}
    assert second.key != first.key
    assert set(knn.metrics) == {"knn20_top1", "knn1_top1"} and knn.primary_metric == "knn20_top1"
    transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "48"}, **common)
    assert sum(forward_calls) == 48  # another transform: other features


def test_random_init_features_are_keyed_by_seed(image_folder, tmp_path, forward_calls):
    common = {"data_root": image_folder, "results": tmp_path / "r", "cache_dir": tmp_path / "cache"}
    a = transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32"}, seed=0, **common)
    b = transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32"}, seed=1, **common)
    assert sum(forward_calls) == 96  # seed 1 draws other random weights: nothing reused
    assert a.key != b.key


def test_skip_existing_skips(image_folder, tmp_path, forward_calls, capsys):
    args = ["--backbone", BACKBONE, "--task", "knn", "--dataset", "imagefolder", "--data-root", str(image_folder),
            "--results", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--set", "image_size=32"]
    assert run_cli(*args) == 0
    record_path = next((tmp_path / "r").glob("*.json"))
    written = record_path.stat().st_mtime_ns
    forward_calls.clear()
    capsys.readouterr()
    assert run_cli(*args, "--skip-existing") == 0
    assert "skip: complete record" in capsys.readouterr().err
    assert forward_calls == [] and record_path.stat().st_mtime_ns == written


def test_skip_existing_never_returns_another_data_roots_record(tmp_path):
    """Two ImageFolders under one results folder: two experiments, two records, two numbers (issue 11)."""
    roots = [write_image_folder(tmp_path / name, {"train": 4, "test": 2}, seed=seed)
             for name, seed in (("A", 0), ("B", 1))]
    common = {"results": tmp_path / "r", "cache_dir": tmp_path / "c", "skip_existing": True,
              "overrides": {"image_size": "32", "ks": "[3]"}}
    a, b = (transfer(BACKBONE, "knn", "imagefolder", data_root=root, **common) for root in roots)
    assert a.key != b.key and a.data_id != b.data_id
    assert len(list((tmp_path / "r").glob("*.json"))) == 2
    again = transfer(BACKBONE, "knn", "imagefolder", data_root=roots[0], **common)
    assert (again.key, again.metrics, again.created_at) == (a.key, a.metrics, a.created_at)  # skipped: A's record


def test_corrupted_images_are_listed_and_excluded(tmp_path, forward_calls):
    root = write_image_folder(tmp_path / "folder", {"train": 8, "val": 4, "test": 4})
    (root / "train" / "class1" / "003.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    truncated = root / "test" / "class2" / "000.png"
    truncated.write_bytes(truncated.read_bytes()[:60])
    common = {"data_root": root, "results": tmp_path / "r", "cache_dir": tmp_path / "cache"}
    record = transfer(BACKBONE, "linear-probe", "imagefolder", overrides=SMALL, **common)
    assert record.bad_images == ("train/class1/003.png", "test/class2/000.png")
    assert (record.protocol["n_train"], record.protocol["n_test"]) == (23, 11)
    assert sum(forward_calls) == 46  # never replaced by another image
    with pytest.raises(TransferError, match="could not be decoded"):
        transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32", "fail_on_bad_images": "true"},
                 **common)


def test_fine_tune_runs_and_records_its_protocol(image_folder, tmp_path):
    record = transfer(BACKBONE, "fine-tune", "imagefolder", data_root=image_folder, results=tmp_path / "r",
                      overrides={"steps": "3", "batch_size": "8", "image_size": "32", "warmup_steps": "1",
                                 "stage_lr": "[0.1, 0.1, 0.2, 0.2, 0.3]"})
    assert record.status == "complete" and 0 <= record.metrics["top1"] <= 100
    assert record.protocol["steps"] == 3 and record.protocol["train_splits"] == ["train", "val"]
    assert record.protocol["lr_groups"] == [0.1, 0.2, 0.3, 1.0]


def test_missing_data_root_says_which_layout_is_expected(tmp_path, capsys):
    code = run_cli("--backbone", BACKBONE, "--task", "linear-probe", "--dataset", "imagefolder",
                   "--data-root", str(tmp_path / "nowhere"), "--results", str(tmp_path / "r"))
    assert code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "DIR/train/<class>/<image>" in err
    assert not list((tmp_path / "r").glob("*.json"))


def test_bad_override_and_unknown_task_are_errors(image_folder, tmp_path):
    with pytest.raises(TransferError, match="unknown key"):
        transfer(BACKBONE, "linear-probe", "imagefolder", data_root=image_folder, results=tmp_path / "r",
                 overrides={"l2_maxx": "3"})
    with pytest.raises(TransferError, match="unknown task"):
        transfer(BACKBONE, "linear-probes", "imagefolder", data_root=image_folder, results=tmp_path / "r")


@pytest.mark.parametrize(("teacher", "expected"), [
    (None, ""),  # a supervised baseline
    ({"arch": "tf_efficientnet_lite2"}, "tf_efficientnet_lite2"),
    ([{"arch": "resnet50"}, {"arch": "vit_small_patch16_224"}], "resnet50+vit_small_patch16_224"),
])
def test_record_names_method_and_teachers_from_the_student_provenance(image_folder, tmp_path, teacher, expected):
    import timm
    from safetensors.torch import save_file

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_file(timm.create_model(BACKBONE, num_classes=3).state_dict(), str(run_dir / "student.safetensors"))
    provenance = {"arch": BACKBONE, "method": "kd", "teacher": teacher, "final_metrics": {"top1": 61.5}}
    (run_dir / "student.json").write_text(json.dumps(provenance))
    record = transfer(str(run_dir), "knn", "imagefolder", data_root=image_folder, results=tmp_path / "r",
                      cache_dir=tmp_path / "cache", overrides={"image_size": "32"})
    assert record.status == "complete"
    assert (record.method, record.teacher, record.source_top1) == ("kd", expected, 61.5)
