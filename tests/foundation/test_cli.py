import json

import pytest

from ssld_eval import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "frobnicate" in capsys.readouterr().err


def test_every_command_module_has_the_contract():
    import importlib

    for name, (module, _) in cli.COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.configure), name
        assert callable(mod.run), name


@pytest.mark.mm
def test_doctor_json_reports_working_mmcv_ops(capsys):
    code = cli.main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    for key in ("torch", "timm", "mmcv", "mmdet", "mmseg", "mmcv_ops", "cuda"):
        assert key in report
    assert report["mmcv_ops"] is True, report["problems"]
    assert report["torch"].startswith("2.14.1")
    assert code == 0, report["problems"]


@pytest.mark.parametrize(("what", "expected"), [
    ("tasks", {"linear-probe", "knn", "fine-tune", "coco-det", "ade20k-seg"}),
    ("methods", {"ssld", "kd", "simreg", "scalekd", "supervised"}),
    ("datasets", {"imagefolder", "animals", "digits", "fashion", "cifar10", "voc2007"}),
])
def test_list_prints_each_registry(capsys, what, expected):
    assert cli.main(["list", what]) == 0
    assert expected <= set(capsys.readouterr().out.split())
