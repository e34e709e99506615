"""``ssld-eval compare``: paired deltas on the same test samples, intervals, McNemar, Holm, not-comparable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import timm
from image_folders import write_image_folder
from safetensors.torch import save_file

from ssld_eval import cli
from ssld_eval.commands.transfer_cmd import transfer
from ssld_eval.records import ResultStore
from ssld_eval.records import outcomes as per_sample
from ssld_eval.records.synthetic import synthetic_records
from ssld_eval.report.compare import compare


def write_run(store: ResultStore, name: str, correct: np.ndarray, ids: np.ndarray | None = None) -> None:
    """A complete linear-probe record of backbone ``name`` whose test predictions are right where ``correct``."""
    n = len(correct)
    label = np.arange(n, dtype=np.int32) % 4
    pred = np.where(correct, label, (label + 1) % 4).astype(np.int32)
    arrays = {"sample_id": ids if ids is not None else np.array([f"img{i}" for i in range(n)]), "label": label,
              "pred": pred, "top5": np.stack([pred, (pred + 1) % 4], axis=1)}
    metrics = {"top1": float(100 * correct.mean())}
    blob = per_sample.encode(arrays)
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    record = dataclasses.replace(
        base, backbone=name, weights_id=name * 8, metrics=metrics, primary_metric="top1",
        ci95=per_sample.intervals(metrics, arrays),
        outcomes={"file": "", "sha256": per_sample.sha256(blob), "samples": n,
                  "bootstrap": per_sample.bootstrap_description()})
    record = dataclasses.replace(record, outcomes={**record.outcomes, "file": f"{record.key}{per_sample.SUFFIX}"})
    store.write(record, outcomes=blob)


def test_a_clearly_better_backbone_is_significant_and_a_same_one_is_not(tmp_path):
    rng = np.random.default_rng(0)
    store = ResultStore(tmp_path)
    base = rng.random(400) < 0.6
    write_run(store, "baseline", base)
    write_run(store, "better", base | (rng.random(400) < 0.75))  # right wherever the baseline is, and more
    write_run(store, "same", base.copy())
    rows = {r.backbone: r for r in compare(tmp_path, "baseline")}
    better, same = rows["better"], rows["same"]
    assert better.delta > 20 and better.ci95[0] > 0 and better.significant and better.p_value < 1e-6
    assert "McNemar" in better.method and better.samples == 400
    assert same.delta == 0 and same.ci95 == [0.0, 0.0] and same.p_value == 1.0 and not same.significant


def test_other_test_samples_are_not_comparable(tmp_path, capsys):
    store = ResultStore(tmp_path)
    correct = np.ones(50, dtype=bool)
    write_run(store, "baseline", correct)
    write_run(store, "elsewhere", correct, ids=np.array([f"other{i}" for i in range(50)]))
    (row,) = compare(tmp_path, "baseline")
    assert not row.comparable and not row.significant and "other" in row.reason
    assert cli.main(["compare", "--results", str(tmp_path), "--baseline", "baseline", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert {"task", "setting", "backbone", "baseline", "metric", "value", "baseline_value", "delta", "ci95",
            "p_value", "significant"} <= set(printed)
    assert cli.main(["compare", "--results", str(tmp_path), "--baseline", "nobody"]) == 2


def test_changed_outcomes_are_refused(tmp_path):
    store = ResultStore(tmp_path)
    write_run(store, "baseline", np.ones(20, dtype=bool))
    write_run(store, "other", np.zeros(20, dtype=bool))
    victim = next(tmp_path.glob("*.outcomes.npz"))
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(per_sample.OutcomesError, match="sha256"):
        compare(tmp_path, "baseline")


def test_identical_predictions_from_two_files_are_delta_zero(tmp_path):
    """The same weights in two files (other metadata, so another weights id): a real transfer run each."""
    data = write_image_folder(tmp_path / "data", {"train": 6, "test": 4})
    state = {k: v.contiguous() for k, v in timm.create_model("test_resnet", num_classes=0).state_dict().items()}
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.safetensors"
        save_file(state, str(path), metadata={"copy": name})
        paths.append(path)
    for path in paths:
        record = transfer(str(path), "knn", "imagefolder", data_root=data, arch="test_resnet",
                          results=tmp_path / "r", cache_dir=tmp_path / "c", overrides={"image_size": "32", "ks": "[3]"})
        assert record.ci95["knn3_top1"][0] <= record.metrics["knn3_top1"] <= record.ci95["knn3_top1"][1]
    (row,) = compare(tmp_path / "r", "a")
    assert row.backbone == "b" and row.delta == 0 and not row.significant and row.samples == 12


def test_the_report_colours_only_the_real_difference_and_shows_each_interval(tmp_path):
    from ssld_eval.records.frame import load_frame
    from ssld_eval.report.render import build_context

    rng = np.random.default_rng(1)
    store = ResultStore(tmp_path)
    base = rng.random(300) < 0.6
    write_run(store, "baseline", base)
    write_run(store, "better", base | (rng.random(300) < 0.75))
    noisy = base.copy()
    noisy[np.flatnonzero(~base)[:2]] = True  # two more right answers out of 300: not a real difference
    write_run(store, "noisy", noisy)
    context = build_context(load_frame(tmp_path), baseline="baseline", results=tmp_path)
    cells = {row.backbone: row.cells[0] for table in context.tables for row in table.rows}
    assert cells["better"].verdict == "better" and cells["noisy"].verdict == "better-weak"
    assert "[" in cells["baseline"].value and "]" in cells["noisy"].value  # one run: its 95% interval


def test_the_report_counts_the_images_a_run_excluded(tmp_path):
    from ssld_eval.records.frame import load_frame
    from ssld_eval.report.render import build_context, render_html

    store = ResultStore(tmp_path)
    write_run(store, "baseline", np.ones(20, dtype=bool))
    record = next(iter(store.scan().records))
    store.write(dataclasses.replace(record, bad_images=("test/a/1.png", "test/b/7.png")),
                outcomes=(tmp_path / record.outcomes["file"]).read_bytes())
    context = build_context(load_frame(tmp_path), baseline="baseline")
    cell = context.tables[0].rows[0].cells[0]
    assert cell.excluded == 2 and "2 excluded" in render_html(context)
