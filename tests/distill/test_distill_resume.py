"""A run killed with SIGKILL at a random step and resumed ends with bitwise the same weights as an unbroken run.

The real CLI runs in a subprocess: KD from a cached teacher, dropout, EMA, a labelled fine-tune stage, and
checkpoints that fall mid-epoch; num_workers 0 and 2 must both reproduce the in-process unbroken run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from distill_helpers import tiny_recipe, write_recipe
from safetensors.torch import load_file

from distill import run_recipe
from distill.checkpoint import list_checkpoints, load_checkpoint

STEPS, FINETUNE, EVERY = 20, 4, 4  # 24 images / batch 8: 3 steps per epoch, so checkpoints fall mid-epoch


def _recipe(tiny_data: Path, teacher: Path, cache_dir: Path) -> dict:
    return tiny_recipe(tiny_data, method={"name": "kd", "topk": 3}, teacher={"checkpoint": str(teacher)},
                       student={"arch": "test_efficientnet", "drop_rate": 0.3},
                       train={"steps": STEPS, "finetune_steps": FINETUNE, "checkpoint_every": EVERY,
                              "ema_decay": 0.8, "log_every": 1},
                       cache={"enabled": True, "views": 2, "dir": str(cache_dir)})


def _cli(config: Path, work: Path, workers: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ssld_eval.cli", "distill", "--config", str(config), "--work-dir", str(work),
            "--device", "cpu", "--no-progress", "--set", f"train.num_workers={workers}", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "HF_HUB_OFFLINE": "1"}


def _last_logged_step(log: Path) -> int:
    if not log.exists():
        return 0
    lines = [line for line in log.read_text().splitlines() if line.endswith("}")]
    return max((int(line.split('"step": ')[1].split(",")[0]) for line in lines if '"step": ' in line), default=0)


@pytest.mark.slow  # four CLI subprocesses: ~25 s each on 2 idle cores, minutes on a loaded machine
@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_then_resume_is_bitwise_equal(workers: int, tiny_data: Path, tiny_teacher: Path,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.getbasetemp() / "resume_reference"
    config = write_recipe(tmp_path_factory.mktemp("cfg") / "kd.yaml", _recipe(tiny_data, tiny_teacher, base / "cache"))
    if not (base / "run" / "student.safetensors").exists():  # the unbroken run, in process, workers 0
        run_recipe(config, base / "run", device="cpu", log=lambda _m: None)
    reference = load_file(base / "run" / "student.safetensors")

    work = tmp_path_factory.mktemp(f"killed_w{workers}")
    kill_at = random.Random(97 + workers).randint(EVERY + 1, STEPS + FINETUNE - 3)
    process = subprocess.Popen(_cli(config, work, workers), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _last_logged_step(work / "log.jsonl") < kill_at and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, f"the run ended before the kill at step {kill_at}:\n{stderr}"
    assert not (work / "student.safetensors").exists()
    saved = list_checkpoints(work / "checkpoints")
    assert saved, f"no checkpoint before the kill at step {kill_at}"
    resumed_from = int(load_checkpoint(saved[-1])["step"])
    assert 0 < resumed_from < STEPS + FINETUNE

    finished = subprocess.run(_cli(config, work, workers, "--resume"), env=_env(), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert f"resumed from {saved[-1]} at step {resumed_from}/{STEPS + FINETUNE}" in finished.stderr
    result = load_file(work / "student.safetensors")
    assert result.keys() == reference.keys()
    different = [k for k in reference if not torch.equal(reference[k], result[k])]
    assert not different, f"killed at step ~{kill_at}, resumed from {resumed_from}: {different[:5]} differ"
