"""Turn a long or wide indicator table into an LA x indicator matrix, keeping missing cells missing.

Long form: one row per LA x indicator (x year), columns ``id``, ``indicator``, ``value`` and
optionally ``year`` and ``flag`` -- the shape of :func:`sosstats.datasets.load_la_indicators`.
Wide form: one row per LA, one numeric column per indicator. Values are read by
:mod:`sosstats.neighbours._panel` (shared with the over-time estimators): empty, flagged and
suppressed cells (a DfE marker such as ``c`` or ``..`` in the value column) become NaN and are
recorded with their flag -- never read as zero -- and any other non-numeric value is a
DataError naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import as_list, check_columns, check_frame
from sosstats.errors import DataError, DesignError
from sosstats.neighbours._panel import check_one_row, is_long, read_long, read_wide, wide_columns

__all__ = ["IndicatorMatrix", "indicator_matrix"]


@dataclass(frozen=True, eq=False)
class IndicatorMatrix:
    """Indicator values of each LA.

    Attributes
    ----------
    ids : numpy.ndarray
        LA codes (strings), shape ``(n,)``.
    names : list of str
        Indicator names, length ``p``.
    values : numpy.ndarray
        ``(n, p)`` floats, NaN where the cell is missing.
    flags : numpy.ndarray
        ``(n, p)`` objects: the publication flag of a missing cell (``None`` if it had none, or
        for observed cells).
    reasons : numpy.ndarray
        ``(n, p)`` objects: why a cell is missing (``"suppressed"``: it has a flag or a
        suppression marker; ``"missing value"``, ``"no row"``, ``"non-finite value"``);
        ``None`` when observed.
    """

    ids: np.ndarray
    names: list[str]
    values: np.ndarray
    flags: np.ndarray
    reasons: np.ndarray

    def aligned(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values, flags and reasons re-indexed to ``codes`` (absent LAs: NaN, ``"no row"``)."""
        pos = pd.Index(self.ids).get_indexer(np.asarray(codes).astype(str))
        have = pos >= 0
        p = len(self.names)
        vals = np.full((len(codes), p), np.nan)
        flags = np.full((len(codes), p), None, dtype=object)
        reasons = np.full((len(codes), p), "no row", dtype=object)
        vals[have] = self.values[pos[have]]
        flags[have] = self.flags[pos[have]]
        reasons[have] = self.reasons[pos[have]]
        return vals, flags, reasons


def _filter_year(data: pd.DataFrame, year: Any) -> pd.DataFrame:
    """Keep one year; several years without ``year=`` is a DesignError."""
    if year is None:
        if "year" in data.columns:
            years = pd.unique(data["year"].dropna())
            if len(years) > 1:
                shown = ", ".join(map(str, sorted(years, key=str)[:8]))
                raise DesignError(f"`indicators` has several years in column 'year' ({shown}"
                                  f"{' ...' if len(years) > 8 else ''}); pass year= to pick "
                                  "one.")
        return data
    if "year" not in data.columns:
        raise DataError(f"year={year!r} given but `indicators` has no 'year' column.")
    keep = data["year"].astype(str).to_numpy() == str(year)
    if not keep.any():
        shown = ", ".join(map(str, sorted(pd.unique(data["year"].dropna()), key=str)[:8]))
        raise DataError(f"year {year!r} not found in column 'year' of `indicators` "
                        f"(years present: {shown}).")
    return data.loc[keep]


def _from_long(data: pd.DataFrame, id: str, indicator: list[str] | None) -> IndicatorMatrix:
    cells = read_long(data, id, indicator)
    names = list(pd.unique(cells.labels)) if indicator is None else list(indicator)
    sub_ids = cells.ids[cells.keep]
    check_one_row(pd.DataFrame({"la": sub_ids, "ind": cells.labels}), "LA and indicator",
                  "; filter to one year (year=) or one breakdown first")
    numeric = np.where(np.isinf(cells.values), np.nan, cells.values)
    la_codes = np.asarray(pd.unique(cells.ids), dtype=object)
    r = pd.Index(la_codes).get_indexer(sub_ids)
    c = pd.Index(names).get_indexer(cells.labels)
    n, p = len(la_codes), len(names)
    values = np.full((n, p), np.nan)
    flags = np.full((n, p), None, dtype=object)
    reasons = np.full((n, p), "no row", dtype=object)
    values[r, c] = numeric
    flags[r, c] = cells.flags
    reasons[r, c] = cells.reasons
    return IndicatorMatrix(la_codes, names, values, flags, reasons)


def _from_wide(data: pd.DataFrame, id: str, indicator: list[str] | None) -> IndicatorMatrix:
    if indicator is None:
        names = [c for c in data.columns if c not in (id, "year")
                 and pd.api.types.is_numeric_dtype(data[c])
                 and not pd.api.types.is_bool_dtype(data[c])]
        if not names:
            raise DataError("`indicators` has no numeric indicator columns besides "
                            f"{id!r}; name them with indicator=.")
    else:
        names = wide_columns(data, indicator)
    cells = read_wide(data, id, names)
    check_one_row(pd.DataFrame({"la": cells.ids}), "LA (wide form)",
                  "; filter to one year (year=) first")
    values = np.where(np.isinf(cells.values), np.nan, cells.values)
    return IndicatorMatrix(cells.ids, [str(c) for c in names], values, cells.flags,
                           cells.reasons)


def indicator_matrix(data: pd.DataFrame, *, indicator: str | list[str] | None = None,
                     year: Any = None, id: str = "la_code") -> IndicatorMatrix:
    """Build the LA x indicator matrix from a long or wide table.

    Parameters
    ----------
    data : pandas.DataFrame
        Long (columns ``id``, ``indicator``, ``value``[, ``year``, ``flag``]) or wide (one row per
        LA, one numeric column per indicator[, ``year``]). Values are numbers, NaN or a DfE
        suppression marker (``c x z k u : .. -``, read as missing with that flag); any other
        text is a DataError naming the column. Not modified.
    indicator : str or list of str, optional
        Indicators to keep (default: all in the long table; all numeric columns except ``id``
        and ``year`` in the wide one).
    year : optional
        The year to analyse; required when ``data`` has several.
    id : str
        Column with the LA codes.

    Returns
    -------
    IndicatorMatrix
    """
    check_frame(data, "indicators")
    check_columns(data, [id], what="id column", name="indicators")
    wanted = None if indicator is None else as_list(indicator)
    if wanted is not None and not wanted:
        raise DataError("`indicator` is an empty list; name at least one indicator.")
    sub = _filter_year(data, year)
    if is_long(data):
        return _from_long(sub, id, wanted)
    return _from_wide(sub, id, wanted)
