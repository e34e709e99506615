"""``ssld-eval tables``: published values, ours beside them, commands, escaping, byte-identical output."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from ssld_eval.cli import main
from ssld_eval.records import ResultStore
from ssld_eval.records.synthetic import synthetic_records
from ssld_eval.tables.mapping import command_for, matches
from ssld_eval.tables.papers import PAPERS, PaperCell, paper_cells
from ssld_eval.tables.render import render, tables_of, tex_escape

HOSTILE_TEX = r"A&B 50% $x$ #1 _y {z} ~w ^v \u"
HOSTILE_HTML = "<script>alert(1)</script>"


def _record(**changes):
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    return dataclasses.replace(base, **changes)


def _cell(**changes) -> PaperCell:
    base = dict(paper="ssld", table="t1", model="ResNet50_vd", setting="ssld", metric="flowers102_top1",
                value="97.41", unit="percent", source="test", status="verified")
    return PaperCell(**{**base, **changes})


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_every_paper_renders_every_published_value(paper, fmt, tmp_path):
    out = tmp_path / f"{paper}.{fmt}"
    assert main(["tables", "--paper", paper, "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for cell in paper_cells(paper):
        assert cell.value in text


def test_regeneration_is_byte_identical(tmp_path):
    store = ResultStore(tmp_path / "results")
    for seed in range(3):
        store.write(_record(task="fine-tune", dataset="flowers102", arch="resnet50d", method="ssld", seed=seed,
                            metrics={"top1": 97.0 + seed / 10}, primary_metric="top1"))
    outputs = []
    for _ in range(2):
        argv = [sys.executable, "-m", "ssld_eval.cli", "tables", "--paper", "ssld", "--format", "tex",
                "--results", str(store.root)]
        outputs.append(subprocess.run(argv, capture_output=True, check=True).stdout)
    assert outputs[0] == outputs[1] and b"ours 97.10" in outputs[0]


def test_mapped_records_stand_beside_the_published_value():
    cell = _cell()
    records = [_record(task="fine-tune", dataset="flowers102", arch="resnet50d", method="ssld", seed=s,
                       metrics={"top1": v}, primary_metric="top1") for s, v in enumerate((97.0, 97.2, 97.4))]
    assert matches(cell, records[0]) == 97.0
    text = render(tables_of([cell], records), "md")
    assert "97.41; ours 97.20 ± 0.20 (n=3), Δ -0.21" in text
    assert "Commands" not in text


def test_mapping_refuses_near_misses():
    cell = _cell(setting="baseline")
    ok = _record(task="fine-tune", dataset="flowers102", arch="resnet50d", method="", weights_id="timm-pretrained:x",
                 metrics={"top1": 97.0}, primary_metric="top1")
    assert matches(cell, ok) == 97.0
    assert matches(cell, dataclasses.replace(ok, weights_id="random-init:resnet18")) is None  # not a trained baseline
    assert matches(cell, dataclasses.replace(ok, method="ssld")) is None
    assert matches(cell, dataclasses.replace(ok, arch="resnet50")) is None
    assert matches(cell, dataclasses.replace(ok, dataset="dtd")) is None
    assert matches(cell, dataclasses.replace(ok, status="failed", reason="x", metrics={})) is None
    assert matches(_cell(metric="imagenet_top1"), ok) is None  # ImageNet cells only match explicitly


def test_explicit_paper_cell_claims_any_cell():
    cell = _cell(table="model_zoo", metric="imagenet_top1", value="83.00")
    record = _record(protocol={"paper_cell": cell.cell_id}, metrics={"top1": 82.5}, primary_metric="top1")
    assert matches(cell, record) == 82.5
    assert matches(_cell(table="other", metric="imagenet_top1"), record) is None
    assert "83.00; ours 82.50 (n=1), Δ -0.50" in render(tables_of([cell], [record]), "md")


def test_missing_cells_show_the_command():
    cell = _cell()
    assert command_for(cell, "res") == ("ssld-eval transfer --backbone <ssld student of resnet50d: distill run dir> "
                                        "--task fine-tune --dataset flowers102 --results res")
    assert command_for(_cell(setting="baseline")).startswith("ssld-eval transfer --backbone resnet50d --pretrained")
    assert command_for(_cell(metric="imagenet_top1")).startswith("ssld-eval distill --config configs/distill/ssld/")
    assert "not trained" in command_for(_cell(setting="teacher", metric="imagenet_top1"))
    text = render(tables_of([cell, _cell(setting="baseline")]), "md")
    assert "97.41 \\[1\\]" in text and "\n1. `ssld-eval transfer" in text and "\n2. `ssld-eval transfer" in text


def test_unverified_values_are_marked():
    cells = [_cell(status="inferred"), _cell(setting="baseline", value="97.18")]
    md = render(tables_of(cells), "md")
    assert "97.41†" in md and "97.18 \\[" in md and "† not read in the source" in md
    assert "97.41$^\\dagger$" in render(tables_of(cells), "tex")
    assert "<sup" in render(tables_of(cells), "html")
    assert "†" not in render(tables_of([_cell()]), "md")


def test_latex_specials_are_escaped():
    assert tex_escape(HOSTILE_TEX) == (r"A\&B 50\% \$x\$ \#1 \_y \{z\} \textasciitilde{}w \textasciicircum{}v "
                                       r"\textbackslash{}u")
    tex = render(tables_of([_cell(model=HOSTILE_TEX, setting="s_1")]), "tex")
    row = next(line for line in tex.splitlines() if line.startswith("A"))
    assert row.startswith(tex_escape(HOSTILE_TEX) + r" & s\_1 & 97.41 [1] \\")
    assert HOSTILE_TEX not in tex


def test_html_and_markdown_escape_names():
    html = render(tables_of([_cell(model=HOSTILE_HTML)]), "html")
    assert HOSTILE_HTML not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render(tables_of([_cell(model="a|b <i>x</i>")]), "md")
    assert "| a\\|b \\<i\\>x\\</i\\> |" in md


def test_tables_never_import_torch():
    code = ("import sys\nfrom ssld_eval.cli import main\nimport io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['tables', '--paper', 'scalekd'])\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_shipped_csvs_match_the_shared_copies():
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "papers"  # ../shared beside the clone, as in CI
    if not shared.is_dir():
        pytest.skip(f"no {shared} on this machine")
    from importlib import resources

    for paper in PAPERS:
        shipped = (resources.files("ssld_eval") / "papers" / f"{paper}.csv").read_bytes()
        assert shipped == (shared / f"{paper}.csv").read_bytes()
