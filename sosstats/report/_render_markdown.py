"""The report as Markdown (figures linked as ``figures/<key>_<name>.png``)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sosstats.report._format import markdown_table
from sosstats.report._render_html import PUBLISHED_NONE, TITLE
from sosstats.report._report import SIMULATED_BANNER, Report, selected
from sosstats.report._section import Section

__all__ = ["render_markdown"]


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("sosstats.report", "templates"),
                              autoescape=False, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def _section(report: Report, key: str) -> dict[str, Any]:
    if key in report.failures:
        f = report.failures[key]
        return {"key": key, "title": report.title(key), "failed": True, "error": f.error,
                "message": f.message, "traceback": f.traceback.rstrip(), "simulated": False}
    s: Section = report.sections[key]
    cap = s.captions.get
    return {
        "key": key, "title": s.title, "failed": False, "simulated": s.simulated,
        "question": s.question.strip(), "method": s.method.strip(),
        "truth": None if s.truth is None else markdown_table(s.truth),
        "truth_caption": cap("truth", "The simulator's true values beside the estimates."),
        "published": None if s.published is None else markdown_table(s.published),
        "published_caption": cap("published", "The published 2017 figures beside ours."),
        "published_none": cap("published", PUBLISHED_NONE) if s.published is None else "",
        "tables": [(name, cap(name, ""), markdown_table(frame))
                   for name, frame in s.tables.items()],
        "figures": [(name, cap(name, name).replace("\n", " "), f"figures/{key}_{name}.png")
                    for name in s.figures],
        "naive": s.naive.strip(), "caveats": [c.strip() for c in s.caveats],
        "notes": [n.strip() for n in s.notes],
    }


def render_markdown(report: Report | Section, *, only: str | None = None) -> str:
    """Render a report (or one strand of it) as Markdown.

    Parameters
    ----------
    report : Report or Section
        What to render; a lone :class:`Section` renders on its own.
    only : str, optional
        Render only strand ``only`` (without the report's front matter).

    Returns
    -------
    str
        Markdown text: section text as written by the strands, tables as pipe tables with
        numbers formatted as in the HTML, figures linked as ``figures/<key>_<name>.png``
        (the files :meth:`Report.write` writes).
    """
    report, keys, only = selected(report, only)
    text = _environment().get_template("report.md.j2").render(
        title=report.title(only) if only else TITLE, front=only is None, report=report,
        started=report.started.strftime("%Y-%m-%d %H:%M UTC"), banner=SIMULATED_BANNER,
        sections=[_section(report, k) for k in keys])
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
