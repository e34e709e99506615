"""Exit codes, the same for every command: 0 done, 1 a run failed (or a bug, with its traceback), 2 bad input."""

from __future__ import annotations

import argparse

import pytest
import timm

from distill.checkpoint import NonFiniteError
from ssld_eval import cli
from ssld_eval.commands import distill_cmd


def distill_args(config: str = "r.yaml") -> argparse.Namespace:
    return argparse.Namespace(config=config, work_dir=None, overrides=[], device="cpu", resume=False,
                              on_bad_image=None, no_progress=True, data_root=None)


def test_distill_a_diverged_run_is_1(monkeypatch, capsys):
    import distill

    def run_recipe(*_args, **_kwargs):
        raise NonFiniteError("loss is NaN at step 3")

    monkeypatch.setattr(distill, "run_recipe", run_recipe)
    assert distill_cmd.run(distill_args()) == 1
    assert "failed: loss is NaN at step 3" in capsys.readouterr().err


def test_distill_a_bad_recipe_is_2(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("trian: {steps: 3}\n")
    assert distill_cmd.run(distill_args(str(recipe))) == 2
    assert "trian" in capsys.readouterr().err


def test_a_bug_inside_a_library_keeps_its_traceback(monkeypatch, tmp_path):
    """A ValueError raised by timm (here: by a stand-in defined outside ssld-eval's packages) is not the user's
    input: it propagates (Python prints the traceback, exit 1) instead of becoming "error: ..." and exit 2."""
    def broken(*_args, **_kwargs):
        raise ValueError("size mismatch in timm internals")

    monkeypatch.setattr(timm, "create_model", broken)
    with pytest.raises(ValueError, match="timm internals"):
        cli.main(["transfer", "--backbone", "resnet18", "--task", "knn", "--dataset", "imagefolder",
                  "--data-root", str(tmp_path), "--results", str(tmp_path / "r")])


def test_bad_input_is_2(tmp_path, capsys):
    assert cli.main(["transfer", "--backbone", "resnet18", "--task", "knn", "--dataset", "imagefolder",
                     "--data-root", str(tmp_path), "--set", "temprature=1"]) == 2
    assert "temprature" in capsys.readouterr().err
