"""The result record every task writes, and the key that names it.

A record's key hashes what makes two runs the same experiment: the backbone's weights, the task, the data
set, the user's overrides of the task's recipe (``--set key=value``), the seed and the code version (the
package version, not the git SHA, so a commit that touches only docs does not invalidate every result).
The key is computable without torch and without running anything, which is what lets ``--skip-existing``
and ``sweep --dry-run`` decide in milliseconds. Everything else (metrics, the resolved config, chosen
hyper-parameters, timings, git SHA, library versions) is provenance.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from ssld_eval import __version__
from ssld_eval.provenance import canonical_hash, git_sha, library_versions

SCHEMA_VERSION = 1
STATUSES = ("complete", "failed")


class RecordError(ValueError):
    """A record file that does not validate; the message names the file and the field."""


def record_key(weights_id: str, task: str, dataset: str, overrides: dict[str, str], seed: int,
               code_version: str = __version__) -> str:
    return canonical_hash(
        {"weights": weights_id, "task": task, "dataset": dataset,
         "overrides": {str(k): str(v) for k, v in overrides.items()}, "seed": seed, "code": code_version}
    )


@dataclass(frozen=True)
class ResultRecord:
    """One run of one task on one data set with one backbone and seed."""

    task: str  # linear-probe, knn, fine-tune, coco-det, ade20k-seg, ...
    dataset: str
    backbone: str  # display name: the timm name or the distilled run's name
    arch: str
    weights_id: str  # sha256 of the weights file, "random-init" or "timm-pretrained:..."
    seed: int
    status: str  # "complete" or "failed"
    metrics: dict[str, float] = field(default_factory=dict)  # percent, as the papers print them
    primary_metric: str = ""
    overrides: dict[str, str] = field(default_factory=dict)  # the user's --set key=value, part of the key
    protocol: dict[str, Any] = field(default_factory=dict)  # chosen L2, k, epochs, schedule, batch ...
    config: dict[str, Any] = field(default_factory=dict)  # the resolved task config
    config_hash: str = ""
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

    @property
    def key(self) -> str:
        return record_key(self.weights_id, self.task, self.dataset, self.overrides, self.seed, self.code_version)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["bad_images"] = list(self.bad_images)
        data["key"] = self.key
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> ResultRecord:
        data = dict(data)
        data.pop("key", None)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(f"{source}: schema_version {version!r}, this ssld-eval reads {SCHEMA_VERSION}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RecordError(f"{source}: unknown field(s) {unknown}")
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        absent = [n for n in required if n not in data]
        if absent:
            raise RecordError(f"{source}: missing field(s) {absent}")
        data["bad_images"] = tuple(data.get("bad_images", ()))
        try:
            return cls(**data)
        except RecordError as exc:
            raise RecordError(f"{source}: {exc}") from exc
