"""Result records: one JSON file per run, named by its key. Torch-free."""

from ssld_eval.records.schema import SCHEMA_VERSION, RecordError, ResultRecord, record_key
from ssld_eval.records.store import ResultStore

__all__ = ["SCHEMA_VERSION", "RecordError", "ResultRecord", "ResultStore", "record_key"]
