"""The one-way data flow, checked on the source: ssld_core (the layer below both) imports neither package,
distill never imports ssld_eval, tasks never import distill, and the report, tables, records and sweep code
never import torch (not even transitively)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(folder: Path, forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(folder.rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name == forbidden or name.startswith(forbidden + ".")
    ]


def test_distill_never_imports_ssld_eval():
    assert offenders(ROOT / "distill", "ssld_eval") == []


@pytest.mark.parametrize("package", ["distill", "ssld_eval"])
def test_the_lower_layer_imports_neither_package(package):
    assert offenders(ROOT / "ssld_core", package) == []


def test_tasks_never_import_distill():
    assert offenders(ROOT / "ssld_eval" / "tasks", "distill") == []


@pytest.mark.parametrize("module", ["ssld_eval.records", "ssld_eval.records.experiment", "ssld_eval.report.cli",
                                    "ssld_eval.tables.cli", "ssld_eval.sweep.cli", "ssld_eval.cli",
                                    "ssld_eval.tasks.configs", "ssld_eval.data_identity", "ssld_core.atomic"])
def test_torch_free_modules_do_not_load_torch(module):
    code = f"import sys, importlib; importlib.import_module({module!r}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"{module} pulls in torch"
