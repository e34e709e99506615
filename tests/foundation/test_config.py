from dataclasses import dataclass

import pytest

from ssld_eval.config import ConfigError, build_config, parse_set_args


@dataclass(frozen=True)
class Recipe:
    lr: float = 0.1
    steps: int = 100
    name: str = "x"
    stage_lr: tuple[float, ...] = (1.0,)
    limit: int | None = None
    flag: bool = False


def test_overrides_are_parsed_and_typed():
    cfg = build_config(Recipe, parse_set_args(["lr=1e-3", "steps=5", "stage_lr=[0.1,0.2]", "limit=3", "flag=true"]))
    assert cfg == Recipe(lr=1e-3, steps=5, stage_lr=(0.1, 0.2), limit=3, flag=True)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["lrr=1"], "unknown key(s) ['lrr']"),
        (["steps=1.5"], "--set steps: 1.5 is not an integer"),
        (["lr=fast"], "--set lr: 'fast' is not a number"),
        (["flag=3"], "--set flag: 3 is not true/false"),
        (["steps"], "expected key=value"),
    ],
)
def test_bad_overrides_name_the_key(items, message):
    with pytest.raises(ConfigError) as exc:
        build_config(Recipe, parse_set_args(items))
    assert message in str(exc.value)


def test_repeated_key_is_an_error():
    with pytest.raises(ConfigError, match="given twice"):
        parse_set_args(["lr=1", "lr=2"])
