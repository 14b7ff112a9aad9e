"""The report as one self-contained HTML page (inline CSS, figures as base64 PNG, no scripts)."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from sosstats.report._format import MISSING, display_frame, markdown_inline, markdown_to_html
from sosstats.report._report import SIMULATED_BANNER, Report, selected
from sosstats.report._section import Section

__all__ = ["render_html"]

TITLE = "The Signs of Safety evaluation, reproduced"
#: shown where a strand has no published frame (a strand may say why in captions["published"])
PUBLISHED_NONE = "No published figure to set beside this strand's estimates."


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("sosstats.report", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def _md(text: str) -> Any:
    from markupsafe import Markup

    return Markup(markdown_to_html(text))


def _inline(text: str) -> Any:
    from markupsafe import Markup

    return Markup(markdown_inline(text))


def _table(frame: Any, caption: str = "", ident: str = "") -> dict[str, Any]:
    header, rows = display_frame(frame)
    numeric = [[_kind(c) if i or _kind(c) != "long" else "" for i, c in enumerate(row)]
               for row in rows]  # the first column names the row: never small print
    return {"header": header, "rows": [list(zip(r, n)) for r, n in zip(rows, numeric)],
            "caption": _inline(caption) if caption else "", "id": ident}


def _kind(text: str) -> str:
    """CSS class of a cell: ``num`` (right-aligned), ``long`` (small print) or none."""
    stripped = text.replace(",", "").replace("-", "").replace(".", "").replace("e", "")
    if text == MISSING or (text and stripped.replace("+", "").isdigit()):
        return "num"
    return "long" if len(text) > 60 else ""


def section_context(report: Report, key: str) -> dict[str, Any]:
    """Return what the template needs to draw strand ``key`` (ran or failed)."""
    if key in report.failures:
        f = report.failures[key]
        return {"key": key, "title": report.title(key), "failed": True, "error": f.error,
                "message": f.message, "traceback": f.traceback, "simulated": False,
                "elapsed": report.elapsed.get(key)}
    s: Section = report.sections[key]
    caption = s.captions.get
    return {
        "key": key, "title": s.title, "failed": False, "simulated": s.simulated,
        "elapsed": report.elapsed.get(key),
        "question": _md(s.question), "method": _md(s.method),
        "truth": None if s.truth is None else _table(
            s.truth, caption("truth", "The simulator's true values beside the estimates."),
            f"truth-{key}"),
        "published": None if s.published is None else _table(
            s.published, caption("published", "The published 2017 figures beside ours."),
            f"published-{key}"),
        "published_none": _inline(caption("published", PUBLISHED_NONE))
        if s.published is None else "",
        "tables": [(name, _table(frame, caption(name, ""), f"table-{key}-{name}"))
                   for name, frame in s.tables.items()],
        "figures": [{"name": name, "id": f"figure-{key}-{name}",
                     "caption": _inline(caption(name, "")), "alt": caption(name, name),
                     "src": "data:image/png;base64,"
                            + base64.b64encode(report.png(key, name)).decode("ascii")}
                    for name in s.figures],
        "naive": _md(s.naive) if s.naive else "",
        "caveats": [_inline(c) for c in s.caveats], "notes": [_inline(n) for n in s.notes],
    }


def _summary(report: Report, key: str) -> dict[str, Any]:
    if key in report.failures:
        f = report.failures[key]
        return {"key": key, "title": report.title(key), "status": "failed", "simulated": False,
                "text": _md(f"**Failed:** {f.error}: {f.message}")}
    s = report.sections[key]
    first = (s.question or "").strip().split("\n\n")[0]
    return {"key": key, "title": s.title, "simulated": s.simulated, "status": "ok",
            "text": _md(first)}


def render_html(report: Report | Section, *, only: str | None = None) -> str:
    """Render a report (or one strand of it) as a self-contained HTML page.

    Parameters
    ----------
    report : Report or Section
        What to render. A lone :class:`Section` renders as a page of its own.
    only : str, optional
        Render only strand ``only`` of ``report`` (its section, without the report's front
        matter): a page per strand.

    Returns
    -------
    str
        The HTML document: inline CSS, figures embedded as base64 PNG, no scripts.
    """
    report, keys, only = selected(report, only)
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=report.title(only) if only else TITLE, front=only is None, report=report,
        started=report.started.strftime("%Y-%m-%d %H:%M UTC"), banner=SIMULATED_BANNER,
        summaries=[_summary(report, k) for k in keys],
        sections=[section_context(report, k) for k in keys])
