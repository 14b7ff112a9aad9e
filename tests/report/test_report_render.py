"""Rendering a Report: self-contained HTML, Markdown, number formatting, failed strands."""

from __future__ import annotations

import base64
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError
from sosstats.report import Report, Section, render_html, render_markdown, reproduce
from sosstats.report._format import format_cell, markdown_table
from sosstats.report._report import SIMULATED_BANNER


@pytest.fixture
def report(fake_strands):
    return reproduce(seed=4, quick=True, quiet=True)


def html_sections(html: str) -> dict[str, str]:
    """Each strand's <section> of the page, by key."""
    return dict(re.findall(r'<section[^>]*id="strand-(\w+)"[^>]*>(.*?)</section>', html, re.S))


def md_sections(md: str) -> dict[str, str]:
    parts = re.split(r'<a id="strand-(\w+)"></a>', md)
    return dict(zip(parts[1::2], parts[2::2]))


def table_rows(html: str, ident: str) -> list[list[str]]:
    """Text of each body row of the table with id ``ident``."""
    table = re.search(rf'<table id="{ident}">(.*?)</table>', html, re.S)
    assert table, f"no table {ident}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S).group(1)
    return [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_html_is_self_contained(report):
    html = report.to_html()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "<script" not in html.replace("&lt;script&gt;", "")  # no scripts
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    assert "<link" not in html
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(report.figures) == 2
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)


def test_html_front_matter(report):
    html = report.to_html()
    assert "<h1>The Signs of Safety evaluation, reproduced</h1>" in html
    assert f"<b>sosstats</b> {report.version}" in html and "<b>seed</b> 4" in html
    assert "quick" in html and report.started.strftime("%Y-%m-%d") in html
    contents = table_rows(html, "contents-table")
    assert [r[1] for r in contents] == [f'<a href="#strand-{k}">{report.title(k)}</a>'
                                        for k in report.keys]
    assert all(re.fullmatch(r"\d+\.\d s", r[4]) for r in contents)
    assert set(html_sections(html)) == {"alpha", "beta", "gamma"}
    assert 'id="summary"' in html and "How much change?" in html


def test_every_part_of_a_section_is_rendered(report):
    alpha = html_sections(report.to_html())["alpha"]
    for heading in ["Question", "Method, and why", "Published figures beside ours", "Tables",
                    "Figures", "What the naive analysis would have said", "Caveats", "Notes"]:
        assert f"<h3>{heading}</h3>" in alpha, heading
    assert "<em>neighbours</em>" in alpha  # Markdown rendered
    assert "&lt;script&gt;x&lt;/script&gt;" in alpha  # raw HTML in strand text is escaped
    assert "<p>Second paragraph with <code>code</code>.</p>" in alpha
    assert "<strong>17.2</strong>" in alpha
    assert "Pilots and neighbours, 2015/16." in alpha  # figure caption
    assert "The headline table." in alpha  # table caption
    assert "only 10 pilots: few clusters" in alpha  # captured warning as a note
    assert 'id="table-alpha-headline"' in alpha and 'id="figure-alpha-bars"' in alpha


def test_published_figures_sit_beside_the_recomputed_ones(report):
    rows = table_rows(report.to_html(), "published-alpha")
    published = report.sections["alpha"].published
    assert len(rows) == len(published)
    for row, (_, want) in zip(rows, published.iterrows()):
        assert row[:3] == [want["quantity"], format_cell(want["published"]),
                           format_cell(want["recomputed"])]


def test_simulated_sections_carry_the_banner_and_the_truth(report):
    sections = html_sections(report.to_html())
    assert SIMULATED_BANNER.replace("'", "&#39;") in sections["beta"]
    assert "Estimates beside the simulator's truth" in sections["beta"]
    truth = table_rows(report.to_html(), "truth-beta")
    assert truth[0][0] == "mean change" and truth[0][1] == "0.3" and truth[0][-1] == "yes"
    assert "banner" not in sections["alpha"]  # the real-data strand is not simulated


def test_a_failed_strand_says_so_and_why(report):
    gamma = html_sections(report.to_html())["gamma"]
    assert "This strand failed" in gamma and "RuntimeError: gamma broke on purpose" in gamma
    assert "<details><summary>Traceback</summary><pre>Traceback" in gamma
    md = md_sections(report.to_markdown())["gamma"]
    assert "This strand failed" in md and "```text\nTraceback" in md


