"""A folder of result records, ``<key>.json`` each, written atomically.

Atomic: write a temp file in the same folder, fsync, rename over the target, fsync the folder. A crash
leaves either the old file or the new one, never half a file, and concurrent writers of the same key
each rename a complete file (last one wins; both hold the same experiment).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ssld_eval.records.schema import RecordError, ResultRecord


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ResultStore:
    """``root/<key>.json`` for every run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def write(self, record: ResultRecord) -> Path:
        path = self.path_for(record.key)
        atomic_write_text(path, json.dumps(record.to_dict(), indent=1, sort_keys=True, default=str) + "\n")
        return path

    def read(self, path: Path) -> ResultRecord:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path}: unreadable record ({exc})") from exc
        if not isinstance(data, dict):
            raise RecordError(f"{path}: a record must be a JSON object")
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

    def __iter__(self) -> Iterator[ResultRecord]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*.json")):
            yield self.read(path)

    def keys(self) -> set[str]:
        return {p.stem for p in self.root.glob("*.json")} if self.root.is_dir() else set()
