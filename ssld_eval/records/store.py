"""A folder of result records, ``<key>.json`` each, written atomically.

Atomic: write a temp file in the same folder, fsync, rename over the target, fsync the folder. A crash
leaves either the old file or the new one, never half a file, and concurrent writers of the same key
each rename a complete file (last one wins; both hold the same experiment, so writing a key again is
idempotent). Temp files start with a dot and end in ``.tmp``, so a reader listing ``*.json`` never sees
one, even while a writer is killed halfway.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssld_core.atomic import atomic_write_bytes, atomic_write_text
from ssld_eval.records.outcomes import SUFFIX as OUTCOMES_SUFFIX
from ssld_eval.records.outcomes import OutcomesError, sha256
from ssld_eval.records.outcomes import read as read_outcomes
from ssld_eval.records.schema import RecordError, ResultRecord


@dataclass(frozen=True)
class InvalidRecord:
    """A file in the store that could not be read as a record, and why (shown by the report)."""

    path: str
    reason: str


@dataclass(frozen=True)
class StoreScan:
    """Everything in a store: the valid records and the files that are not."""

    records: tuple[ResultRecord, ...]
    invalid: tuple[InvalidRecord, ...]


class ResultStore:
    """``root/<key>.json`` for every run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def outcomes_path(self, key: str) -> Path:
        return self.root / f"{key}{OUTCOMES_SUFFIX}"

    def write(self, record: ResultRecord, outcomes: bytes | None = None) -> Path:
        """Write ``record`` (and first its per-sample ``outcomes``, the ``.npz`` bytes its ``outcomes`` field
        checksums): a reader that finds the record always finds the outcomes it names."""
        if outcomes is not None:
            if record.outcomes.get("sha256") != sha256(outcomes):
                raise RecordError(f"record {record.key}: its outcomes field does not checksum the outcomes given")
            atomic_write_bytes(self.outcomes_path(record.key), outcomes)
        path = self.path_for(record.key)
        atomic_write_text(path, json.dumps(record.to_dict(), indent=1, sort_keys=True, default=str) + "\n")
        return path

    def read_outcomes(self, record: ResultRecord) -> dict[str, Any]:
        """The per-sample outcome arrays of ``record``, checked against its checksum."""
        if not record.outcomes:
            raise OutcomesError(f"record {record.key} ({record.task}, {record.dataset}) has no per-sample outcomes")
        return read_outcomes(self.root / record.outcomes["file"], record.outcomes["sha256"])

    def read(self, path: Path) -> ResultRecord:
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path}: unreadable record ({exc})") from exc
        record = ResultRecord.from_dict(data, source=str(path))
        if record.key != path.stem:
            raise RecordError(f"{path}: file name does not match the record's key {record.key}")
        return record

    def has_complete(self, key: str) -> bool:
        path = self.path_for(key)
        if not path.is_file():
            return False
        try:
            return self.read(path).status == "complete"
        except RecordError:
            return False

    def _paths(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        names = sorted(e.name for e in entries if e.name.endswith(".json") and not e.name.startswith("."))
        return [self.root / name for name in names]

    def __iter__(self) -> Iterator[ResultRecord]:
        """Every record, in key order; raises :class:`RecordError` on the first invalid file."""
        for path in self._paths():
            yield self.read(path)

    def scan(self) -> StoreScan:
        """Every valid record plus every invalid file with its reason; never raises on a bad file."""
        records, invalid = [], []
        for path in self._paths():
            try:
                records.append(self.read(path))
            except RecordError as exc:
                invalid.append(InvalidRecord(path=str(path), reason=str(exc)))
        return StoreScan(records=tuple(records), invalid=tuple(invalid))

    def keys(self) -> set[str]:
        """Keys that have a file (valid or not), from one directory listing: cheap for dry runs."""
        return {p.stem for p in self._paths()}
