"""Benchmark: ``ssld-eval sweep SPEC --dry-run`` for 1,000 jobs over a store holding their 1,000 records
(goal: under 2 s). Timed as a fresh subprocess so the interpreter start and the imports count. Prints one
JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ssld_eval.data_identity import dataset_folder
from ssld_eval.records import ResultStore
from ssld_eval.records.synthetic import synthetic_record
from ssld_eval.sweep.jobs import expand
from ssld_eval.sweep.spec import load_spec

DATASETS = ["cifar10", "cifar100", "food101", "cars", "aircraft", "dtd", "pets", "caltech101", "flowers102", "voc2007"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ssld-eval-sweep-bench-") as tmp:
        root = Path(tmp)
        data_root = root / "data"
        for dataset in DATASETS:  # a few files each: the dry run computes every data set's identity
            folder = dataset_folder(dataset, data_root)
            for split in ("train", "test"):
                (folder / split / "a").mkdir(parents=True)
                (folder / split / "a" / "0.png").write_bytes(b"not read, only listed")
        spec_path = root / "sweep.yaml"
        spec_path.write_text(yaml.safe_dump({
            "results": str(root / "results"),
            "backbones": [{"spec": f"model{i}", "pretrained": True} for i in range(10)],
            "tasks": ["linear-probe", "knn"], "datasets": DATASETS, "seeds": [0, 1, 2, 3, 4],
            "data_root": str(data_root), "overrides": {"knn": {"ks": [20]}},
        }))
        jobs = expand(load_spec(spec_path))
        store = ResultStore(root / "results")
        for job in jobs:
            store.write(synthetic_record(job.experiment))
        command = [sys.executable, "-m", "ssld_eval.cli", "sweep", str(spec_path), "--dry-run"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        skipped = sum(line.startswith("skip") for line in done.stdout.splitlines())
        print(json.dumps({"jobs": len(jobs), "records": len(store.keys()), "skipped": skipped,
                          "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
