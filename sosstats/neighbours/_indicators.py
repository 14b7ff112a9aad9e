"""Turn a long or wide indicator table into an LA x indicator matrix, keeping missing cells missing.

Long form: one row per LA x indicator (x year), columns ``id``, ``indicator``, ``value`` and
optionally ``year`` and ``flag`` -- the shape of :func:`sosstats.datasets.load_la_indicators`.
Wide form: one row per LA, one column per indicator (without ``indicator=``: every numeric
column, and every text column whose entries are all numbers, missing or DfE markers with at
least one number; other text columns, such as LA names, are skipped). Values are read by
:mod:`sosstats.neighbours._panel` (shared with the over-time estimators): empty, flagged and
suppressed cells (a DfE marker such as ``c`` or ``..`` in the value column) become NaN and are
recorded with their flag -- never read as zero -- and any other non-numeric value is a
DataError naming the column.

The matrix also records which LAs are *present* in the table (for the analysed year, before
``indicator=`` selection): a row for any indicator in long form, a row in wide form. Presence,
not observed cells, decides who can be a neighbour, so that neighbour sets do not depend on
which indicators are analysed or which cells are suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import as_list, check_columns, check_frame
from sosstats.errors import DataError, DesignError
from sosstats.neighbours._panel import (
    check_one_row,
    is_long,
    read_long,
    read_numbers,
    read_wide,
    wide_columns,
)

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
        suppression marker; ``"missing value"``, ``"no row"``); an infinite value is a DataError;
        ``None`` when observed.
    present : numpy.ndarray
        LA codes (strings) with at least one row in the table for the analysed year, before
        ``indicator=`` selection (long form: a row for any indicator; wide form: a row).
    """

    ids: np.ndarray
    names: list[str]
    values: np.ndarray
    flags: np.ndarray
    reasons: np.ndarray
    present: np.ndarray

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

    def is_present(self, codes: np.ndarray) -> np.ndarray:
        """Boolean mask over ``codes``: which LAs have a row in the table (see ``present``)."""
        return pd.Index(self.present).get_indexer(np.asarray(codes).astype(str)) >= 0


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
    col = data["year"]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        try:   # numeric years compare as numbers: 2016, 2016.0 and "2016" all match 2016.0
            target = float(year)
        except (TypeError, ValueError):
            target = np.nan
        keep = col.to_numpy(dtype=float, na_value=np.nan) == target
    else:
        keep = col.astype(str).to_numpy() == str(year)
    if not keep.any():
        shown = ", ".join(map(str, sorted(pd.unique(data["year"].dropna()), key=str)[:8]))
        raise DataError(f"year {year!r} not found in column 'year' of `indicators` "
                        f"(years present: {shown}).")
    return data.loc[keep]


def _refuse_infinite(values: np.ndarray, ids: np.ndarray, labels: np.ndarray,
                     column: str) -> None:
    """An infinite value (a rate over a zero denominator) is a DataError, as in the panel reader.

    Missing and suppressed cells are left out with a note; an infinite one is a computation
    error upstream, not a published gap, so it is refused rather than dropped.
    """
    bad = np.isinf(values)
    if bad.any():
        where = ", ".join(f"{i} ({l})" for i, l in list(zip(ids[bad], labels[bad]))[:5])
        raise DataError(f"column {column!r} of `indicators` has {int(bad.sum())} infinite "
                        f"value(s): {where}; recompute them (a zero denominator?) or set "
                        "them to NaN to leave them out.")


def _from_long(data: pd.DataFrame, id: str, indicator: list[str] | None) -> IndicatorMatrix:
    cells = read_long(data, id, indicator)
    names = list(pd.unique(cells.labels)) if indicator is None else list(indicator)
    sub_ids = cells.ids[cells.keep]
    check_one_row(pd.DataFrame({"la": sub_ids, "ind": cells.labels}), "LA and indicator",
                  "; filter to one year (year=) or one breakdown first")
    _refuse_infinite(cells.values, sub_ids, cells.labels, "value")
    numeric = cells.values
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
    return IndicatorMatrix(la_codes, names, values, flags, reasons, la_codes)


def _is_indicator(col: pd.Series) -> bool:
    """Whether a wide column is taken as an indicator when ``indicator=`` is not given.

    Numeric (not bool) columns are; so are text columns whose entries are all numbers, numeric
    strings, missing or DfE suppression markers (the shared rule of ``read_numbers``), with at
    least one number. Other text columns (LA names, notes, flags) are skipped.
    """
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
        return False
    try:
        values, _ = read_numbers(col, str(col.name))
    except DataError:
        return False
    return bool((~np.isnan(values)).any())


def _from_wide(data: pd.DataFrame, id: str, indicator: list[str] | None) -> IndicatorMatrix:
    if indicator is None:
        names = [c for c in data.columns if c not in (id, "year") and _is_indicator(data[c])]
        if not names:
            raise DataError("`indicators` has no numeric indicator columns besides "
                            f"{id!r}; name them with indicator=.")
    else:
        names = wide_columns(data, indicator)
    cells = read_wide(data, id, names)
    check_one_row(pd.DataFrame({"la": cells.ids}), "LA (wide form)",
                  "; filter to one year (year=) first")
    for j, name in enumerate(names):
        _refuse_infinite(cells.values[:, j], cells.ids, np.full(len(cells.ids), str(name)),
                         str(name))
    values = cells.values
    return IndicatorMatrix(cells.ids, [str(c) for c in names], values, cells.flags,
                           cells.reasons, cells.ids)


def indicator_matrix(data: pd.DataFrame, *, indicator: str | list[str] | None = None,
                     year: Any = None, id: str = "la_code") -> IndicatorMatrix:
    """Build the LA x indicator matrix from a long or wide table.

    Parameters
    ----------
    data : pandas.DataFrame
        Long (columns ``id``, ``indicator``, ``value``[, ``year``, ``flag``]) or wide (one row per
        LA, one column per indicator[, ``year``]). Values are numbers, NaN or a DfE
        suppression marker (``c x z k u : .. -``, read as missing with that flag); any other
        text in an analysed column is a DataError naming the column. Not modified.
    indicator : str or list of str, optional
        Indicators to keep, each named once (default: all in the long table; in the wide one,
        every column except ``id`` and ``year`` that is numeric, or text holding only numbers,
        missing values and suppression markers with at least one number).
    year : optional
        The year to analyse; required when ``data`` has several. A numeric ``year`` column is
        compared numerically (``2016`` matches ``2016.0``), a text one as text.
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
    if wanted is not None:
        seen = [str(c) for c in wanted]
        dup = list(dict.fromkeys(c for c in seen if seen.count(c) > 1))
        if dup:
            raise DataError(f"`indicator` repeats {', '.join(map(repr, dup))}; name each "
                            "indicator once.")
    sub = _filter_year(data, year)
    if "indicator" in data.columns and "value" not in data.columns:
        raise DataError("`indicators` has an 'indicator' column but no 'value' column: a long "
                        "table needs both (a wide one has neither).")
    if is_long(data):
        return _from_long(sub, id, wanted)
    return _from_wide(sub, id, wanted)
