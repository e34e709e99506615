"""Same command, same machine, same seed: the same numbers, whatever else the machine is doing.

The thread count is the run's configuration (``--threads``, default torch's count) and is recorded; the
machine's load average plays no part. The test runs a short fine-tune and a linear probe with the load
average forced low and then far above the core count, and needs bitwise-identical results; a different
``--threads`` is allowed to sum in another order but is named in the record.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from image_folders import write_image_folder

from ssld_eval.commands.transfer_cmd import TransferError, transfer
from ssld_eval.features.threads import available_cores

BACKBONE = "test_resnet"
FINE_TUNE = {"image_size": "32", "steps": "6", "warmup_steps": "1", "batch_size": "8", "eval_batch_size": "8"}
PROBE = {"image_size": "32", "num_l2": "9"}

needs_two_cores = pytest.mark.skipif(available_cores() < 2, reason="needs two cores to tell thread counts apart")


def run_both(data: Path, work: Path) -> dict[str, tuple[dict[str, float], dict[str, object], dict[str, object]]]:
    out = {}
    for task, overrides in (("fine-tune", FINE_TUNE), ("linear-probe", PROBE)):
        record = transfer(BACKBONE, task, "imagefolder", data_root=data, results=work / "results",
                          cache_dir=work / "cache", overrides=overrides, device="cpu")
        assert record.status == "complete", record.reason
        protocol = {k: v for k, v in record.protocol.items() if not k.endswith("_s") and k != "features_cached"}
        out[task] = (record.metrics, protocol, record.execution)
    return out


@needs_two_cores
def test_load_average_does_not_change_a_result(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "data", {"train": 12, "val": 4, "test": 8})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        quiet = run_both(data, tmp_path / "quiet")
        busy_load = 50.0 + (os.cpu_count() or 1)
        monkeypatch.setattr(os, "getloadavg", lambda: (busy_load, busy_load, busy_load))
        busy = run_both(data, tmp_path / "busy")
    finally:
        torch.set_num_threads(before)
    assert busy == quiet
    assert quiet["fine-tune"][2] == {"threads": 2, "deterministic": False, "device": "cpu",
                                     "settings": {"eval_batch_size": 8, "workers": -1}}


def test_threads_are_configured_recorded_and_checked(tmp_path):
    data = write_image_folder(tmp_path / "data", {"train": 8, "val": 2, "test": 2})
    common = {"data_root": data, "results": tmp_path / "results", "cache_dir": tmp_path / "cache", "device": "cpu"}
    before = torch.get_num_threads()
    record = transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32"}, threads=1, **common)
    assert record.execution["threads"] == 1 and torch.get_num_threads() == before
    again = transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32"}, threads=available_cores(),
                     skip_existing=True, **common)
    assert again.key == record.key  # an execution setting, not another experiment
    with pytest.raises(TransferError, match=r"threads=999: expected 1 to \d+"):
        transfer(BACKBONE, "knn", "imagefolder", overrides={"image_size": "32"}, threads=999, **common)
