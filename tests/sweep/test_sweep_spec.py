"""Spec validation, expansion, record keys and command shapes: no process is started here."""

from __future__ import annotations

import hashlib

import pytest
from sweep_helpers import write_spec

from ssld_eval.records.experiment import resolve_experiment
from ssld_eval.sweep import jobs as jobs_module
from ssld_eval.sweep.jobs import RunOptions, expand, torchrun_command, transfer_command
from ssld_eval.sweep.spec import SpecError, load_spec


@pytest.mark.parametrize(("fields", "needle"), [
    ({"seed": [0]}, "unknown key 'seed'"),
    ({"backbones": [{"spec": "x", "weights": "y"}]}, "unknown key 'weights'"),
    ({"slurm": {"partition": "gpu", "gpu": 2}}, "unknown key 'gpu'"),
    ({"overrides": {"fine-tune": {"lr": 1}}}, "unknown key 'fine-tune'"),
    ({"datasets": {"linear-probe": ["dtd"]}}, "no data sets for task(s) ['knn']"),
    ({"seeds": [0, 0]}, "seeds"),
    ({"seeds": ["0"]}, "seeds"),
    ({"exclude": [{"model": "x"}]}, "unknown key 'model'"),
    ({"backbones": ["a", {"spec": "b", "name": "a"}]}, "display name 'a'"),
    ({"overrides": {"knn": {"k": {"a": 1}}}}, "overrides.knn.k"),
    ({"tasks": ["linear-prob", "knn"]}, "unknown task(s) ['linear-prob']"),
    ({"datasets": ["dtd", "flowers"]}, "unknown data set(s) ['flowers']"),
    ({"overrides": {"knn": {"k": 20}}}, "overrides.knn: unknown key(s) ['k']"),
    ({"overrides": {"knn": {"temperature": "warm"}}}, "overrides.knn temperature: 'warm' is not a number"),
])
def test_invalid_specs_name_the_key_and_file(tmp_path, fields, needle):
    path = write_spec(tmp_path / "bad.yaml", **fields)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_missing_required_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("backbones: [a]\ntasks: [knn]\nseeds: [0]\n")
    with pytest.raises(SpecError, match="'datasets' is required"):
        load_spec(path)


def test_expansion_is_the_filtered_product_with_record_keys(tmp_path):
    spec = load_spec(write_spec(
        tmp_path / "s.yaml", datasets={"linear-probe": ["flowers102", "dtd"], "knn": ["dtd"]},
        overrides={"linear-probe": {"max_iter": 500, "l2_min": 1e-3, "fail_on_bad_images": True,
                                    "compile": "on"}},
        exclude=[{"backbone": "net-1", "task": "knn"}], include=[{"seed": [0, 1]}]))
    jobs = expand(spec)
    assert len(jobs) == 2 * 2 * 2 + 1 * 2  # net-0: 4 probe + 2 knn; net-1: 4 probe
    probe = next(j for j in jobs if j.task == "linear-probe")
    assert probe.overrides == (("compile", "on"), ("fail_on_bad_images", "true"), ("l2_min", "0.001"),
                               ("max_iter", "500"))
    assert probe.weights_id == "timm-pretrained:net0"
    # the key is transfer's own, from the same typed config (compile is execution-only, so not in it)
    experiment, config = resolve_experiment("timm-pretrained:net0", "linear-probe", "flowers102", spec.data_root,
                                            dict(probe.overrides), 0)
    assert probe.key == experiment.key and config.max_iter == 500 and config.l2_min == 1e-3
    assert "compile" not in experiment.config and experiment.execution_settings["compile"] == "on"
    assert len({j.key for j in jobs}) == len(jobs)
    only_seed_1 = load_spec(write_spec(tmp_path / "t.yaml", include=[{"seed": 1, "dataset": "dtd"}]))
    assert {(j.seed, j.dataset) for j in expand(only_seed_1)} == {(1, "dtd")}


def test_path_backbones_are_hashed_once(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "ssld-r18"
    run.mkdir(parents=True)
    (run / "student.safetensors").write_bytes(b"weights-a")
    ckpt = tmp_path / "moco.pth"
    ckpt.write_bytes(b"weights-b")
    calls = []
    real = jobs_module.weights_id_for_spec
    monkeypatch.setattr(jobs_module, "weights_id_for_spec", lambda s, p=False: calls.append(s) or real(s, p))
    spec = load_spec(write_spec(tmp_path / "s.yaml", backbones=[str(run), {"spec": str(ckpt), "arch": "resnet50"}]))
    jobs = expand(spec)
    assert len(calls) == 2 and len(jobs) == 16
    assert {j.weights_id for j in jobs} == {hashlib.sha256(b"weights-a").hexdigest(),
                                            hashlib.sha256(b"weights-b").hexdigest()}
    assert jobs[0].backbone.display == "ssld-r18"


def test_missing_weights_file_is_a_spec_error(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.yaml", backbones=["runs/absent/student.safetensors"]))
    with pytest.raises(SpecError, match="absent"):
        expand(spec)


def test_random_init_backbones_of_different_archs_have_distinct_keys(tmp_path):
    jobs = expand(load_spec(write_spec(tmp_path / "s.yaml", backbones=["resnet18", "resnet50"])))
    assert len({job.key for job in jobs}) == len(jobs)
    assert {job.weights_id for job in jobs} == {"random-init:resnet18", "random-init:resnet50"}


def test_the_same_backbone_listed_twice_is_refused(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.yaml", backbones=["resnet18", {"spec": "resnet18", "name": "again"}]))
    with pytest.raises(SpecError, match="same weights identity 'random-init:resnet18'"):
        expand(spec)


def test_command_shapes(tmp_path):
    (tmp_path / "ck.pth").write_bytes(b"x")
    spec = load_spec(write_spec(tmp_path / "s.yaml", backbones=[{"spec": str(tmp_path / "ck.pth"), "arch": "resnet50",
                                                                 "name": "m"}],
                                overrides={"knn": {"ks": [20]}}, tasks=["knn"], datasets=["dtd"], seeds=[3]))
    job = expand(spec)[0]
    options = RunOptions(results=tmp_path / "r", data_root="data/builtin", device="cuda",
                         program=("py", "-m", "ssld_eval.cli"))
    assert transfer_command(job, options) == [
        "py", "-m", "ssld_eval.cli", "transfer", "--backbone", str(tmp_path / "ck.pth"), "--arch", "resnet50",
        "--name", "m", "--task", "knn", "--dataset", "dtd", "--seed", "3", "--results", str(tmp_path / "r"),
        "--skip-existing", "--set", "ks=[20]", "--data-root", "data/builtin", "--device", "cuda"]
    command = torchrun_command(job, options, nproc=4, nnodes=2, node_rank=1, master="node7")
    assert command[:13] == ["py", "-m", "torch.distributed.run", "--nproc_per_node", "4", "--nnodes", "2",
                            "--node_rank", "1", "--master_addr", "node7", "--master_port", "29500"]
    assert command[13:17] == ["-m", "ssld_eval.cli", "transfer", "--backbone"]
    assert command[-2:] == ["--launcher", "pytorch"]
