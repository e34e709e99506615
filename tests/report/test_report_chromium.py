"""Render the report in headless Chromium: the page draws (a non-blank screenshot), logs no console error,
and its DOM holds the tables with the hostile backbone name as text. Needs the Debian package ``chromium``."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from ssld_eval.records import ResultStore
from ssld_eval.records.synthetic import synthetic_records
from ssld_eval.report.render import write_report

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)"),
    pytest.mark.slow,
]
HOSTILE = "<script>alert(1)</script>"


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
               "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("chromium")
    store = ResultStore(root / "results")
    for record in synthetic_records(backbones=4, tasks=3, datasets=8, seeds=3, failed_every=11):
        name = HOSTILE if record.backbone == "ssld-r18" else record.backbone
        store.write(dataclasses.replace(record, backbone=name))
    out = root / "report" / "index.html"
    write_report(store.root, out)
    return root, out


def test_screenshot_is_not_blank_and_console_is_clean(report):
    from PIL import Image, ImageStat

    root, out = report
    png = root / "shot.png"
    done = _chromium(root, f"--screenshot={png}", "--window-size=1200,2000", "--hide-scrollbars",
                     out.as_uri())
    assert png.is_file(), done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line]
    assert not console, console
    image = Image.open(png).convert("L")
    assert image.size == (1200, 2000)
    stat = ImageStat.Stat(image)
    assert stat.var[0] > 100, "the screenshot is (almost) a single colour"
    assert image.getextrema()[0] < 80  # some dark text was drawn


def test_dom_has_tables_and_escaped_names(report):
    root, out = report
    dom = _chromium(root, "--dump-dom", out.as_uri()).stdout
    assert dom.count("<table") >= 4  # three tasks + provenance (+ failed runs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom.lower()
    assert dom.count("<svg") == 2  # the three tasks (8 data sets each) share one panel figure, + scatter
