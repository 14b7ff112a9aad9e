"""The real ``sosstats reproduce --quick``: every strand, table and figure lands in the report.

Runs the six real strands once (the session fixture ``quick_report`` in conftest.py), so it is
marked slow: ``python3 -m pytest -m slow tests/report/test_report_quick.py``.
"""

from __future__ import annotations

import json
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest

from sosstats.report._format import format_cell
from sosstats.report._report import SIMULATED_BANNER
from sosstats.report.strands import STRANDS

pytestmark = pytest.mark.slow

#: strands (2)-(6) run on simulate_evaluation() data
SIMULATED = ["change", "attrition", "multilevel", "vfm", "survey"]


@pytest.fixture(scope="module")
def run(quick_report):
    folder = quick_report["folder"]
    assert folder.is_dir(), f"no report written:\n{quick_report['stderr'][-3000:]}"
    marker = json.loads((folder / ".sosstats-report").read_text())
    html = (folder / "report.html").read_text()
    md = (folder / "report.md").read_text()
    return {**quick_report, "marker": marker, "html": html, "md": md,
            "html_sections": dict(re.findall(
                r'<section[^>]*id="strand-(\w+)"[^>]*>(.*?)</section>', html, re.S)),
            "md_sections": dict(zip(*[iter(re.split(r'<a id="strand-(\w+)"></a>', md)[1:])]
                                    * 2))}


def test_quick_run_succeeds_within_three_minutes(run):
    assert run["returncode"] == 0, run["stderr"][-3000:]
    assert run["seconds"] < 180, f"--quick took {run['seconds']:.0f} s"
    assert f"Report written to {run['folder']}" in run["stdout"]


def test_every_strand_has_its_section(run):
    assert run["marker"]["strands"] == list(STRANDS) and run["marker"]["failed"] == []
    assert list(run["html_sections"]) == list(STRANDS)
    assert list(run["md_sections"]) == list(STRANDS)
    for key, section in run["html_sections"].items():
        assert "This strand failed" not in section, key
        for heading in ["Question", "Method, and why", "Figures",
                        "What the naive analysis would have said", "Caveats"]:
            assert f"<h3>{heading}</h3>" in section, (key, heading)


def test_every_table_is_in_the_html_markdown_and_csv(run):
    folder, tables = run["folder"], run["marker"]["tables"]
    assert sorted(p.stem for p in (folder / "tables").glob("*.csv")) == sorted(tables)
    for key in STRANDS:
        assert any(t.startswith(f"{key}_") for t in tables), f"strand {key} has no table"
    for name in tables:
        key, table = name.split("_", 1)
        if key not in STRANDS:  # a key with an underscore is not one of ours
            key, table = next((k, name[len(k) + 1:]) for k in STRANDS if name.startswith(k))
        ident = (f"{table}-{key}" if table in ("truth", "published")
                 else f"table-{key}-{table}")
        assert f'<table id="{ident}">' in run["html_sections"][key], name
        frame = pd.read_csv(folder / "tables" / f"{name}.csv")
        assert len(frame) > 0, name
        assert "| " + " | ".join(map(str, frame.columns[:1])) in run["md_sections"][key], name


def test_every_figure_is_embedded_linked_and_written(run):
    folder, figures = run["folder"], run["marker"]["figures"]
    assert sorted(p.stem for p in (folder / "figures").glob("*.png")) == sorted(figures)
    for key in STRANDS:
        assert any(f.startswith(f"{key}_") for f in figures), f"strand {key} has no figure"
    for name in figures:
        key = next(k for k in STRANDS if name.startswith(f"{k}_"))
        fig = name[len(key) + 1:]
        section = run["html_sections"][key]
        block = re.search(rf'<figure id="figure-{key}-{re.escape(fig)}">\s*<img src="data:'
                          r'image/png;base64,', section)
        assert block, name
        assert f"(figures/{name}.png)" in run["md_sections"][key], name
        assert (folder / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert len(re.findall(r'<img src="data:image/png;base64,', run["html"])) == len(figures)


def test_simulated_strands_carry_the_banner_and_the_truth(run):
    banner = SIMULATED_BANNER.replace("'", "&#39;")
    for key in SIMULATED:
        assert banner in run["html_sections"][key], key
        assert f'<table id="truth-{key}">' in run["html_sections"][key], key
        assert SIMULATED_BANNER in run["md_sections"][key], key
    assert banner not in run["html_sections"]["neighbours"]


def published_rows(html: str, key: str) -> tuple[list[str], list[list[str]]]:
    """Header and body rows (as text) of strand ``key``'s published-beside-ours table."""
    table = re.search(rf'<table id="published-{key}">(.*?)</table>', html, re.S)
    assert table, f"the {key} section has no published table"
    header = [unescape(h) for h in re.findall(r"<th>(.*?)</th>", table.group(1))]
    rows = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in re.findall(r"<tr>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S)]
    return header, rows


@pytest.mark.parametrize("key", ["neighbours", "any"])
def test_every_published_figure_sits_beside_its_recomputed_value(run, key):
    """Neighbours must have published figures; every other strand that has them is checked."""
    keys = [key] if key == "neighbours" else [
        k for k in STRANDS if k != "neighbours"
        and (run["folder"] / "tables" / f"{k}_published.csv").exists()]
    for k in keys:
        published = pd.read_csv(run["folder"] / "tables" / f"{k}_published.csv")
        header, rows = published_rows(run["html"], k)
        assert len(rows) == len(published) > 0, k
        col = {name: header.index(name) for name in ("quantity", "published", "recomputed")}
        for row, (_, want) in zip(rows, published.iterrows()):
            assert row[col["quantity"]] == format_cell(want["quantity"], "quantity"), k
            assert row[col["published"]] == format_cell(want["published"], "published"), k
            assert row[col["recomputed"]] == format_cell(want["recomputed"], "recomputed"), k
        assert np.isfinite(pd.to_numeric(published["published"], errors="coerce")).any(), k


def test_no_p_value_family_is_left_unadjusted_without_saying_so(run):
    """Every table with p-values has an adjusted column or says how they are (not) adjusted.

    The caption says it where the table has no adjusted column; several tables of p-values
    (event study, response tests, diary comparison, CEA increments, coefficients) said nothing.
    """
    said = re.compile(r"adjust|holm|benjamini|unadjusted", re.I)
    for key, text in run["md_sections"].items():
        for name, caption, header in re.findall(
                r"\n#### (\w+)\n\n(.*?)\n?\n?(\| [^\n]*\|)\n\|---", text, re.S):
            columns = [c.strip() for c in header.strip("|").split("|")]
            has_p = any(c.startswith("p_") or c.endswith("_p") or c == "p_value"
                        for c in columns)
            if not has_p:
                continue
            adjusted = any(said.search(c) or c.endswith(("_bh_all", "_holm"))
                           for c in columns)
            assert adjusted or said.search(caption), f"{key}.{name}: {caption!r}"
