"""Backbones are weights identities: two files under one display name are two backbones, one file under two
names is one; ``--baseline`` takes a name, a label or a weights id and refuses an ambiguous name."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ssld_eval.cli import main
from ssld_eval.records import ResultRecord, ResultStore
from ssld_eval.records.frame import backbone_labels, records_frame
from ssld_eval.records.synthetic import synthetic_records
from ssld_eval.report import aggregate
from ssld_eval.report.render import build_context

RUN_A = "3f2a9c1b" + "a" * 56  # two different student.safetensors, both in a folder named "run"
RUN_B = "77e01d4c" + "b" * 56
SUPERVISED = "c" * 64


def _records(*backbones: tuple[str, str, float], seeds: int = 3) -> list[ResultRecord]:
    """``(display name, weights id, value)`` -> complete linear-probe records on one data set."""
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    return [dataclasses.replace(base, backbone=name, weights_id=weights, seed=seed,
                                metrics={"top1": value + 0.1 * seed, "mean_per_class": value})
            for name, weights, value in backbones for seed in range(seeds)]


SAME_NAME = (("run", RUN_A, 50.0), ("run", RUN_B, 60.0), ("supervised", SUPERVISED, 55.0))


def _write(root: Path, records: list[ResultRecord]) -> Path:
    store = ResultStore(root)
    for record in records:
        store.write(record)
    return root


def _report(tmp_path: Path, *extra: str) -> tuple[int, str]:
    out = tmp_path / "out.html"
    code = main(["report", "--results", str(tmp_path / "results"), "--out", str(out), *extra])
    return code, out.read_text(encoding="utf-8") if code == 0 else ""


def test_two_files_with_one_display_name_are_two_backbones(tmp_path):
    frame = records_frame(_records(*SAME_NAME))
    summary = aggregate.summarise(aggregate.complete_values(frame))
    assert sorted(summary["backbone"]) == ["run (3f2a9c1b)", "run (77e01d4c)", "supervised"]
    assert summary.set_index("weights_id").loc[[RUN_A, RUN_B], "n"].tolist() == [3, 3]  # not one row of n=6
    assert summary.set_index("weights_id").loc[RUN_B, "mean"] == pytest.approx(60.1)

    _write(tmp_path / "results", _records(*SAME_NAME))
    code, html = _report(tmp_path)
    assert code == 0
    rows = re.findall(r'<td class="name">([^<]*)</td>', html)
    assert rows.count("run (3f2a9c1b)") == 2 and rows.count("run (77e01d4c)") == 2  # results and provenance
    assert "run" not in rows
    assert "<b>3</b>backbones" in html
    assert "Baseline: <b>supervised</b>" in html
    assert re.search(r'class="delta worse">-5\.00<', html) and re.search(r'class="delta better">\+5\.00<', html)


def test_one_file_under_two_names_is_one_backbone(tmp_path):
    records = _records(("student", RUN_A, 50.0), ("supervised", SUPERVISED, 55.0))
    records[2] = dataclasses.replace(records[2], backbone="student-renamed")
    summary = aggregate.summarise(aggregate.complete_values(records_frame(records)))
    assert summary.set_index("weights_id").loc[RUN_A, ["backbone", "n"]].tolist() == ["student", 3]
    _write(tmp_path / "results", records)
    code, html = _report(tmp_path, "--baseline", "student-renamed")  # any of its names picks it
    assert code == 0 and "Baseline: <b>student</b>" in html


def test_ambiguous_baseline_name_is_an_error_naming_both(tmp_path, capsys):
    _write(tmp_path / "results", _records(*SAME_NAME))
    code, _ = _report(tmp_path, "--baseline", "run")
    err = capsys.readouterr().err
    assert code == 2 and "ambiguous" in err
    for candidate in ("run (3f2a9c1b)", "run (77e01d4c)", RUN_A, RUN_B):
        assert candidate in err


@pytest.mark.parametrize("requested", ["run (77e01d4c)", RUN_B, "77e01d4c", "77e0"])
def test_baseline_by_label_weights_id_or_prefix(tmp_path, requested):
    _write(tmp_path / "results", _records(*SAME_NAME))
    code, html = _report(tmp_path, "--baseline", requested)
    assert code == 0 and "Baseline: <b>run (77e01d4c)</b>" in html
    assert re.search(r'class="delta worse">-10\.00<', html)  # run (3f2a9c1b) against it


def test_ambiguous_prefix_and_unknown_baseline(tmp_path):
    frame = records_frame(_records(("x", "ab12" + "0" * 60, 1.0), ("y", "ab12" + "1" * 60, 2.0)))
    with pytest.raises(ValueError, match="ambiguous: it is the weights id prefix of 2"):
        build_context(frame, baseline="ab12")
    with pytest.raises(ValueError, match="not among the backbones"):
        build_context(frame, baseline="ab1")  # too short to be tried as a prefix


def test_labels_are_unique_stable_and_short():
    ids = {RUN_A: "run", RUN_B: "run", "timm-pretrained:resnet50": "resnet50", "d" * 64: "resnet50",
           "e" * 64: "solo"}
    labels = backbone_labels(ids)
    assert labels == {RUN_A: "run (3f2a9c1b)", RUN_B: "run (77e01d4c)",
                      "timm-pretrained:resnet50": "resnet50 (timm-pretrained:resnet50)",
                      "d" * 64: "resnet50 (dddddddd)", "e" * 64: "solo"}
    assert backbone_labels(dict(reversed(list(ids.items())))) == labels  # order of the records does not matter
    clash = {"12345678" + "0" * 56: "run", "12345678" + "1" * 56: "run"}  # same 8-digit prefix: lengthened
    assert sorted(backbone_labels(clash).values()) == ["run (1234567800000000)", "run (1234567811111111)"]
    tricky = {RUN_A: "run", RUN_B: "run", "f" * 64: "run (3f2a9c1b)"}  # a name that looks like a label
    assert len(set(backbone_labels(tricky).values())) == 3


def test_failed_runs_and_provenance_use_the_labels(tmp_path):
    records = _records(*SAME_NAME)
    records.append(dataclasses.replace(records[0], seed=7, status="failed", reason="oom", metrics={},
                                       primary_metric=""))
    context = build_context(records_frame(records))
    assert [f.backbone for f in context.failed] == ["run (3f2a9c1b)"]
    assert [p.backbone for p in context.provenance] == ["run (3f2a9c1b)", "run (77e01d4c)", "supervised"]
    assert [p.weights for p in context.provenance] == [RUN_A[:16], RUN_B[:16], SUPERVISED[:16]]
