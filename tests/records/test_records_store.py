"""The store under concurrency and crashes: nothing lost, never half a file."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssld_eval.records import ResultStore
from ssld_eval.records import store as store_module
from ssld_eval.records.synthetic import synthetic_records

PROCESSES = 8
PER_PROCESS = 250
STRIDE = 125  # process p writes records [p*125, p*125+250): each key is written by up to two processes


def _all_records():
    return list(synthetic_records(backbones=5, tasks=5, datasets=9, seeds=5))  # 1125 distinct keys


def _writer(root: str, proc: int) -> None:
    records = _all_records()[proc * STRIDE: proc * STRIDE + PER_PROCESS]
    store = ResultStore(root)
    for record in records:
        store.write(record)


def test_concurrent_writers_with_colliding_keys_lose_nothing(tmp_path):
    records = _all_records()
    assert len(records) == (PROCESSES - 1) * STRIDE + PER_PROCESS
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), p)) for p in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
        assert proc.exitcode == 0
    store = ResultStore(tmp_path)
    expected = {r.key for r in records}
    assert store.keys() == expected
    for path in tmp_path.glob("*.json"):
        json.loads(path.read_text())
    scan = store.scan()
    assert not scan.invalid
    assert {r.key: r for r in scan.records} == {r.key: r for r in records}
    assert not list(tmp_path.glob(".*.tmp"))


def test_writing_the_same_key_again_is_idempotent(tmp_path):
    record = _all_records()[0]
    store = ResultStore(tmp_path)
    first = store.write(record)
    second = store.write(record)
    assert first == second
    assert store.keys() == {record.key}
    assert store.read(first) == record
    assert oct(first.stat().st_mode & 0o777) == oct(0o644)


def test_failed_rename_leaves_target_and_no_temp(tmp_path, monkeypatch):
    records = _all_records()
    store = ResultStore(tmp_path)
    path = store.write(records[0])
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    changed = dataclasses.replace(records[0], duration_s=123.0)
    with pytest.raises(OSError, match="disk on fire"):
        store.write(changed)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


_KILL_LOOP = """
import dataclasses, sys
from ssld_eval.records import ResultStore
from ssld_eval.records.synthetic import synthetic_records
record = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
big = dataclasses.replace(record, protocol={"padding": "x" * 2_000_000})
store = ResultStore(sys.argv[1])
print(big.key, flush=True)
while True:
    store.write(big)
    print("wrote", flush=True)
"""


def test_writer_killed_midway_never_leaves_invalid_json(tmp_path):
    for delay in (0.05, 0.2, 0.4):
        root = tmp_path / f"kill-{delay}"
        proc = subprocess.Popen([sys.executable, "-c", _KILL_LOOP, str(root)], stdout=subprocess.PIPE, text=True)
        key = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "wrote"  # one complete write, then killed during the next ones
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        target = Path(root) / f"{key}.json"
        store = ResultStore(root)
        json.loads(target.read_text())  # the file is there, complete, never truncated
        assert store.has_complete(key)
        assert store.keys() == {key}  # a half-written temp file is never listed as a record
        assert not store.scan().invalid
