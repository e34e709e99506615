"""Every command ``ssld-eval tables`` prints runs: parsed as the shell and ssld-eval's own parsers would, every
recipe file exists and validates with its ``--set`` values, every task, data set, zoo name, converter and
timm name is known. ``tables --plan`` writes a sweep spec that ``sweep --dry-run`` accepts with one job per
reproducible run. The built-in teachers' table shows a real record of each teacher."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tables_helpers import fake_released_files, printed_commands, segments

from ssld_eval.cli import main
from ssld_eval.tables.papers import PAPERS, TABLES, paper_cells
from ssld_eval.tables.plan import planned_runs, reproducible

PLACEHOLDER_ROOTS = ("IMAGENET", "COCO", "ADE20K", "DATA")


def _parser(module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    module.configure(parser)
    return parser


def _check_backbone(args: argparse.Namespace, builtin: Path) -> None:
    import timm

    from ssld_eval.converters import PADDLECLAS_ARCHS, SCALEKD_ARCHS, SIMREG_ARCHS
    from ssld_eval.zoo import entries

    converters = {"paddleclas": PADDLECLAS_ARCHS, "scalekd": SCALEKD_ARCHS, "simreg": SIMREG_ARCHS}
    if args.backbone.startswith("zoo:"):
        assert args.backbone.removeprefix("zoo:") in entries() and args.arch is None
    elif args.pretrained:
        assert args.backbone in timm.list_pretrained(), args.backbone
    elif args.backbone.startswith(str(builtin)):
        assert Path(args.backbone).relative_to(builtin).parts[0] == "teachers"
    elif args.arch is not None:
        source, _, name = args.arch.partition(":")
        assert name in converters[source], args.arch
        assert Path(args.backbone).suffix in (".pth", ".pdparams")
    else:
        assert args.backbone.startswith("work_dirs/"), args.backbone  # a distill run dir: checked by the caller


def _check_transfer(argv: list[str], work_dir: Path | None, builtin: Path) -> str:
    from ssld_eval.commands import transfer_cmd
    from ssld_eval.config import build_config, parse_set_args
    from ssld_eval.data_identity import DATA_FOLDERS, MM_DATASETS
    from ssld_eval.datasets import dataset_names
    from ssld_eval.mm.recipes import RECIPES
    from ssld_eval.tasks.configs import TASK_CONFIGS

    args = _parser(transfer_cmd).parse_args(argv)
    assert args.task in TASK_CONFIGS
    assert args.dataset in DATA_FOLDERS and (args.dataset in dataset_names() or args.dataset in MM_DATASETS)
    config = build_config(TASK_CONFIGS[args.task], parse_set_args(args.overrides))
    if args.task in RECIPES:
        assert config.recipe in RECIPES[args.task]
    assert args.data_root is not None and (str(args.data_root) in PLACEHOLDER_ROOTS or
                                           args.data_root == builtin / "imagenet")
    _check_backbone(args, builtin)
    if work_dir is not None:
        assert Path(args.backbone) == work_dir
    return args.task


def _check_distill(argv: list[str]) -> Path:
    from distill.recipe import load_recipe
    from ssld_eval.commands import distill_cmd

    args = _parser(distill_cmd).parse_args(argv)
    assert args.config.is_file() and args.config.parts[:2] == ("configs", "distill")
    recipe = load_recipe(args.config, args.overrides)  # the recipe and every --set validate
    assert recipe.data.root == "IMAGENET" and args.work_dir is not None
    return args.work_dir


@pytest.mark.parametrize("paper", TABLES)
def test_every_printed_command_runs(paper, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the recipes' paths are relative to the repository
    builtin = tmp_path / "builtin"
    assert main(["tables", "--paper", paper, "--builtin", str(builtin)]) == 0
    text = capsys.readouterr().out
    commands = printed_commands(text)
    runnable = [c for c in paper_cells(paper) if c.setting]  # every cell resolves to a command or a note
    assert commands and len(runnable) >= len(commands)
    for command in commands:
        assert "<" not in command and ">" not in command, command
        work_dir = None
        for argv in segments(command):
            assert argv[:1] == ["ssld-eval"], command
            if argv[1] == "distill":
                work_dir = _check_distill(argv[2:])
            else:
                assert argv[1] == "transfer", command
                _check_transfer(argv[2:], work_dir, builtin)


def test_the_hard_coded_names_are_the_converters_and_the_teachers():
    from ssld_eval.converters import PADDLECLAS_ARCHS
    from ssld_eval.data.teachers import TEACHERS
    from ssld_eval.tables.catalogue import BUILTIN_TEACHERS
    from ssld_eval.tables.cells import PADDLECLAS_CONVERTED

    assert PADDLECLAS_CONVERTED == PADDLECLAS_ARCHS
    assert sorted(BUILTIN_TEACHERS.values()) == sorted(t.arch for t in TEACHERS)


def _dry_run(plan: Path) -> list[tuple[str, str, str]]:
    """``ssld-eval sweep PLAN --dry-run``'s jobs as (display name, task, data set). A process of its own: the
    sweep runner binds ``sys.stdout`` when it is imported, which pytest's capture closes between tests."""
    argv = [sys.executable, "-m", "ssld_eval.cli", "sweep", str(plan), "--dry-run"]
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if line.startswith(("run ", "skip"))]
    return [(fields[2], fields[3], fields[4]) for fields in lines]


