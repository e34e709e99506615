"""README command 1 end to end: ``ssld-eval demo`` on the small built-in data, then a rerun.

The demo trains the built-in teacher, distils a student with every registered method beside the supervised
baseline, runs every registered transfer task on each and writes the report. This test runs the real command
in a subprocess, checks that every (student, task, data set) has a complete record and a place in the report,
prints each student's numbers beside the supervised baseline's (the distilled-student-vs-baseline comparison
of the classification transfer issue), and checks that a rerun skips all finished work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssld_eval import demo
from ssld_eval.records import load_frame
from ssld_eval.tasks import task_names

CLI = Path(sys.executable).with_name("ssld-eval")


def run_demo(out: Path, data: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run([str(CLI), "demo", "--out", str(out), "--data", str(data)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=3600, check=False)
    return done, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.mm
def test_demo_end_to_end_then_rerun_skips_everything(builtin_small: Path, tmp_path: Path) -> None:
    pytest.importorskip("mmcv.ops", reason="the demo runs detection and segmentation: needs mmcv's compiled ops")
    out = tmp_path / "demo"
    first, first_s = run_demo(out, builtin_small)
    assert first.returncode == 0, first.stderr[-4000:]
    progress = [line for line in first.stderr.splitlines() if line.startswith("[demo")]
    assert "report:" in progress[-1] and len(progress) == int(progress[-1].split("/")[1].split()[0])

    frame = load_frame(out / "results")
    students = [name for name, _ in demo.STUDENT_RECIPES]
    plan = demo.demo_plan(task_names())
    teachers = list(demo.teachers(builtin_small))  # the ON_TEACHERS tasks (imagenet) score the teachers' own heads
    expected = {(s, t, d) for t, (datasets, _) in plan.items() for d in datasets
                for s in (teachers if t in demo.ON_TEACHERS else students)}
    assert set(zip(frame.backbone, frame.task, frame.dataset, strict=True)) == expected
    assert (frame.status == "complete").all() and len(frame) == len(expected)
    html = (out / "index.html").read_text()
    assert all(task in html for task in plan) and all(student in html for student in students)

    table = frame.pivot_table(index="backbone", columns=["task", "dataset"], values="primary_value", aggfunc="first")
    print(f"\ndemo: {first_s:.0f} s on {os.cpu_count()} CPU(s); primary metric per student (supervised = baseline)")
    print(table.reindex(students).round(2).to_string())

    record_times = {p: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    second, second_s = run_demo(out, builtin_small)
    assert second.returncode == 0, second.stderr[-4000:]
    assert {p: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")} == record_times
    assert "done earlier" in second.stderr and second_s < 120, f"rerun took {second_s:.0f} s"
