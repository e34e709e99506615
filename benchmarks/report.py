"""Benchmark: ``ssld-eval report`` over 10,000 records (goal: under 5 s).

Writes 20 backbones x 5 tasks x 20 data sets x 5 seeds synthetic records (1% failed) into a temporary
store, then times the real command in a fresh subprocess, so loading, validating, aggregating, drawing,
rendering and the imports all count. Prints one JSON line; ``cpu_seconds`` (the child's user + system
time) is given beside the wall time because the wall time on a shared machine depends on its neighbours.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ssld_eval.records import ResultStore
from ssld_eval.records.synthetic import synthetic_records


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ssld-eval-bench-") as tmp:
        store = ResultStore(Path(tmp) / "results")
        count = 0
        for record in synthetic_records(backbones=20, tasks=5, datasets=20, seeds=5, failed_every=100):
            store.write(record)
            count += 1
        out = Path(tmp) / "report" / "index.html"
        command = [sys.executable, "-m", "ssld_eval.cli", "report", "--results", str(store.root), "--out", str(out)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(json.dumps({"records": count, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                          "html_bytes": out.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
