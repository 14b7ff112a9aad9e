"""The HTML report in headless Chromium: the first screen and a figure section are not blank.

The fast test renders a report of fake strands and writes its screenshots under the test's
temporary folder. The slow test takes them from a real ``sosstats reproduce --quick`` report
and writes them to docs/images/ for the README (``report_first_screen.png``,
``report_figure_section.png``). Without Chromium both skip, unless the environment variable CI
is set: then they fail.
"""

from __future__ import annotations

import os

import _report_shots as shots
import pytest

from sosstats.report import reproduce


@pytest.fixture
def browser():
    if shots.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed: install the Debian package "
                        "`chromium` (.ci/run does) to test the report in a browser")
        pytest.skip("chromium is not installed")


def assert_not_blank(png):
    std, non_white = shots.blankness(png)
    assert std > 0.05, f"{png.name}: pixel values hardly vary (std {std:.3f})"
    assert non_white > 0.03, f"{png.name}: only {non_white:.1%} of pixels are not white"


def test_blank_page_is_detected(browser, tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    std, non_white = shots.blankness(shots.screenshot(page, tmp_path / "blank.png"))
    assert std < 0.01 and non_white < 0.001


def test_report_screens_are_not_blank(browser, fake_strands, tmp_path):
    report = reproduce(tmp_path / "report", quiet=True)
    first = shots.screenshot(tmp_path / "report" / "report.html", tmp_path / "first.png")
    assert_not_blank(first)
    page = shots.figure_page(report, "beta", tmp_path / "figure.html")
    assert page.read_text().count("data:image/png;base64,") == 1
    assert_not_blank(shots.screenshot(page, tmp_path / "figure.png"))


@pytest.mark.slow
def test_readme_screenshots_from_the_real_quick_report(browser, quick_report, tmp_path):
    assert quick_report["returncode"] == 0, quick_report["stderr"][-3000:]
    first = quick_report["folder"] / "report.html"
    assert_not_blank(shots.screenshot(first, shots.FIRST_SCREEN))
    report = reproduce(strands=["change"], quick=True, quiet=True)
    assert report.ok and report.sections["change"].figures
    page = shots.figure_page(report, "change", tmp_path / "figure.html")
    assert_not_blank(shots.screenshot(page, shots.FIGURE_SECTION))
