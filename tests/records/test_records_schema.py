"""The record schema: round trip, strict validation naming file and field."""

from __future__ import annotations

import json

import pytest

from ssld_eval.records import SCHEMA_VERSION, RecordError, ResultRecord, ResultStore
from ssld_eval.records.synthetic import synthetic_records


def _record(**changes) -> ResultRecord:
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    data = base.to_dict()
    data.pop("key")
    data.update(changes)
    return ResultRecord.from_dict(data)


def test_round_trip_is_equal():
    for record in synthetic_records(backbones=2, tasks=2, datasets=2, seeds=2, failed_every=3):
        assert ResultRecord.from_dict(record.to_dict()) == record
        assert ResultRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_unknown_field_names_file_and_field(tmp_path):
    record = _record()
    path = ResultStore(tmp_path).write(record)
    data = json.loads(path.read_text())
    data["colour"] = "blue"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"colour") as info:
        ResultStore(tmp_path).read(path)
    assert str(path) in str(info.value)


def test_wrong_schema_version_names_file_and_field(tmp_path):
    path = ResultStore(tmp_path).write(_record())
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match="schema_version") as info:
        ResultStore(tmp_path).read(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("field", "value"), [
    ("seed", "0"), ("metrics", {"top1": "high"}), ("overrides", {"lr": 0.1}), ("task", 3),
    ("source_top1", "80"), ("bad_images", [1]), ("duration_s", True), ("protocol", []),
])
def test_wrong_types_name_the_field(field, value):
    with pytest.raises(RecordError, match=repr(field)):
        _record(**{field: value})


def test_missing_field_and_bad_status():
    data = _record().to_dict()
    del data["dataset"]
    with pytest.raises(RecordError, match="dataset"):
        ResultRecord.from_dict(data, source="x.json")
    with pytest.raises(RecordError, match="reason"):
        _record(status="failed", reason="")


def test_key_must_match_file_name(tmp_path):
    store = ResultStore(tmp_path)
    path = store.write(_record())
    moved = tmp_path / "0123456789abcdef.json"
    path.rename(moved)
    with pytest.raises(RecordError, match="does not match"):
        store.read(moved)
    assert not store.has_complete("0123456789abcdef")


def test_primary_value():
    record = _record()
    assert record.primary_value == record.metrics[record.primary_metric]
    assert _record(metrics={"miou": 40.0}, primary_metric="").primary_value == 40.0
    assert _record(status="failed", reason="oom", metrics={}, primary_metric="").primary_value is None