def test_numbers_are_formatted_readably(report):
    rows = table_rows(report.to_html(), "table-alpha-headline")
    assert rows[0] == ["icpc", "2016", "12,345", "17.2"]
    assert rows[1] == ["cla", "2016", "678", "-0.004321"]
    by_group = table_rows(report.to_html(), "table-beta-by_group")
    assert by_group[1][0] == "experienced"  # a named index becomes a column


@pytest.mark.parametrize("value, column, text", [
    (12345, "children", "12,345"), (2016, "year", "2016"), (2016.0, "year", "2016"),
    (1234567.0, "cost", "1,234,567"), (0.000123456, "p", "0.0001235"), (np.nan, "x", "\u2013"),
    (None, "x", "\u2013"), (pd.NA, "x", "\u2013"), (True, "covered", "yes"),
    (np.int64(7), "n", "7"), ("E09000001", "x", "E09000001"),
    (np.float64(1.5), "x", "1.5"), (np.inf, "x", "inf")])
def test_format_cell(value, column, text):
    assert format_cell(value, column) == text


def test_long_text_cells_are_small_print_but_not_the_row_names():
    long = "x" * 70
    page = render_html(Section(key="k", title="T", question="Q", method="M", tables={
        "t": pd.DataFrame({"quantity": [long], "value": [1.5], "source": [long]})}))
    row = re.search(r'<table id="table-k-t">.*?<tbody>\s*<tr>(.*?)</tr>', page, re.S).group(1)
    assert row == f'<td>{long}</td><td class="num">1.5</td><td class="long">{long}</td>'


def test_markdown_pipe_table_escapes_pipes():
    table = markdown_table(pd.DataFrame({"a|b": ["x|y", "z\nw"], "n": [1500.0, 2.5]}))
    assert table.splitlines() == ["| a\\|b | n |", "|---|---|", "| x\\|y | 1,500 |",
                                  "| z w | 2.5 |"]


def test_markdown_report(report):
    md = report.to_markdown()
    assert md.startswith("# The Signs of Safety evaluation, reproduced\n")
    assert "seed 4" in md and "quick" in md
    sections = md_sections(md)
    assert list(sections) == ["alpha", "beta", "gamma"]
    assert f"> **{SIMULATED_BANNER}**" in sections["beta"]
    assert SIMULATED_BANNER not in sections["alpha"]
    assert "![Pilots and neighbours, 2015/16.](figures/alpha_bars.png)" in sections["alpha"]
    assert "(figures/beta_trace.png)" in sections["beta"]
    assert "| icpc | 2016 | 12,345 | 17.2 |" in sections["alpha"]
    assert "| icpc pilots | 61 | 61.2 | T4 |" in sections["alpha"]
    assert "| mean change | 0.3 |" in sections["beta"]
    assert "- Rates \\| not counts." not in md and "- Rates | not counts." in md
    assert "[Alpha: pilots against neighbours](#strand-alpha)" in md
    assert "\n\n\n" not in md and md.endswith("\n")


def test_one_strand_renders_as_a_page_of_its_own(report):
    page = render_html(report, only="beta")
    assert list(html_sections(page)) == ["beta"] and "Contents" not in page
    assert "<title>Beta: change T1 to T2</title>" in page
    assert list(md_sections(render_markdown(report, only="beta"))) == ["beta"]
    with pytest.raises(DataError, match="no strand 'delta'"):
        render_html(report, only="delta")


def test_a_lone_section_renders(report):
    section = report.sections["beta"]
    page = render_html(section)
    assert list(html_sections(page)) == ["beta"]
    assert "<b>seed</b>" not in page and "run time" not in page  # no run behind it
    assert "seed" not in render_markdown(section).splitlines()[2]
    assert "figures/beta_trace.png" in render_markdown(section)


def test_axes_are_accepted_as_figures():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    section = Section(key="k", title="T", question="Q", method="M", figures={"ax": ax})
    assert "data:image/png;base64," in Report(sections={"k": section}).to_html()
    plt.close(fig)


def test_a_section_without_published_figures_says_so():
    # The issue asks for the published figures beside ours in every section; a strand without
    # any (the multilevel model) had no such heading at all, silently.
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    plain = Section(key="k", title="T", question="Q", method="M", figures={"f": ax})
    why = Section(key="w", title="W", question="Q", method="M", figures={"f": ax},
                  captions={"published": "None: the study fitted no such model."})
    report = Report(sections={"k": plain, "w": why})
    for page in (report.to_html(), render_markdown(report)):
        assert page.count("Published figures beside ours") == 2
        assert "No published figure to set beside this strand's estimates." in page
        assert "None: the study fitted no such model." in page
    plt.close(fig)
