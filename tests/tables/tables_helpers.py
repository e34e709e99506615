"""Shared by the tables tests: the commands a rendered table prints, fake released files, records."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
from pathlib import Path

import pytest

from ssld_eval.records.synthetic import synthetic_records
from ssld_eval.tables.mapping import Where, backbone_arg
from ssld_eval.tables.papers import PaperCell, paper_cells
from ssld_eval.tables.plan import reproducible

ENTRY = re.compile(r"^\d+\. `([^`]+)`")


def printed_commands(markdown: str) -> list[str]:
    """Every command of the tables' lists, in the Markdown rendering's order."""
    return [m.group(1) for line in markdown.splitlines() if (m := ENTRY.match(line))]


def segments(command: str) -> list[list[str]]:
    """``a && b`` -> [argv of a, argv of b] (shell-parsed)."""
    out: list[list[str]] = [[]]
    for token in shlex.split(command):
        if token == "&&":
            out.append([])
        else:
            out[-1].append(token)
    return out


def fake_released_files(paper: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Where, dict[str, str]]:
    """A zoo cache ($SSLD_EVAL_ZOO) and a --checkpoints folder holding a small distinct file for every released
    weights file of ``paper``; returns the Where naming them and backbone spec -> the file's sha256."""
    from ssld_eval.zoo import entry, local_path

    monkeypatch.setenv("SSLD_EVAL_ZOO", str(tmp_path / "zoo"))
    where = Where(results=str(tmp_path / "results"), checkpoints=str(tmp_path / "checkpoints"),
                  builtin=str(tmp_path / "builtin"))
    shas = {}
    for _, recipe in reproducible(paper_cells(paper)):
        weights = recipe.weights
        assert weights is not None
        if weights.kind == "timm":
            continue
        path = local_path(entry(weights.spec)) if weights.kind == "zoo" else Path(backbone_arg(weights, where))
        data = f"fake weights of {weights.spec}".encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        shas[weights.spec] = hashlib.sha256(data).hexdigest()
    return where, shas


def record(**changes):
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    return dataclasses.replace(base, **changes)


def cell(**changes) -> PaperCell:
    base = dict(paper="ssld", table="finetune_transfer", model="ResNet50_vd", setting="ssld", metric="flowers102_top1",
                value="97.41", unit="percent", source="test", status="verified")
    return PaperCell(**{**base, **changes})


def find_cell(paper: str, **fields: str) -> PaperCell:
    found = [c for c in paper_cells(paper) if all(getattr(c, k) == v for k, v in fields.items())]
    assert len(found) == 1, (paper, fields, found)
    return found[0]
