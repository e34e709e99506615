"""The HTML report: content, escaping of user strings, determinism, self-containedness, no torch."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ssld_eval.cli import main
from ssld_eval.records import ResultRecord, ResultStore
from ssld_eval.records.synthetic import synthetic_records

HOSTILE = "<script>alert(1)</script>"


def _store(root: Path, rename: dict[str, str] | None = None, **sizes) -> ResultStore:
    store = ResultStore(root)
    for record in synthetic_records(**{"backbones": 3, "tasks": 2, "datasets": 2, "seeds": 3, **sizes}):
        name = (rename or {}).get(record.backbone, record.backbone)
        store.write(dataclasses.replace(record, backbone=name))
    return store


def _render(tmp_path: Path, *extra: str, results: Path | None = None) -> str:
    out = tmp_path / "out" / "index.html"
    assert main(["report", "--results", str(results or tmp_path / "results"), "--out", str(out), *extra]) == 0
    return out.read_text(encoding="utf-8")


def test_report_has_overview_charts_provenance(tmp_path):
    _store(tmp_path / "results", failed_every=7)
    html = _render(tmp_path)
    assert "<table" in html and html.count("<svg") == 3  # one chart per task (2) and the scatter
    for name in ("supervised-r18", "ssld-r18", "simreg-r18", "flowers102", "dtd", "linear-probe", "knn"):
        assert name in html
    assert "Baseline: <b>supervised-r18</b>" in html and "default" in html
    assert "n=3" in html and "±" in html
    assert "synthetic failure: out of memory" in html  # failed runs with their reason
    assert "0000000000" in html  # git SHA in the provenance table


def test_user_strings_are_escaped(tmp_path):
    _store(tmp_path / "results", rename={"ssld-r18": HOSTILE, "simreg-r18": 'a"b&c $x$ \\d'})
    html = _render(tmp_path, "--title", "<b>title</b>")
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>title</b>" not in html and "&lt;b&gt;title&lt;/b&gt;" in html
    assert not re.search(r"<script\b", html, re.I)


def test_self_contained(tmp_path):
    _store(tmp_path / "results")
    html = _render(tmp_path)
    assert not re.search(r"<(script|link|img|iframe|object)\b", html, re.I)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)  # clip paths: url(#id) only
    assert not re.search(r"\bsrc=", html)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith("#") for h in hrefs), hrefs
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_deterministic_bytes(tmp_path):
    _store(tmp_path / "results", failed_every=5)
    assert _render(tmp_path) == _render(tmp_path)


def test_deltas_are_coloured_by_direction(tmp_path):
    store = ResultStore(tmp_path / "results")
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    for backbone, value in (("baseline-net", 50.0), ("good-net", 60.0), ("bad-net", 40.0)):
        for seed in range(3):
            store.write(dataclasses.replace(base, backbone=backbone, weights_id=backbone * 4, seed=seed,
                                            metrics={"top1": value + 0.1 * seed}))
    html = _render(tmp_path)
    assert "Baseline: <b>baseline-net</b>" in html
    assert re.search(r'class="delta better">\+10\.00<', html)
    assert re.search(r'class="delta worse">-10\.00<', html)
    html = _render(tmp_path, "--baseline", "good-net")
    assert re.search(r'class="delta worse">-20\.00<', html)


def test_unknown_baseline_is_an_error(tmp_path, capsys):
    _store(tmp_path / "results")
    code = main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "x.html"),
                 "--baseline", "nope"])
    assert code == 2 and "nope" in capsys.readouterr().err


def test_invalid_files_are_listed_not_fatal(tmp_path):
    store = _store(tmp_path / "results")
    (store.root / "ffffffffffffffff.json").write_text("{broken")
    html = _render(tmp_path)
    assert "ffffffffffffffff.json" in html and "not valid records" in html


def test_empty_store_renders(tmp_path):
    (tmp_path / "results").mkdir()
    html = _render(tmp_path)
    assert "No complete result yet" in html


def test_report_never_imports_torch(tmp_path):
    _store(tmp_path / "results")
    argv = ["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")]
    code = f"import sys\nfrom ssld_eval.cli import main\nassert main({argv!r}) == 0\nprint('torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_mixed_primary_metrics_use_the_most_common(tmp_path):
    store = ResultStore(tmp_path / "results")
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    for seed in range(3):
        store.write(dataclasses.replace(base, seed=seed, metrics={"top1": 70.0, "mean_per_class": 90.0}))
    odd = dataclasses.replace(base, seed=9, metrics={"top1": 70.0, "mean_per_class": 90.0},
                              primary_metric="mean_per_class")
    store.write(odd)
    html = _render(tmp_path)
    assert "70.00 ± 0.00<span class=\"n\">n=4" in html


@pytest.mark.parametrize("record_status", ["failed"])
def test_only_failed_runs(tmp_path, record_status):
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    ResultStore(tmp_path / "results").write(
        ResultRecord(**{**dataclasses.asdict(base), "status": record_status, "reason": "diverged <NaN>",
                        "metrics": {}, "primary_metric": "", "bad_images": ()}))
    html = _render(tmp_path)
    assert "diverged &lt;NaN&gt;" in html
