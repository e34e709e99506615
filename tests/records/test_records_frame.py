"""load_frame: one row per record, metrics flattened, invalid files listed instead of raised."""

from __future__ import annotations

import subprocess
import sys

from ssld_eval.records import ResultStore, load_frame
from ssld_eval.records.frame import invalid_of
from ssld_eval.records.synthetic import synthetic_records


def test_frame_rows_and_metric_columns(tmp_path):
    store = ResultStore(tmp_path)
    records = list(synthetic_records(backbones=2, tasks=2, datasets=2, seeds=2, failed_every=5))
    for record in records:
        store.write(record)
    (tmp_path / "deadbeefdeadbeef.json").write_text("{not json")
    (tmp_path / "0000000000000000.json").write_text('{"schema_version": 99}')
    frame = load_frame(tmp_path)
    assert len(frame) == len(records)
    assert {"metric.top1", "metric.mean_per_class", "metric.knn20_top1", "metric.knn1_top1"} <= set(frame.columns)
    assert set(frame["key"]) == {r.key for r in records}
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == sum(r.status == "failed" for r in records)
    assert failed["primary_value"].isna().all()
    invalid = invalid_of(frame)
    assert [i.path.rsplit("/", 1)[-1] for i in invalid] == ["0000000000000000.json", "deadbeefdeadbeef.json"]
    assert "schema_version" in invalid[0].reason


def test_empty_or_missing_store(tmp_path):
    frame = load_frame(tmp_path / "absent")
    assert frame.empty and "metric.top1" not in frame.columns and "backbone" in frame.columns
    assert invalid_of(frame) == []


def test_records_package_imports_neither_torch_nor_pandas():
    code = ("import sys, ssld_eval.records, ssld_eval.records.store; "
            "print('torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_setting_is_the_config_where_it_differs_from_the_defaults(tmp_path):
    from ssld_eval.records.experiment import resolve_experiment
    from ssld_eval.records.frame import setting_text
    from ssld_eval.records.synthetic import synthetic_record

    def setting(**overrides: str) -> str:
        experiment, _ = resolve_experiment("random-init:x", "fine-tune", "imagefolder", tmp_path, overrides, 0)
        return setting_text(synthetic_record(experiment))

    assert setting() == setting(lr="0.01", workers="8") == ""
    assert setting(lr="1e-1", stage_lr="[0.1, 0.2]") == "lr=0.1 stage_lr=[0.1, 0.2]"
