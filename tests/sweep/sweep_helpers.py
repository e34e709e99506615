"""Shared pieces of the sweep tests: a spec writer and the fake transfer program."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

FAKE = Path(__file__).with_name("fake_transfer.py")
FAKE_PROGRAM = (sys.executable, str(FAKE))


def write_spec(path: Path, **fields) -> Path:
    data = {
        "backbones": [{"spec": f"net{i}", "pretrained": True, "name": f"net-{i}"} for i in range(2)],
        "tasks": ["linear-probe", "knn"],
        "datasets": ["flowers102", "dtd"],
        "seeds": [0, 1],
        **fields,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def invocations(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def fill_store(jobs, root: Path) -> None:
    """A complete record for every job, as if the sweep had run them."""
    from ssld_eval.records import ResultStore
    from ssld_eval.records.synthetic import synthetic_record

    store = ResultStore(root)
    for job in jobs:
        record = synthetic_record(job.experiment, backbone=job.backbone.display)
        assert record.key == job.key
        store.write(record)
