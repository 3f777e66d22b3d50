"""Save a full-page screenshot of a `tamis report` page, rendered in headless Chromium.

    python samples/screenshot_report.py out/web-en/report.html docs/img/report.png --width 1200 \
        --max-height 4000

Uses Debian's chromium (`apt-get install chromium`), not a browser downloaded by playwright.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright


def chromium() -> str:
    """The system Chromium's path; one line saying how to install it when missing."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if not found:
        raise SystemExit("no chromium found: sudo apt-get install chromium")
    return found


def screenshot(report: Path, png: Path, width: int = 1200, max_height: int = 0) -> list[str]:
    """Render `report` and write a PNG of the page (its top `max_height` pixels when
    given) to `png`; returns the page's errors."""
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "[...document.querySelectorAll('.plotly-graph-div')]"
            ".every(d => d.querySelector('.main-svg'))",
            timeout=30_000,
        )
        png.parent.mkdir(parents=True, exist_ok=True)
        height = page.evaluate("document.body.scrollHeight")
        if max_height:
            height = min(height, max_height)
        clip = {"x": 0, "y": 0, "width": width, "height": height}
        page.screenshot(path=str(png), full_page=True, clip=clip)
        browser.close()
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the report's HTML file")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1200, help="viewport width in pixels")
    parser.add_argument(
        "--max-height", type=int, default=0, help="keep the top N pixels only (0: whole page)"
    )
    args = parser.parse_args()
    errors = screenshot(args.report, args.png, args.width, args.max_height)
    for error in errors:
        print(f"page error: {error}")
    print(f"{args.png} ({args.png.stat().st_size:,} bytes)")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
