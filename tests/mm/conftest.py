"""Helpers for the detection / segmentation tests: a transfer run through the real command line, and
checkpoints of small timm models in the layout the suite reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file


@pytest.fixture(autouse=True)
def one_cpu_thread() -> Iterator[None]:
    """One intra-op thread: on a shared CPU, OpenMP barriers between two threads stalled every operator
    (a smoke iteration measured 5-8x slower with two threads than with one while others used the CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def transfer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
             ) -> Callable[..., tuple[int, dict | None, str]]:
    """``transfer(builtin, "--backbone", B, "--task", T, ...)`` -> (exit code, record or None, stderr)."""
    from ssld_eval.cli import main

    def run(builtin: Path, *argv: str) -> tuple[int, dict | None, str]:
        monkeypatch.setenv("SSLD_EVAL_DATA", str(builtin))
        results = tmp_path / "results"
        code = main(["transfer", "--results", str(results), "--cache-dir", str(tmp_path / "cache"),
                     "--device", "cpu", *argv])
        out, err = capsys.readouterr()
        lines = [line for line in out.splitlines() if line.startswith("{\"record\"")]
        record = json.loads(Path(json.loads(lines[-1])["record"]).read_text()) if lines else None
        return code, record, err

    return run


@pytest.fixture
def save_timm(tmp_path: Path) -> Callable[..., Path]:
    """``save_timm(arch, prefix="", **timm_kwargs)``: a headless timm model's random weights as safetensors
    with a ``.json`` sidecar naming the arch, the layout ``--backbone FILE`` reads."""
    count = iter(range(1_000_000))

    def save(arch: str, prefix: str = "", **kwargs: object) -> Path:
        path = tmp_path / f"{arch}-{next(count)}.safetensors"
        model = timm.create_model(arch, num_classes=0, **kwargs)
        save_file({prefix + k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        path.with_suffix(".json").write_text(json.dumps({"arch": arch}))
        return path

    return save
