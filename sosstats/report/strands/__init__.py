"""The strands of the evaluation, in the order the report runs them.

Each strand is a module here with ``KEY``, ``TITLE``, ``FRAMES`` (the user frames it accepts,
each with its required columns) and ``run(ctx: StrandContext) -> Section``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: strand key -> module under sosstats.report.strands, in report order
STRANDS = {
    "neighbours": "sosstats.report.strands.neighbours",
    "change": "sosstats.report.strands.change",
    "attrition": "sosstats.report.strands.attrition",
    "multilevel": "sosstats.report.strands.multilevel",
    "vfm": "sosstats.report.strands.vfm",
    "survey": "sosstats.report.strands.survey",
}

__all__ = ["STRANDS", "load_strand"]


def load_strand(key: str) -> ModuleType:
    """Import and return the module of strand ``key`` (as registered in :data:`STRANDS`).

    Raises
    ------
    KeyError
        ``key`` is not a registered strand.
    ImportError
        The strand's module could not be imported (the runner reports it as a failed strand).
    """
    return importlib.import_module(STRANDS[key])
