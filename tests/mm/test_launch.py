"""The ``pytorch`` launcher on CPU: gloo instead of mmengine's ``torch.cuda.set_device``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

pytest.importorskip("mmcv.ops", reason="needs mmcv with its compiled ops")

from ssld_eval.mm.launch import init_distributed, runner_settings

pytestmark = pytest.mark.mm


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pytorch_launcher_uses_gloo_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        info = init_distributed("pytorch", torch.device("cpu"))
        assert info.distributed and info.backend == "gloo" and info.world_size == 1
        settings = runner_settings(info, torch.device("cpu"))
        assert settings["launcher"] == "pytorch" and settings["model_wrapper_cfg"]["device_ids"] is None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_launcher_none_under_torchrun_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="pass --launcher pytorch"):
        init_distributed("none", torch.device("cpu"))


@pytest.mark.slow
def test_smoke_recipe_under_torchrun_with_two_cpu_processes(
    save_timm: Callable[..., Path], builtin_tiny: Path, tmp_path: Path
) -> None:
    weights = save_timm("test_resnet")
    results = tmp_path / "results"
    env = {**os.environ, "SSLD_EVAL_DATA": str(builtin_tiny), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        "-m", "ssld_eval.cli", "transfer", "--launcher", "pytorch", "--device", "cpu",
        "--backbone", str(weights), "--task", "coco-det", "--dataset", "coco", "--results", str(results),
        "--set", "profile=smoke", "--set", "max_iters=2", "--set", "batch_size=2",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = sorted(results.glob("*.json"))
    assert len(records) == 1, "exactly one record, written by rank 0"
    record = json.loads(records[0].read_text())
    protocol = record["protocol"]
    assert record["status"] == "complete"
    assert protocol["launcher"] == "pytorch" and protocol["world_size"] == 2
    assert protocol["effective_batch"] == 4 and protocol["iterations"] == 2
