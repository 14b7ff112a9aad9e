"""How vfm prints money: :func:`format_money` and :class:`FormattedSummary`.

Numbers are printed by :func:`sosstats._results.format_number`, the one number formatter of the
library (four significant digits, whole numbers in full from 10,000). Money has its own look on
top of those rules: two decimals below 1,000 (``39.85``, a unit cost per hour), and
``format_number``'s rules from 1,000 up (``4,091,234`` rather than ``4.091e+06``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import Summary, format_number

__all__ = ["FormattedSummary", "format_money"]


def format_money(x: Any) -> str:
    """Format money: two decimals below 1,000 (``39.85``), else :func:`format_number`."""
    x = float(x)
    if not np.isfinite(x) or abs(x) >= 999.995:
        return format_number(x)
    return f"{x + 0.0:,.2f}".replace("-0.00", "0.00")   # no "-0.00"


class FormattedSummary(Summary):
    """A :class:`~sosstats._results.Summary` that prints chosen columns with their own format.

    ``to_frame()`` still returns the numbers; only ``str()`` / ``_repr_html_`` format them.

    Parameters
    ----------
    title, table, notes
        As for :class:`~sosstats._results.Summary`.
    formats : mapping of column name to callable
        Each listed column is printed as ``formats[column](value)``.
    """

    def __init__(self, title: str, table: pd.DataFrame, notes: list[str] | None = None, *,
                 formats: dict[str, Callable[[Any], str]] | None = None) -> None:
        super().__init__(title, table, notes)
        self.formats = dict(formats or {})

    def _shown(self) -> Summary:
        shown = self.table.copy()
        for column, fmt in self.formats.items():
            if column in shown.columns:
                shown[column] = shown[column].map(fmt)
        return Summary(self.title, shown, self.notes)

    def __str__(self) -> str:
        return str(self._shown())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self._shown()._repr_html_()