@pytest.mark.parametrize("paper", PAPERS)
def test_the_plan_is_a_sweep_with_one_job_per_reproducible_run(paper, tmp_path, monkeypatch, capsys):
    where, _ = fake_released_files(paper, tmp_path, monkeypatch)
    plan = tmp_path / f"{paper}.yaml"
    assert main(["tables", "--paper", paper, "--plan", str(plan), "--checkpoints", where.checkpoints,
                 "--results", where.results, "--data-root", str(tmp_path / "data")]) == 0
    spec = yaml.safe_load(plan.read_text())
    assert spec["seeds"] == [0] and spec["data_root"] == str(tmp_path / "data")
    runs = planned_runs(paper_cells(paper), where)
    expected = sorted((r.backbone["name"], r.task, r.dataset) for r in runs)
    jobs = _dry_run(plan)
    assert sorted(jobs) == expected and len(jobs) == len(set(jobs))
    cells = {c.cell_id for r in runs for c in r.cells}
    assert cells == {c.cell_id for c, _ in reproducible(paper_cells(paper))}  # every reproducible cell has its job
    assert {"ssld": 41, "scalekd": 38, "simreg": 10}[paper] == len(cells)  # cells
    assert {"ssld": 35, "scalekd": 17, "simreg": 10}[paper] == len(jobs)  # box and mask AP share a run, ...


def test_the_plan_needs_the_weights_files_at_load(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSLD_EVAL_ZOO", str(tmp_path / "empty-zoo"))
    plan = tmp_path / "simreg.yaml"
    assert main(["tables", "--paper", "simreg", "--plan", str(plan), "--checkpoints", str(tmp_path / "none")]) == 0
    err = capsys.readouterr().err
    assert "wrote" in err and "warning: " + str(tmp_path / "none" / "simreg") in err
    assert "# Missing on the machine that wrote this plan:" in plan.read_text()
    assert main(["sweep", str(plan), "--dry-run"]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def test_the_built_in_teachers_table_shows_their_records(builtin_tiny, tmp_path, capsys):
    from ssld_eval.tables.catalogue import BUILTIN_TEACHERS

    results = tmp_path / "results"
    plan = tmp_path / "builtin.yaml"
    assert main(["tables", "--paper", "builtin", "--plan", str(plan), "--builtin", str(builtin_tiny),
                 "--results", str(results)]) == 0
    assert yaml.safe_load(plan.read_text())["data_root"] == str(builtin_tiny / "imagenet")
    assert sorted(_dry_run(plan)) == [(arch, "imagenet", "imagenet") for arch in sorted(BUILTIN_TEACHERS.values())]
    for arch in BUILTIN_TEACHERS.values():
        assert main(["transfer", "--backbone", str(builtin_tiny / "teachers" / f"{arch}.safetensors"), "--task",
                     "imagenet", "--dataset", "imagenet", "--data-root", str(builtin_tiny / "imagenet"), "--results",
                     str(results), "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    assert main(["tables", "--paper", "builtin", "--results", str(results), "--builtin", str(builtin_tiny)]) == 0
    text = capsys.readouterr().out
    # Lite0 gets the espresso right, Lite2 the espresso and Grace Hopper's uniform (tests/tasks/test_imagenet.py)
    assert ("| EfficientNet-Lite0 | PyTorch port (built-in) | 75.1; ours 33.33 \\[0.00, 100.00\\] on 3 images, "
            "Δ -41.77, reproduced (in the 95% interval) |") in text
    assert "| EfficientNet-Lite2 | PyTorch port (built-in) | 77.6; ours 66.67 \\[0.00, 100.00\\] on 3 images" in text
    assert "Google's TensorFlow release" in text and "whose own ImageNet accuracy is not published" in text
    assert "Commands and notes" not in text  # both cells have their record
