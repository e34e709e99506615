"""ssld_eval.stats is torch-free: it must load (and stay importable) where only numpy and scipy are."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "pycocotools", "mmseg", "mmengine", "mmdet", "mmcv")


def test_importing_stats_loads_no_torch():
    code = ("import sys, ssld_eval.stats; "
            f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]", f"ssld_eval.stats pulls in {out.strip()}"


def test_stats_sources_import_only_numpy_scipy_and_themselves():
    allowed = {"numpy", "scipy", "ssld_eval", "__future__", "collections", "dataclasses", "typing"}
    found = {}
    for path in sorted((ROOT / "ssld_eval" / "stats").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                if name.split(".")[0] not in allowed:
                    found.setdefault(path.name, []).append(name)
    assert found == {}
