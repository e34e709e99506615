"""Recipes: unknown keys and bad values name the key and file; every shipped recipe validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from distill_helpers import tiny_recipe, write_recipe

from distill.recipe import RecipeError, config_differences, config_hash, load_recipe, semantic_config
from distill.registry import method_names

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "distill"


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path, train={"stpes": 10})
    path = write_recipe(tmp_path / "typo.yaml", recipe)
    with pytest.raises(RecipeError, match=r"typo\.yaml: train: unknown key\(s\) stpes"):
        load_recipe(path)


def test_unknown_method_key_and_unknown_section(tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path, teacher={"arch": "x", "checkpoint": "y"}, method={"name": "kd", "temprature": 2})
    path = write_recipe(tmp_path / "m.yaml", recipe)
    with pytest.raises(RecipeError, match=r"m\.yaml: method: unknown key\(s\) \['temprature'\]"):
        load_recipe(path)
    path = write_recipe(tmp_path / "s.yaml", {**tiny_recipe(tmp_path), "optim": {}})
    with pytest.raises(RecipeError, match=r"s\.yaml: unknown key\(s\) optim"):
        load_recipe(path)


def test_set_overrides_are_typed_and_checked(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", tiny_recipe(tmp_path))
    recipe = load_recipe(path, ["train.lr=1e-3", "data.mean=[0.5,0.5,0.5]", "train.steps=7"])
    assert recipe.train.lr == pytest.approx(1e-3) and recipe.train.steps == 7
    assert recipe.data.mean == (0.5, 0.5, 0.5)
    with pytest.raises(RecipeError, match=r"train\.steps: 'many' is not an integer"):
        load_recipe(path, ["train.steps=many"])
    with pytest.raises(RecipeError, match=r"data: unknown key\(s\) imagesize"):
        load_recipe(path, ["data.imagesize=32"])
    with pytest.raises(RecipeError, match=r"method\.name: unknown distillation method 'nope'"):
        load_recipe(path, ["method.name=nope"])


def test_method_parameters_are_typed_like_every_other_key(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "kd.yaml", tiny_recipe(tmp_path, teacher={"arch": "x", "checkpoint": "y"},
                                                          method={"name": "kd"}))
    recipe = load_recipe(path, ["method.temperature=1e-3", "method.alpha=5e-1"])  # YAML reads both as strings
    assert (recipe.method_params.temperature, recipe.method_params.alpha) == (pytest.approx(1e-3), 0.5)
    assert isinstance(recipe.method_params.alpha, float)
    with pytest.raises(RecipeError, match=r"method\.temperature: 'warm' is not a number"):
        load_recipe(path, ["method.temperature=warm"])


def test_config_hash_ignores_runtime_keys_and_resume_diff_names_keys(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", tiny_recipe(tmp_path))
    base = load_recipe(path)
    assert config_hash(base) == config_hash(load_recipe(path, ["train.num_workers=2", "train.log_every=9"]))
    changed = load_recipe(path, ["train.lr=0.2", "data.image_size=24"])
    assert config_hash(changed) != config_hash(base)
    differences = config_differences(semantic_config(base), semantic_config(changed))
    assert [d.split(":")[0] for d in differences] == ["data.image_size", "train.lr"]


def test_cross_field_checks_name_the_key(tmp_path: Path) -> None:
    extra = tiny_recipe(tmp_path, data={"extra_unlabeled": "unlabeled"})
    with pytest.raises(RecipeError, match=r"data\.extra_unlabeled: method 'supervised' needs a label"):
        load_recipe(write_recipe(tmp_path / "a.yaml", extra))
    no_teacher = tiny_recipe(tmp_path, method="ssld")
    with pytest.raises(RecipeError, match="method 'ssld' needs a teacher"):
        load_recipe(write_recipe(tmp_path / "b.yaml", no_teacher))
    bad_loss = tiny_recipe(tmp_path, teacher={"checkpoint": "t"}, method={"name": "ssld", "loss": "l2"})
    with pytest.raises(RecipeError, match=r"c\.yaml: method: loss: 'l2' is not one of \['dml', 'js'\]"):
        load_recipe(write_recipe(tmp_path / "c.yaml", bad_loss))
    cache = tiny_recipe(tmp_path, cache={"enabled": True})
    with pytest.raises(RecipeError, match=r"cache\.enabled: method 'supervised' has no cacheable"):
        load_recipe(write_recipe(tmp_path / "d.yaml", cache))


def shipped_recipes() -> list[Path]:
    return sorted(CONFIGS.rglob("*.yaml"))


def test_configs_folder_has_recipes_for_each_of_our_methods() -> None:
    methods = {yaml.safe_load(p.read_text())["method"]["name"] for p in shipped_recipes()}
    assert {"supervised", "kd", "ssld"} <= methods


@pytest.mark.parametrize("path", shipped_recipes(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_shipped_recipe_validates(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.method in method_names()
    assert path.parent.name == recipe.method, f"{path}: recipes live in configs/distill/<method>/"


def test_cli_reports_recipe_errors_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ssld_eval.cli import main

    path = write_recipe(tmp_path / "typo.yaml", tiny_recipe(tmp_path, student={"arhc": "resnet18"}))
    assert main(["distill", "--config", str(path), "--work-dir", str(tmp_path / "w"), "--device", "cpu"]) == 2
    assert "typo.yaml: student: unknown key(s) arhc" in capsys.readouterr().err
    assert main(["distill", "--config", str(path), "--set", "nokey"]) == 2
    assert "--set 'nokey': expected key.sub=value" in capsys.readouterr().err
