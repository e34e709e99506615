"""Running sweeps with the fake transfer program: skip, resume after a kill, re-run on a changed override,
failures, the Slurm path through submitit's local executor, and the dry run's speed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from sweep_helpers import FAKE_PROGRAM, fill_store, invocations, write_spec

from ssld_eval.cli import main
from ssld_eval.records import ResultStore
from ssld_eval.sweep import jobs as jobs_module
from ssld_eval.sweep.executors import SlurmExecutor
from ssld_eval.sweep.jobs import expand
from ssld_eval.sweep.runner import run_sweep
from ssld_eval.sweep.spec import SlurmSpec, load_spec


@pytest.fixture
def fake(monkeypatch, tmp_path):
    log = tmp_path / "invocations.log"
    monkeypatch.setenv("FAKE_TRANSFER_LOG", str(log))
    monkeypatch.setattr(jobs_module, "DEFAULT_PROGRAM", FAKE_PROGRAM)
    return log


def test_runs_every_job_once_then_skips_them(tmp_path, fake):
    spec = load_spec(write_spec(tmp_path / "s.yaml"))
    outcome = run_sweep(spec, jobs=2, results=tmp_path / "r", out=io.StringIO())
    keys = {j.key for j in expand(spec)}
    assert outcome.ran == 16 and not outcome.failed
    assert sorted(invocations(fake)) == sorted(keys)
    assert ResultStore(tmp_path / "r").keys() == keys
    again = run_sweep(spec, jobs=2, results=tmp_path / "r", out=io.StringIO())
    assert (again.ran, again.skipped) == (0, 16) and len(invocations(fake)) == 16


def test_failed_jobs_exit_non_zero_and_are_listed(tmp_path, fake, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_TRANSFER_FAIL", "dtd")
    path = write_spec(tmp_path / "s.yaml", results=str(tmp_path / "r"))
    assert main(["sweep", str(path), "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    failed = [j for j in expand(load_spec(path)) if j.dataset == "dtd"]
    assert "8 of 16 job(s) failed" in err
    for job in failed:
        assert job.key in err
    assert "fake failure" in err
    monkeypatch.delenv("FAKE_TRANSFER_FAIL")
    assert main(["sweep", str(path), "--jobs", "2"]) == 0  # only the failed ones run again
    assert len(invocations(fake)) == 16 + 8


def test_changing_one_override_reruns_exactly_the_affected_jobs(tmp_path, fake):
    path = write_spec(tmp_path / "s.yaml", overrides={"knn": {"temperature": 0.07}})
    run_sweep(load_spec(path), jobs=2, results=tmp_path / "r", out=io.StringIO())
    first = invocations(fake)
    path = write_spec(tmp_path / "s.yaml", overrides={"knn": {"temperature": 0.1}})
    run_sweep(load_spec(path), jobs=2, results=tmp_path / "r", out=io.StringIO())
    rerun = invocations(fake)[len(first):]
    affected = {j.key for j in expand(load_spec(path)) if j.task == "knn"}
    assert len(rerun) == 8 and set(rerun) == affected


_SWEEP_IN_SUBPROCESS = """
import sys
sys.path.insert(0, {helpers!r})
from sweep_helpers import FAKE_PROGRAM
from ssld_eval.sweep import jobs
jobs.DEFAULT_PROGRAM = FAKE_PROGRAM
from ssld_eval.cli import main
sys.exit(main(["sweep", {spec!r}, "--jobs", "2", "--results", {results!r}]))
"""


@pytest.mark.slow
def test_killed_sweep_resumes_with_exactly_the_unfinished_jobs_and_reports_all(tmp_path, fake, monkeypatch):
    backbones = [{"spec": f"net{i}", "pretrained": True, "name": f"net-{i}"} for i in range(3)]
    path = write_spec(tmp_path / "s.yaml", backbones=backbones, seeds=[0, 1, 2])
    spec = load_spec(path)
    all_keys = {j.key for j in expand(spec)}
    results = tmp_path / "r"
    store = ResultStore(results)
    code = _SWEEP_IN_SUBPROCESS.format(helpers=os.path.dirname(__file__), spec=str(path), results=str(results))
    env = {**os.environ, "FAKE_TRANSFER_SLEEP": "0.4"}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(store.keys()) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole sweep dies at once: the sweep and its running jobs
    process.wait()
    time.sleep(0.2)
    present = store.keys()
    finished = {k for k in present if store.has_complete(k)}
    assert 6 <= len(finished) < len(all_keys)
    before = len(invocations(fake))
    outcome = run_sweep(spec, jobs=2, results=results, out=io.StringIO())
    resumed = invocations(fake)[before:]
    assert sorted(resumed) == sorted(all_keys - finished)
    assert outcome.skipped == len(finished) and not outcome.failed
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text()
    assert html.count("n=3<") == 3 * 2 * 2  # every backbone x task x data set, all three seeds
    for name in ("net-0", "net-1", "net-2", "flowers102", "dtd"):
        assert name in html


def test_slurm_path_through_submitit_local_executor(tmp_path, fake):
    path = write_spec(tmp_path / "s.yaml", backbones=[{"spec": "net0", "pretrained": True}], tasks=["knn"],
                      seeds=[0], slurm={"partition": "gpu", "gpus_per_job": 1, "time_min": 5, "mem_gb": 1})
    spec = load_spec(path)
    outcome = run_sweep(spec, executor="slurm", cluster="local", results=tmp_path / "r", out=io.StringIO())
    assert outcome.ran == 2 and not outcome.failed
    assert ResultStore(tmp_path / "r").keys() == {j.key for j in expand(spec)}
    assert (tmp_path / "r" / "submitit").is_dir()


def test_slurm_parameters_and_torchrun_choice(tmp_path):
    slurm = SlurmSpec(partition="gpu", gpus_per_job=4, time_min=720, mem_gb=64, nodes=2, account="lab")
    params = SlurmExecutor(slurm, jobs=8).parameters()
    assert params == {"timeout_min": 720, "mem_gb": 64, "nodes": 2, "gpus_per_node": 4, "tasks_per_node": 1,
                      "name": "ssld-eval-sweep", "slurm_partition": "gpu", "slurm_account": "lab",
                      "slurm_array_parallelism": 8}
    spec = load_spec(write_spec(tmp_path / "s.yaml", tasks=["coco-det", "linear-probe"], datasets=["coco"]))
    jobs = expand(spec)
    executor = SlurmExecutor(slurm)
    options = jobs_module.RunOptions(results=tmp_path)
    chosen = {job.task: executor.plan_for(job, options).torchrun for job in jobs}
    assert chosen == {"coco-det": True, "linear-probe": False}


def _thousand_job_spec(tmp_path):
    backbones = [{"spec": f"model{i}", "pretrained": True} for i in range(10)]
    datasets = ["cifar10", "cifar100", "food101", "cars", "aircraft", "dtd", "pets", "caltech101", "flowers102",
                "voc2007"]  # absent under data_root: each one's data identity is then "missing:<folder>"
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({"backbones": backbones, "tasks": ["linear-probe", "knn"], "datasets": datasets,
                                    "seeds": [0, 1, 2, 3, 4], "results": str(tmp_path / "r"),
                                    "data_root": str(tmp_path / "data")}))
    return path


@pytest.mark.slow
def test_dry_run_of_1000_jobs_over_1000_records_is_fast(tmp_path):
    path = _thousand_job_spec(tmp_path)
    jobs = expand(load_spec(path))
    assert len(jobs) == 1000
    fill_store(jobs, tmp_path / "r")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ssld_eval.cli", "sweep", str(path), "--dry-run"],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    lines = done.stdout.splitlines()
    assert "1000 jobs, 1000 complete (skipped), 0 to run" in lines[0]
    assert len(lines) == 1001 and all(line.startswith("skip  ") for line in lines[1:])
    assert seconds < 2.0, f"dry run took {seconds:.2f}s"


def test_dry_run_lists_what_would_run_and_imports_no_torch(tmp_path):
    path = write_spec(tmp_path / "s.yaml", results=str(tmp_path / "r"))
    spec = load_spec(path)
    first = expand(spec)[0]
    fill_store([first], tmp_path / "r")
    code = ("import sys\nfrom ssld_eval.cli import main\n"
            f"code = main(['sweep', {str(path)!r}, '--dry-run'])\nprint('torch' in sys.modules, code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert "16 jobs, 1 complete (skipped), 15 to run" in lines[0]
    assert lines[1] == f"skip  {first.key}  {first.label}"
    assert sum(line.startswith("run   ") for line in lines) == 15
    assert lines[-1] == "False 0"
