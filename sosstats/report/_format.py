"""Cells, tables, text and figures as the renderers show them (shared by HTML and Markdown)."""

from __future__ import annotations

import io
import numbers
import re
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import format_number

__all__ = ["MISSING", "format_cell", "display_frame", "markdown_table", "markdown_to_html",
           "markdown_inline", "figure_png", "as_figure"]

#: how a missing value (NaN, None, NA) is shown
MISSING = "\u2013"

#: columns whose whole numbers are labels (years, codes), printed without thousands separators
_LABEL_COLUMN = re.compile(r"year|code|id$|^id|wave|cohort", re.I)


def format_cell(value: Any, column: Any = "") -> str:
    """One table entry as text: numbers via :func:`format_number`, years and codes plainly.

    Missing values show as an en dash; booleans as yes/no.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA \
            or value is pd.NaT:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        if _LABEL_COLUMN.search(str(column)):
            return str(int(value))
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if not np.isfinite(v):
            return str(v)
        if _LABEL_COLUMN.search(str(column)) and v.is_integer():
            return str(int(v))
        return format_number(v)
    return str(value)


def display_frame(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows of ``frame`` as text; a non-default index becomes the first columns."""
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    header = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    rows = [[format_cell(v, c) for v, c in zip(row, frame.columns)]
            for row in frame.itertuples(index=False, name=None)]
    return header, rows


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown pipe table (numbers formatted as in the HTML report)."""
    header, rows = display_frame(frame)

    def clean(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(text: str) -> str:
    """Render Section text (Markdown) to HTML with markdown-it-py; raw HTML is escaped."""
    return _markdown_it().render(text or "")


def markdown_inline(text: str) -> str:
    """Render one line of Section text (a caveat, a note, a caption) without a paragraph."""
    if "\n\n" in (text or ""):
        return markdown_to_html(text)
    return _markdown_it().renderInline(text or "")


def as_figure(obj: Any) -> Any:
    """Return a matplotlib Figure from a Figure, an Axes (its figure) or an array of Axes."""
    if hasattr(obj, "savefig"):
        return obj
    if hasattr(obj, "figure") and hasattr(obj.figure, "savefig"):
        return obj.figure
    flat = np.ravel(obj) if isinstance(obj, (list, tuple, np.ndarray)) else []
    if len(flat) and hasattr(flat[0], "figure"):
        return flat[0].figure
    raise TypeError(f"a figure must be a matplotlib Figure or Axes; got {type(obj).__name__}")


def figure_png(obj: Any, dpi: int = 110) -> bytes:
    """Return the figure as PNG bytes."""
    buffer = io.BytesIO()
    as_figure(obj).savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()
