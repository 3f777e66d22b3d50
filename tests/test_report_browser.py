"""The report of a real run, rendered in headless Chromium (Debian's, not a downloaded one):
no console errors, every plot drawn."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from pipeline.view.report import write_report

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium to render the report: sudo apt-get install chromium (make setup "
        "installs it when run as root)",
    ),
]


def test_report_renders_every_plot_without_errors(tmp_path: Path, samples: Path) -> None:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    inp = tmp_path / "in"
    inp.mkdir()
    for shard in sorted(samples.glob("*.parquet")):
        pq.write_table(pq.read_table(shard).slice(0, 100), inp / shard.name)
    spec = {
        "name": "browser",
        "input": {"path": str(inp), "format": "parquet", "text_column": "text"},
        "output": {"path": str(tmp_path / "out")},
        "steps": [{"exact_dedup": {}}, {"gopher_quality": {"stats": True}}, {"c4": {}}],
    }
    run_recipe(parse_recipe(spec), "local", progress=False)
    report = Path(str(write_report(tmp_path / "out")))
    figures = len(re.findall(r'class="plotly-graph-div"', report.read_text()))
    assert figures >= 5

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_function(
            "[...document.querySelectorAll('.plotly-graph-div')]"
            ".every(d => d.querySelector('.main-svg'))",
            timeout=30_000,
        )
        drawn = page.evaluate(
            """[...document.querySelectorAll('.plotly-graph-div')].map(d => ({
                id: d.id,
                svg: d.querySelectorAll('.main-svg').length,
                traces: d.querySelectorAll('.trace').length,
                bars: d.querySelectorAll('.point path').length,
            }))"""
        )
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert len(drawn) == figures
    for plot in drawn:
        assert plot["svg"] > 0 and plot["traces"] > 0 and plot["bars"] > 0, plot
    assert shot.stat().st_size > 50_000
