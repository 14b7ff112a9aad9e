"""What one strand of the evaluation hands to the report: the :class:`Section` it fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Section", "StrandFailure"]


@dataclass
class Section:
    """One strand of the evaluation, ready to render.

    Every strand function (``sosstats.report.strands.<key>.run``) returns one. The renderers
    (HTML, Markdown, CSV) read nothing else, so a user who builds a ``Section`` by hand can add
    their own analysis to a report.

    Parameters
    ----------
    key : str
        Short name, also the strand's name on the command line (``"neighbours"``, ``"change"``,
        ``"attrition"``, ``"multilevel"``, ``"vfm"``, ``"survey"``). File names derive from it.
    title : str
        Heading of the section.
    question : str
        The evaluation question the strand answers, in one or two sentences (Markdown).
    method : str
        The method and why it was chosen (Markdown paragraphs).
    tables : dict of str to DataFrame
        Named result tables, in display order; each is written as ``<key>_<name>.csv``. Names are
        short snake_case (``"headline"``, ``"by_year"``).
    figures : dict of str to matplotlib Figure
        Named figures, in display order; embedded in the HTML as PNG and written as
        ``<key>_<name>.png``.
    naive : str
        What the naive analysis would have said, and why it misleads (Markdown).
    caveats : list of str
        Caveats, one Markdown sentence or short paragraph each.
    simulated : bool
        True when the strand ran on :func:`sosstats.datasets.simulate_evaluation` data; the
        report then says so on the section and shows ``truth``.
    truth : DataFrame or None
        The simulator's true values beside the estimates (columns at least ``quantity``,
        ``truth``, ``estimate``), for simulated strands.
    published : DataFrame or None
        The published 2017 figures beside the recomputed ones (columns at least ``quantity``,
        ``published``, ``recomputed``), where the study published a figure.
    notes : list of str
        Warnings and notes the analysis raised (shown under the tables).
    captions : dict of str to str
        Optional caption per table or figure name.
    results : dict of str to Any
        The sosstats result objects behind the tables, for users of the Python API (not rendered).
    """

    key: str
    title: str
    question: str
    method: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    naive: str = ""
    caveats: list[str] = field(default_factory=list)
    simulated: bool = False
    truth: pd.DataFrame | None = None
    published: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class StrandFailure:
    """A strand that raised: its key, the exception's type and message, and the traceback."""

    key: str
    error: str
    message: str
    traceback: str
