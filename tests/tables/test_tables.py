"""``ssld-eval tables``: published values, ours beside them with intervals and flags, matching by the weights'
identity, escaping, byte-identical output."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from tables_helpers import cell, fake_released_files, find_cell, record

from ssld_eval.cli import main
from ssld_eval.records import ResultStore
from ssld_eval.tables.catalogue import recipe_for
from ssld_eval.tables.cells import tolerance_of
from ssld_eval.tables.mapping import Where, command_for, match, matches
from ssld_eval.tables.papers import PAPERS, TABLES, paper_cells
from ssld_eval.tables.render import render, tables_of, tex_escape

HOSTILE_TEX = r"A&B 50% $x$ #1 _y {z} ~w ^v \u"
HOSTILE_HTML = "<script>alert(1)</script>"


def _imagenet(weights_id: str, top1: float, ci: tuple[float, float] | None = (82.6, 83.3), **changes):
    return record(task="imagenet", dataset="imagenet", arch="resnet50d", method="", teacher="",
                  weights_id=weights_id, metrics={"top1": top1, "top5": 96.0}, primary_metric="top1",
                  ci95={"top1": list(ci)} if ci else {}, outcomes={"samples": 50000}, config={}, **changes)


@pytest.mark.parametrize("paper", TABLES)
@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_every_paper_renders_every_published_value(paper, fmt, tmp_path):
    out = tmp_path / f"{paper}.{fmt}"
    assert main(["tables", "--paper", paper, "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for published in paper_cells(paper):
        assert published.value in text


def test_zoo_records_match_by_the_files_sha256_with_interval_and_flag(tmp_path, monkeypatch):
    where, shas = fake_released_files("ssld", tmp_path, monkeypatch)
    ssld = find_cell("ssld", table="model_zoo", model="ResNet50_vd", setting="ssld")  # 83.00
    base = find_cell("ssld", table="model_zoo", model="ResNet50_vd", setting="baseline")  # 79.10
    inside = _imagenet(shas["zoo:paddleclas/ResNet50_vd_ssld"], 82.95)
    found = match(ssld, inside, where)
    assert (found.value, found.interval, found.how, found.samples) == (82.95, (82.6, 83.3), "identity", 50000)
    # the same numbers under another identity (timm's resnet50d, a file with the same display name) never match
    assert match(ssld, dataclasses.replace(inside, weights_id="timm-pretrained:resnet50d"), where) is None
    assert match(ssld, dataclasses.replace(inside, weights_id="0" * 64, backbone="paddleclas/ResNet50_vd_ssld"),
                 where) is None
    assert match(base, inside, where) is None  # the baseline's file is another
    assert match(ssld, dataclasses.replace(inside, dataset="imagefolder"), where) is None
    within = _imagenet(shas["zoo:paddleclas/ResNet50_vd"], 78.95, ci=(78.97, 79.05))  # misses, but by 0.15
    far = _imagenet(shas["zoo:paddleclas/ResNet50_vd"], 78.80, ci=None)
    md = render(tables_of([ssld, base], [inside], where), "md")
    assert "83.00; ours 82.95 \\[82.60, 83.30\\] on 50000 images, Δ -0.05, reproduced (in the 95% interval)" in md
    md = render(tables_of([base], [within], where), "md")
    assert "79.10; ours 78.95 \\[78.97, 79.05\\] on 50000 images, Δ -0.15, reproduced (within 0.2 top-1)" in md
    md = render(tables_of([base], [far], where), "md")
    assert "79.10; ours 78.80 (no interval) on 50000 images, Δ -0.30, not reproduced" in md
    assert "Flags: 'reproduced (in the 95% interval)'" in md


def test_paper_level_tolerances_per_metric(tmp_path, monkeypatch):
    assert tolerance_of("imagenet_top1") == tolerance_of("flowers102_top1") == (0.2, "top-1")
    assert tolerance_of("coco_mask_ap_s") == (0.3, "AP") and tolerance_of("ade20k_miou") == (0.5, "mIoU")
    swin_box = find_cell("scalekd", table="table5", model="Swin-T", setting="baseline", metric="coco_box_ap")  # 42.7
    swin_ade = find_cell("scalekd", table="table6", model="Swin-T", setting="baseline")  # 44.41
    identity = "timm-pretrained:swin_tiny_patch4_window7_224.ms_in1k"
    coco = record(task="coco-det", dataset="coco", weights_id=identity, metrics={"box_AP": 42.45, "mask_AP": 39.0},
                  primary_metric="box_AP", config={"recipe": "mask-rcnn-1x"}, ci95={})
    ade = record(task="ade20k-seg", dataset="ade20k", weights_id=identity, metrics={"mIoU": 43.95},
                 primary_metric="mIoU", config={"recipe": "upernet-160k"}, ci95={})
    md = render(tables_of([swin_box, swin_ade], [coco, ade]), "md")
    assert "42.7; ours 42.45 (no interval), Δ -0.25, reproduced (within 0.3 AP)" in md
    assert "44.41; ours 43.95 (no interval), Δ -0.46, reproduced (within 0.5 mIoU)" in md
    other_recipe = dataclasses.replace(coco, config={"recipe": "moco-ms-1x"})
    assert matches(swin_box, other_recipe) is None  # the command's --set recipe=mask-rcnn-1x must hold


def test_a_student_trained_here_matches_by_method_until_its_work_dir_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mbv1 = find_cell("scalekd", table="table3", model="MobileNet-V1", setting="scalekd_swin-l")  # 75.15
    student = record(task="imagenet", dataset="imagenet", arch="mobilenetv1_100", method="scalekd",
                     teacher="swin_large_patch4_window7_224.ms_in22k_ft_in1k", weights_id="a" * 64,
                     metrics={"top1": 75.0}, primary_metric="top1", ci95={"top1": [74.6, 75.4]}, config={})
    found = match(mbv1, student)
    assert found is not None and found.how == "method"
    assert match(mbv1, dataclasses.replace(student, method="kd")) is None
    assert match(mbv1, dataclasses.replace(student, arch="mobilenetv2_100")) is None
    assert "reproduced (in the 95% interval); matched by method" in render(tables_of([mbv1], [student]), "md")
    # once the recipe's work dir is on this machine, only a record of its very file matches
    work_dir = tmp_path / recipe_for(mbv1).training.work_dir
    work_dir.mkdir(parents=True)
    (work_dir / "student.safetensors").write_bytes(b"a trained student")
    assert match(mbv1, student) is None
    ablation = find_cell("ssld", table="ablation_mv3l", setting="js_loss")  # a setting shared by six cells
    assert match(ablation, dataclasses.replace(student, arch="mobilenetv3_large_100", method="ssld")) is None


def test_regeneration_is_byte_identical(tmp_path, monkeypatch):
    where, shas = fake_released_files("ssld", tmp_path, monkeypatch)
    store = ResultStore(tmp_path / "results")
    store.write(_imagenet(shas["zoo:paddleclas/ResNet50_vd_ssld"], 82.95))
    for seed in range(3):
        store.write(record(task="fine-tune", dataset="flowers102", weights_id=shas["zoo:paddleclas/ResNet50_vd_ssld"],
                           seed=seed, metrics={"top1": 97.0 + seed / 10}, primary_metric="top1",
                           config={"stage_lr": [0.1, 0.1, 0.2, 0.2, 0.3]}))
    outputs = []
    for _ in range(2):  # two processes: nothing of one run (hash order, caches, time) reaches the bytes
        argv = [sys.executable, "-m", "ssld_eval.cli", "tables", "--paper", "ssld", "--results", str(store.root)]
        outputs.append(subprocess.run(argv, capture_output=True, check=True, env=dict(os.environ)).stdout)
    assert outputs[0] == outputs[1]
    assert b"ours 82.95 \\[82.60, 83.30\\] on 50000 images" in outputs[0]
    assert "ours 97.10 ± 0.10 (n=3)".encode() in outputs[0]
    records = list(ResultStore(store.root).scan().records)
    for fmt in ("tex", "html"):
        views = [tables_of(paper_cells("ssld"), reversed(records) if i else records, where) for i in range(2)]
        assert render(views[0], fmt) == render(views[1], fmt)  # nor does the records' order
    assert "reproduced (in the 95\\% interval)" in render(views[0], "tex")


def test_explicit_paper_cell_claims_any_cell():
    claimed = cell(table="model_zoo", metric="imagenet_top1", value="83.00")
    rec = record(protocol={"paper_cell": claimed.cell_id}, metrics={"top1": 82.5}, primary_metric="top1", ci95={})
    assert matches(claimed, rec) == 82.5
    assert matches(cell(table="other", metric="imagenet_top1"), rec) is None
    assert "83.00; ours 82.50 (no interval), Δ -0.50, not reproduced" in render(tables_of([claimed], [rec]), "md")


def test_cells_without_records_point_at_their_command_or_note():
    cells = [cell(), cell(setting="baseline", value="97.18"), cell(metric="cifar10_top1", value="97.94")]
    text = render(tables_of(cells), "md")
    assert "97.41 \\[1\\]" in text and "97.94 \\[2\\]" in text and "97.18 \\[3\\]" in text
    assert "\n1. `ssld-eval transfer --backbone zoo:paddleclas/ResNet50_vd_ssld --task fine-tune " in text
    assert command_for(cell(table="coco_det", model="Faster R-CNN R50-vd-FPN 1x", metric="coco_box_ap")) is None
    faster = render(tables_of([cell(table="coco_det", model="Faster R-CNN R50-vd-FPN 1x", metric="coco_box_ap")]), "md")
    assert "1. no coco-det recipe for Faster R-CNN R50-vd-FPN 1x" in faster
    assert "Data folders named in the commands:" in text and "- DATA: the folder holding the fine-tune" in text


def test_unverified_values_are_marked():
    cells = [cell(status="inferred"), cell(setting="baseline", value="97.18")]
    md = render(tables_of(cells), "md")
    assert "97.41†" in md and "97.18 \\[" in md and "† not read in the source" in md
    assert "97.41$^\\dagger$" in render(tables_of(cells), "tex")
    assert "<sup" in render(tables_of(cells), "html")
    assert "†" not in render(tables_of([cell()]), "md")


def test_latex_specials_are_escaped():
    assert tex_escape(HOSTILE_TEX) == (r"A\&B 50\% \$x\$ \#1 \_y \{z\} \textasciitilde{}w \textasciicircum{}v "
                                       r"\textbackslash{}u")
    tex = render(tables_of([cell(model=HOSTILE_TEX, setting="s_1")]), "tex")
    row = next(line for line in tex.splitlines() if line.startswith("A"))
    assert row.startswith(tex_escape(HOSTILE_TEX) + r" & s\_1 & 97.41 [1] \\")
    assert HOSTILE_TEX not in tex


def test_html_and_markdown_escape_names():
    html = render(tables_of([cell(model=HOSTILE_HTML)]), "html")
    assert HOSTILE_HTML not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render(tables_of([cell(model="a|b <i>x</i>")]), "md")
    assert "| a\\|b \\<i\\>x\\</i\\> |" in md


def test_tables_and_plans_never_import_torch(tmp_path):
    code = ("import sys\nfrom ssld_eval.cli import main\nimport io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    main(['tables', '--paper', 'scalekd'])\n"
            f"    main(['tables', '--paper', 'ssld', '--plan', {str(tmp_path / 'p.yaml')!r}])\n"
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


def test_where_names_the_machine_s_folders():
    weights = recipe_for(find_cell("simreg", model="ResNet-50", metric="imagenet_linear")).weights
    where = Where(results="res", checkpoints="/ckpt", builtin="/b")
    simreg = command_for(find_cell("simreg", model="ResNet-50", metric="imagenet_linear"), where)
    assert simreg == ("ssld-eval transfer --backbone /ckpt/simreg/resnet50_from_simclr_r50x4.pth "
                      "--arch simreg:resnet50 --name resnet50_from_simclr_r50x4 --task linear-probe --dataset imagenet "
                      "--data-root IMAGENET --results res")
    assert weights is not None and weights.kind == "file"
    teacher = command_for(find_cell("builtin", model="EfficientNet-Lite0"), where)
    assert teacher == ("ssld-eval transfer --backbone /b/teachers/tf_efficientnet_lite0.safetensors --task imagenet "
                       "--dataset imagenet --data-root /b/imagenet --results res")
