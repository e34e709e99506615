"""The results store as a pandas DataFrame, one row per record, for the report and the tables.

Kept apart from the schema so that writing a record (every transfer run) never imports pandas. Metrics are
flattened into ``metric.<name>`` columns and the key audit's matched fraction into ``key_audit.matched_fraction``;
files that do not validate are listed in ``frame.attrs["invalid"]`` (a list of :class:`InvalidRecord`)
instead of stopping the report, which shows them.

A backbone is its weights (``weights_id``), not its display name: two different ``student.safetensors`` in
folders both called ``run`` carry the same ``backbone`` name but are two backbones. The ``label`` column is
what to show for a row's weights: the display name, with a short weights id appended when several weights
share that name, so every weights identity has exactly one label and every label one weights identity.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ssld_eval.records.schema import ResultRecord
from ssld_eval.records.store import InvalidRecord, ResultStore
from ssld_eval.tasks.configs import TASK_CONFIGS, split_config

#: scalar record fields copied as they are, in this column order (``label`` is derived, see the module doc)
BASE_COLUMNS = (
    "key", "backbone", "label", "task", "dataset", "seed", "status", "primary_metric", "primary_value", "overrides",
    "arch", "weights_id", "method", "teacher", "source_top1", "config_hash", "git_sha", "code_version",
    "key_audit.matched_fraction", "duration_s", "reason", "paper_cell", "created_at", "excluded_images",
)
METRIC_PREFIX = "metric."
CI_PREFIX = "ci95."  # ci95.<metric>.low / .high: the 95% interval a record gives its metric
SHORT_ID = 8  # hex digits of a sha256 weights id shown to tell two same-named backbones apart
_SHA256 = re.compile(r"[0-9a-f]{64}")


def short_weights_id(weights_id: str, width: int = SHORT_ID) -> str:
    """The first ``width`` hex digits of a sha256 id; other ids (``timm-pretrained:<name>``,
    ``random-init:<arch>``) are short and telling already, so they are kept whole."""
    return weights_id[:width] if _SHA256.fullmatch(weights_id) else weights_id


def display_names(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``(weights_id, backbone)`` pairs -> each weights id's display name: the most common name among its
    records (one file may have been transferred under two names), ties broken alphabetically."""
    counts: dict[str, Counter[str]] = {}
    for weights_id, name in pairs:
        counts.setdefault(weights_id, Counter())[name] += 1
    return {w: min(c, key=lambda n: (-c[n], n)) for w, c in counts.items()}


def backbone_labels(names: dict[str, str]) -> dict[str, str]:
    """weights id -> display name -> unique label: a name held by one weights id is shown as it is; names
    held by several get ``" (<short id>)"``, lengthened until the labels differ. Depends on nothing but the
    pairs, so the same records give the same labels in every report."""
    labels = dict(names)
    width = SHORT_ID
    while True:
        counts = Counter(labels.values())
        clashing = sorted(w for w, label in labels.items() if counts[label] > 1)
        if not clashing:
            return labels
        if width > 64:  # full ids differ, so only a display name built to look like a label gets here
            for index, w in enumerate(clashing):
                labels[w] = f"{names[w]} ({w}) #{index + 1}"
            return labels
        for w in clashing:
            labels[w] = f"{names[w]} ({short_weights_id(w, width)})"
        width *= 2


def overrides_text(overrides: Mapping[str, Any]) -> str:
    """``{"b": "2", "a": "1"}`` -> ``"a=1 b=2"``: one stable string per override set (a grouping key)."""
    return " ".join(f"{k}={v}" for k, v in sorted(overrides.items()))


def setting_text(record: ResultRecord) -> str:
    """The record's config where it differs from its task's defaults (``"lr=0.1"``), the report's setting:
    ``--set lr=1e-1`` and ``--set lr=0.1`` are one setting, ``--set workers=8`` none. A task this version
    does not declare falls back to the overrides as typed."""
    if record.task not in TASK_CONFIGS:
        return overrides_text(record.overrides)
    defaults, _ = split_config(TASK_CONFIGS[record.task]())
    changed = {k: json.dumps(v) if isinstance(v, (list, tuple, dict)) else v
               for k, v in record.config.items() if k not in defaults or _as_json(defaults[k]) != _as_json(v)}
    return overrides_text(changed)


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


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
        "primary_value": record.primary_value, "overrides": setting_text(record),
        "arch": record.arch, "weights_id": record.weights_id, "method": record.method,
        "teacher": record.teacher, "source_top1": record.source_top1, "config_hash": record.config_hash,
        "git_sha": record.git_sha, "code_version": record.code_version,
        "key_audit.matched_fraction": matched if isinstance(matched, (int, float)) else None,
        "duration_s": record.duration_s, "reason": record.reason, "paper_cell": paper_cell_of(record),
        "created_at": record.created_at, "excluded_images": len(record.bad_images),
    }
    for name, value in record.metrics.items():
        row[METRIC_PREFIX + name] = value
    for name, (low, high) in record.ci95.items():
        row[f"{CI_PREFIX}{name}.low"], row[f"{CI_PREFIX}{name}.high"] = low, high
    return row


def records_frame(records: list[ResultRecord] | tuple[ResultRecord, ...]) -> pd.DataFrame:
    """Records -> DataFrame with :data:`BASE_COLUMNS` then sorted ``metric.*`` and ``ci95.*`` columns."""
    rows = [record_row(r) for r in records]
    metric_columns = sorted({c for row in rows for c in row if c.startswith((METRIC_PREFIX, CI_PREFIX))})
    labels = backbone_labels(display_names((r["weights_id"], r["backbone"]) for r in rows))
    for row in rows:
        row["label"] = labels[row["weights_id"]]
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
