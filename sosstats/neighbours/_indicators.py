"""Turn a long or wide indicator table into an LA x indicator matrix, keeping missing cells missing.

Long form: one row per LA x indicator (x year), columns ``id``, ``indicator``, ``value`` and
optionally ``year`` and ``flag`` -- the shape of :func:`sosstats.datasets.load_la_indicators`.
Wide form: one row per LA, one numeric column per indicator. Suppressed (flagged), empty or
non-numeric cells become NaN and are recorded with their flag; they are never read as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import as_list, check_columns, check_frame, check_numeric_columns
from sosstats.errors import DataError, DesignError

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
        ``(n, p)`` objects: why a cell is missing (``"suppressed"``, ``"missing value"``,
        ``"non-numeric value"``, ``"no row"``, ``"non-finite value"``); ``None`` when observed.
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


def _is_long(data: pd.DataFrame) -> bool:
    return "indicator" in data.columns and "value" in data.columns


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


def _check_ids(col: pd.Series, id: str) -> np.ndarray:
    if col.isna().any():
        raise DataError(f"column {id!r} of `indicators` has {int(col.isna().sum())} missing "
                        "LA codes.")
    return col.astype(str).to_numpy()


def _from_long(data: pd.DataFrame, id: str, indicator: list[str] | None) -> IndicatorMatrix:
    ids = _check_ids(data[id], id)
    names_all = data["indicator"].astype(str).to_numpy()
    available = list(pd.unique(names_all))
    if indicator is None:
        names = available
    else:
        unknown = [c for c in indicator if c not in available]
        if unknown:
            raise DataError(f"indicator {', '.join(map(repr, unknown))} not found in column "
                            f"'indicator' of `indicators`; available: "
                            f"{', '.join(map(repr, available[:15]))}"
                            f"{' ...' if len(available) > 15 else ''}.")
        names = list(indicator)
    keep = np.isin(names_all, names)
    sub_ids, sub_names = ids[keep], names_all[keep]
    raw = data["value"].to_numpy()[keep]
    frame = pd.DataFrame({"la": sub_ids, "ind": sub_names})
    dup = frame.duplicated(keep=False).to_numpy()
    if dup.any():
        shown = ", ".join(f"{a}/{b}" for a, b in
                          frame.loc[dup].drop_duplicates().head(5).itertuples(index=False))
        raise DataError(f"`indicators` has more than one row for the same LA and indicator "
                        f"({shown}); filter to one year (year=) or one breakdown first.")
    if pd.api.types.is_bool_dtype(data["value"]):
        raise DataError("column 'value' of `indicators` must be numeric; got bool.")
    numeric = np.array(pd.to_numeric(pd.Series(raw), errors="coerce"), dtype=float)
    blank = pd.isna(pd.Series(raw)).to_numpy()
    nonnum = ~blank & np.isnan(numeric)
    if len(raw) and nonnum.all():
        raise DataError("column 'value' of `indicators` is not numeric (no value could be "
                        f"read as a number; e.g. {raw[0]!r}).")
    flag_col = (data["flag"].to_numpy()[keep] if "flag" in data.columns
                else np.full(len(raw), None, dtype=object))
    fs = pd.Series(flag_col, dtype=object)
    text = fs.astype(str).str.strip()
    flag = np.array(text, dtype=object)
    flag[~(fs.notna() & (text != "")).to_numpy()] = None
    flag = np.where(nonnum & (flag == None), raw.astype(object), flag)  # noqa: E711
    nonfinite = ~np.isnan(numeric) & ~np.isfinite(numeric)
    reason = np.full(len(raw), None, dtype=object)
    missing = np.isnan(numeric) | nonfinite
    reason[missing & (flag != None)] = "suppressed"  # noqa: E711
    reason[missing & (flag == None)] = "missing value"  # noqa: E711
    reason[nonnum] = "non-numeric value"
    reason[nonfinite] = "non-finite value"
    numeric[nonfinite] = np.nan
    flag[~missing] = None

    la_codes = np.asarray(pd.unique(ids), dtype=object)
    r = pd.Index(la_codes).get_indexer(sub_ids)
    c = pd.Index(names).get_indexer(sub_names)
    n, p = len(la_codes), len(names)
    values = np.full((n, p), np.nan)
    flags = np.full((n, p), None, dtype=object)
    reasons = np.full((n, p), "no row", dtype=object)
    values[r, c] = numeric
    flags[r, c] = flag
    reasons[r, c] = reason
    return IndicatorMatrix(la_codes, names, values, flags, reasons)


def _from_wide(data: pd.DataFrame, id: str, indicator: list[str] | None) -> IndicatorMatrix:
    ids = _check_ids(data[id], id)
    if indicator is None:
        names = [c for c in data.columns if c not in (id, "year")
                 and pd.api.types.is_numeric_dtype(data[c])
                 and not pd.api.types.is_bool_dtype(data[c])]
        if not names:
            raise DataError("`indicators` has no numeric indicator columns besides "
                            f"{id!r}; name them with indicator=.")
    else:
        names = check_columns(data, indicator, what="indicator column", name="indicators")
    values = check_numeric_columns(data, names, what="indicator column", name="indicators",
                                   allow_nan=True)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        shown = ", ".join(pd.unique(ids[dup])[:10])
        raise DataError(f"`indicators` (wide) has more than one row for LA {shown}; filter to "
                        "one year (year=) first.")
    nonfinite = ~np.isnan(values) & ~np.isfinite(values)
    reasons = np.full(values.shape, None, dtype=object)
    reasons[np.isnan(values)] = "missing value"
    reasons[nonfinite] = "non-finite value"
    values[nonfinite] = np.nan
    flags = np.full(values.shape, None, dtype=object)
    return IndicatorMatrix(np.asarray(ids, dtype=object), [str(c) for c in names], values,
                           flags, reasons)


def indicator_matrix(data: pd.DataFrame, *, indicator: str | list[str] | None = None,
                     year: Any = None, id: str = "la_code") -> IndicatorMatrix:
    """Build the LA x indicator matrix from a long or wide table.

    Parameters
    ----------
    data : pandas.DataFrame
        Long (columns ``id``, ``indicator``, ``value``[, ``year``, ``flag``]) or wide (one row per
        LA, one numeric column per indicator[, ``year``]). Not modified.
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
    if _is_long(data):
        return _from_long(sub, id, wanted)
    return _from_wide(sub, id, wanted)
