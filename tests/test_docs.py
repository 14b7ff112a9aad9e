"""Every ``python`` code block of docs/*.md runs verbatim, in order, as a reader would run them.

The blocks of one page share one namespace (a page is one session: block 2 may use a name block 0
made, and the page says so); pages do not share names. Pages whose examples sample a Bayesian
model are marked slow. Figures go to a temporary directory.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).parents[1] / "docs").glob("*.md"))
SLOW_PAGES = {"multilevel"}


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)


PAGES = [p for p in DOCS if python_blocks(p)]


def test_docs_have_code():
    assert len(PAGES) >= 6, [p.name for p in PAGES]


@pytest.mark.parametrize(
    "page", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW_PAGES else [])
             for p in PAGES])
def test_doc_blocks_run_in_order(page: Path, monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    for i, block in enumerate(python_blocks(page)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
            except Exception as exc:  # name the block that failed
                raise AssertionError(f"{page.name} block {i} failed: {exc!r}\n{block}") from exc
