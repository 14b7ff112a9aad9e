"""Headless-Chromium screenshots of a report, and the check that a screenshot is not blank.

Used by test_report_screenshot.py, and by hand (``python3 tests/report/_report_shots.py``) to
refresh the README's screenshots from a real ``sosstats reproduce --quick`` report.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"
IMAGES = Path(__file__).parents[2] / "docs" / "images"
FIRST_SCREEN = IMAGES / "report_first_screen.png"
FIGURE_SECTION = IMAGES / "report_figure_section.png"


def chromium() -> str | None:
    """Path of the Chromium binary, or None."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1280, 900)) -> Path:
    """Open ``page`` in headless Chromium and save the first screen as ``png``."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium not found (Debian package `chromium`)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={size[0]},{size[1]}", page.absolute().as_uri()],
            capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return png


def blankness(png: Path) -> tuple[float, float]:
    """Return (SD of the pixel values, share of pixels that are not near-white)."""
    import matplotlib.image as mpimg

    image = mpimg.imread(png)[..., :3].astype(float)
    if image.max() > 1.0:
        image = image / 255.0
    non_white = float(np.mean(image.min(axis=-1) < 0.9))
    return float(image.std()), non_white


def figure_page(report, key: str, path: Path) -> Path:
    """Write strand ``key``'s page with its heading, banner and figures only (no text, tables).

    A fragment URL (``report.html#figure-...``) gives a blank headless screenshot, so the
    figure section is rendered as a page of its own (``render_html(report, only=key)``).
    """
    from sosstats.report import render_html

    slim = dataclasses.replace(report.sections[key], question="", method="", tables={},
                               truth=None, published=None, naive="", caveats=[], notes=[])
    slim_report = dataclasses.replace(report, sections={key: slim}, failures={}, order=[key],
                                      _png=dict(report._png))
    path.write_text(render_html(slim_report, only=key), encoding="utf-8")
    return path


def main() -> None:  # pragma: no cover (run by hand)
    """Refresh docs/images/report_*.png from a real ``--quick`` report (about 2 minutes)."""
    import sys

    from sosstats.report import reproduce

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sosstats-report"
        subprocess.run([sys.executable, "-m", "sosstats", "reproduce", "--quick", "--quiet",
                        "--output", str(folder)], check=False)
        screenshot(folder / "report.html", FIRST_SCREEN)
        report = reproduce(strands=["change"], quick=True, quiet=True)
        screenshot(figure_page(report, "change", Path(tmp) / "figure.html"),
                   FIGURE_SECTION)
    for png in (FIRST_SCREEN, FIGURE_SECTION):
        print(png, "std %.3f, non-white %.2f" % blankness(png))


if __name__ == "__main__":  # pragma: no cover
    main()
