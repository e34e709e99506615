"""Result records: one JSON file per run, named by its key. Torch-free, and pandas-free unless asked:
``load_frame`` lives in :mod:`ssld_eval.records.frame` and is imported on first use."""

from typing import Any

from ssld_eval.records.schema import SCHEMA_VERSION, RecordError, ResultRecord, StaleRecordError, record_key
from ssld_eval.records.store import InvalidRecord, ResultStore, StoreScan

__all__ = [
    "SCHEMA_VERSION", "InvalidRecord", "RecordError", "ResultRecord", "ResultStore", "StaleRecordError", "StoreScan",
    "load_frame", "record_key",
]


def __getattr__(name: str) -> Any:
    if name == "load_frame":
        from ssld_eval.records.frame import load_frame

        return load_frame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
