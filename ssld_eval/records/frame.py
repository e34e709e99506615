"""The results store as a pandas DataFrame, one row per record, for the report and the tables.

Kept apart from the schema so that writing a record (every transfer run) never imports pandas. Metrics are
flattened into ``metric.<name>`` columns and the key audit's matched fraction into ``key_audit.matched_fraction``;
files that do not validate are listed in ``frame.attrs["invalid"]`` (a list of :class:`InvalidRecord`)
instead of stopping the report, which shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ssld_eval.records.schema import ResultRecord
from ssld_eval.records.store import InvalidRecord, ResultStore

#: scalar record fields copied as they are, in this column order
BASE_COLUMNS = (
    "key", "backbone", "task", "dataset", "seed", "status", "primary_metric", "primary_value", "overrides",
    "arch", "weights_id", "method", "teacher", "source_top1", "config_hash", "git_sha", "code_version",
    "key_audit.matched_fraction", "duration_s", "reason", "paper_cell", "created_at",
)
METRIC_PREFIX = "metric."


def overrides_text(overrides: dict[str, str]) -> str:
    """``{"b": "2", "a": "1"}`` -> ``"a=1 b=2"``: one stable string per override set (a grouping key)."""
    return " ".join(f"{k}={v}" for k, v in sorted(overrides.items()))


def paper_cell_of(record: ResultRecord) -> str:
    """The explicit paper cell a record claims (``protocol`` or ``config`` key ``paper_cell``), or ''."""
    for source in (record.protocol, record.config):
        value = source.get("paper_cell")
        if isinstance(value, str):
            return value
    return ""


def record_row(record: ResultRecord) -> dict[str, Any]:
    matched = record.key_audit.get("matched_fraction")
    row: dict[str, Any] = {
        "key": record.key, "backbone": record.backbone, "task": record.task, "dataset": record.dataset,
        "seed": record.seed, "status": record.status, "primary_metric": record.primary_metric,
        "primary_value": record.primary_value, "overrides": overrides_text(record.overrides),
        "arch": record.arch, "weights_id": record.weights_id, "method": record.method,
        "teacher": record.teacher, "source_top1": record.source_top1, "config_hash": record.config_hash,
        "git_sha": record.git_sha, "code_version": record.code_version,
        "key_audit.matched_fraction": matched if isinstance(matched, (int, float)) else None,
        "duration_s": record.duration_s, "reason": record.reason, "paper_cell": paper_cell_of(record),
        "created_at": record.created_at,
    }
    for name, value in record.metrics.items():
        row[METRIC_PREFIX + name] = value
    return row


def records_frame(records: list[ResultRecord] | tuple[ResultRecord, ...]) -> pd.DataFrame:
    """Records -> DataFrame with :data:`BASE_COLUMNS` then sorted ``metric.*`` columns (empty-safe)."""
    rows = [record_row(r) for r in records]
    metric_columns = sorted({c for row in rows for c in row if c.startswith(METRIC_PREFIX)})
    frame = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *metric_columns])
    for column in ("primary_value", "source_top1", "key_audit.matched_fraction", *metric_columns):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def load_frame(root: str | Path) -> pd.DataFrame:
    """Every valid record under ``root`` as a row; invalid files go to ``frame.attrs["invalid"]``."""
    scan = ResultStore(root).scan()
    frame = records_frame(scan.records)
    frame.attrs["invalid"] = list(scan.invalid)
    return frame


def invalid_of(frame: pd.DataFrame) -> list[InvalidRecord]:
    return list(frame.attrs.get("invalid", []))
