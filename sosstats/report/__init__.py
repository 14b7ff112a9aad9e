"""The whole evaluation end to end: ``sosstats reproduce`` and its Python API.

:func:`reproduce` runs the strands (``sosstats.report.strands``) and returns a :class:`Report`;
:func:`render_html` and :func:`render_markdown` draw a report, or a single :class:`Section`
(for instance one you built yourself), as a page.
"""

from sosstats.report._context import StrandContext
from sosstats.report._render_html import render_html
from sosstats.report._render_markdown import render_markdown
from sosstats.report._report import Report
from sosstats.report._runner import reproduce
from sosstats.report._section import Section, StrandFailure

__all__ = ["Report", "Section", "StrandContext", "StrandFailure", "render_html",
           "render_markdown", "reproduce"]
