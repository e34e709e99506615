"""The result record every task writes, and the key that names it.

A record's key hashes what makes two runs the same experiment (:mod:`ssld_eval.records.experiment`): the
backbone's weights, the task and its protocol version, the data set and the identity of the files it read,
the task's resolved config without its execution-only keys, and the seed. Neither the package version nor
the git SHA is in it: a release that changes no task's numbers keeps every result, and one that does bumps
that task's protocol version. The key is computable without torch and without running anything, which is
what lets ``--skip-existing`` and ``sweep --dry-run`` decide in milliseconds. Everything else (metrics,
chosen hyper-parameters, timings, how the run executed, git SHA, library versions) is provenance.

Reading is strict: a file with an unknown field, a missing one, a value of the wrong type or another
schema version is a :class:`RecordError` naming the file and the field, because a report silently built
on half-understood records is worse than one that lists what it could not read. A record of an older schema
is a :class:`StaleRecordError`: its key did not name its data or protocol, so it never matches a run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ssld_core.provenance import git_sha, library_versions
from ssld_eval import __version__
from ssld_eval.provenance import canonical_hash

SCHEMA_VERSION = 2  # 2: the key names the data identity and the task's protocol version
STATUSES = ("complete", "failed")


class RecordError(ValueError):
    """A record file that does not validate; the message names the file and the field."""


class StaleRecordError(RecordError):
    """A record written under an older schema: readable as a file, never a match for a run."""


def record_key(weights_id: str, task: str, dataset: str, protocol_version: int, data_id: str,
               config: dict[str, Any], seed: int) -> str:
    """The hash of one experiment's identity; ``config`` is the resolved config without execution-only keys
    (its floats are floats, so ``0.1`` and ``1e-1`` hash alike)."""
    return canonical_hash({"weights": weights_id, "task": task, "protocol": protocol_version, "dataset": dataset,
                           "data": data_id, "config": config, "seed": seed})



@dataclass(frozen=True)
class ResultRecord:
    """One run of one task on one data set with one backbone and seed."""

    task: str  # linear-probe, knn, fine-tune, coco-det, ade20k-seg, ...
    dataset: str
    backbone: str  # display name: the timm name or the distilled run's name
    arch: str
    weights_id: str  # sha256 of the weights file, "random-init:<name>" or "timm-pretrained:<name>"
    seed: int
    status: str  # "complete" or "failed"
    data_id: str  # identity of the files the run read (ssld_eval.data_identity)
    protocol_version: int  # the task's, when the run was made
    metrics: dict[str, float] = field(default_factory=dict)  # percent, as the papers print them
    ci95: dict[str, list[float]] = field(default_factory=dict)  # metric -> [low, high], from the outcomes
    # the per-sample outcomes file beside the record: {"file", "sha256", "samples", "bootstrap": {B, seed, ...}}
    outcomes: dict[str, Any] = field(default_factory=dict)
    primary_metric: str = ""
    overrides: dict[str, str] = field(default_factory=dict)  # the user's --set key=value, as typed
    protocol: dict[str, Any] = field(default_factory=dict)  # chosen L2, k, epochs, schedule, batch ...
    config: dict[str, Any] = field(default_factory=dict)  # the resolved task config, execution-only keys out
    config_hash: str = ""
    # how it ran, not what it is: torch threads, deterministic algorithms, device and the task's
    # execution-only settings (workers, batch size of extraction ...); never part of the key
    execution: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why a failed run failed
    method: str = ""  # distillation method from the student's provenance, when known
    teacher: str = ""
    source_top1: float | None = None  # the backbone's source-task top-1, when known
    key_audit: dict[str, Any] = field(default_factory=dict)
    bad_images: tuple[str, ...] = ()
    duration_s: float = 0.0
    git_sha: str = field(default_factory=git_sha)
    versions: dict[str, str] = field(default_factory=library_versions)
    code_version: str = __version__
    created_at: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RecordError(f"status {self.status!r}: expected one of {STATUSES}")
        if self.status == "failed" and not self.reason:
            raise RecordError("a failed record must say why (reason is empty)")
        if self.status == "complete" and self.primary_metric and self.primary_metric not in self.metrics:
            raise RecordError(f"primary_metric {self.primary_metric!r} is not among metrics {sorted(self.metrics)}")

    @cached_property  # a frozen dataclass may still cache in its __dict__; fields are immutable
    def key(self) -> str:
        return record_key(self.weights_id, self.task, self.dataset, self.protocol_version, self.data_id, self.config,
                          self.seed)

    @property
    def primary_value(self) -> float | None:
        """The value of the primary metric (or of the only metric), ``None`` when there is none."""
        name = self.primary_metric or (next(iter(self.metrics)) if len(self.metrics) == 1 else "")
        return self.metrics.get(name) if name else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["bad_images"] = list(self.bad_images)
        data["key"] = self.key
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> ResultRecord:
        if not isinstance(data, dict):
            raise RecordError(f"{source}: a record must be a JSON object, found {type(data).__name__}")
        data = dict(data)
        data.pop("key", None)
        version = data.get("schema_version")
        if isinstance(version, int) and version < SCHEMA_VERSION:
            raise StaleRecordError(
                f"{source}: stale record of schema {version} (this ssld-eval writes {SCHEMA_VERSION}): its key does "
                "not name the data it read or the task's protocol version, so no run matches it; rerun it"
            )
        if version != SCHEMA_VERSION:
            raise RecordError(
                f"{source}: field 'schema_version' is {version!r}, this ssld-eval reads {SCHEMA_VERSION}"
            )
        unknown = sorted(set(data) - _FIELD_NAMES)
        if unknown:
            raise RecordError(f"{source}: unknown field(s) {unknown}")
        absent = [n for n in _REQUIRED if n not in data]
        if absent:
            raise RecordError(f"{source}: missing field(s) {absent}")
        for name, value in data.items():
            problem = _CHECKS[name](value)
            if problem:
                raise RecordError(f"{source}: field {name!r} {problem}")
        data["bad_images"] = tuple(data.get("bad_images", ()))
        try:
            return cls(**data)
        except RecordError as exc:
            raise RecordError(f"{source}: {exc}") from exc


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(ResultRecord))
_REQUIRED = tuple(f.name for f in dataclasses.fields(ResultRecord)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string(value: Any) -> str:
    return "" if isinstance(value, str) else f"must be a string, found {value!r}"


def _object(value: Any) -> str:
    return "" if isinstance(value, dict) else f"must be an object, found {type(value).__name__}"


def _integer(value: Any) -> str:
    return "" if isinstance(value, int) and not isinstance(value, bool) else f"must be an integer, found {value!r}"


def _finite(value: Any) -> str:
    return "" if _is_number(value) and math.isfinite(value) else f"must be a finite number, found {value!r}"


def _number_or_null(value: Any) -> str:
    return "" if value is None or _is_number(value) else f"must be a number or null, found {value!r}"


def _numbers(value: Any) -> str:
    if not isinstance(value, dict):
        return f"must be an object of numbers, found {type(value).__name__}"
    bad = sorted(str(k) for k, v in value.items() if not _is_number(v))
    return f"has non-numeric value(s) for {bad}" if bad else ""


def _strings(value: Any) -> str:
    if not isinstance(value, dict):
        return f"must be an object of strings, found {type(value).__name__}"
    bad = sorted(str(k) for k, v in value.items() if not isinstance(v, str))
    return f"has non-string value(s) for {bad}" if bad else ""


def _string_list(value: Any) -> str:
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return "" if ok else "must be a list of strings"


def _intervals(value: Any) -> str:
    if not isinstance(value, dict):
        return f"must be an object of [low, high] pairs, found {type(value).__name__}"
    bad = sorted(str(k) for k, v in value.items()
                 if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_number(x) and math.isfinite(x)
                                                                               for x in v) and v[0] <= v[1]))
    return f"has malformed interval(s) for {bad}" if bad else ""


#: field -> check returning why a JSON value does not fit (empty when it does): JSON gives no types for free
_CHECKS = {
    **dict.fromkeys(("task", "dataset", "backbone", "arch", "weights_id", "status", "primary_metric",
                     "config_hash", "reason", "method", "teacher", "git_sha", "code_version", "data_id"), _string),
    **dict.fromkeys(("protocol", "config", "key_audit", "execution", "outcomes"), _object),
    "ci95": _intervals,
    "seed": _integer, "schema_version": _integer, "protocol_version": _integer, "duration_s": _finite,
    "created_at": _finite,
    "source_top1": _number_or_null, "metrics": _numbers, "overrides": _strings, "versions": _strings,
    "bad_images": _string_list,
}
assert set(_CHECKS) == _FIELD_NAMES, "every record field needs a type check"
