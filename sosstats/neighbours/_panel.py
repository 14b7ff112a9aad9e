"""Private readers of LA indicator tables, shared by ``compare``, ``did`` and ``synth``.

A table is *long* (``id, indicator, value``[, ``year``, ``flag``], one row per LA, indicator
and year, as :func:`sosstats.datasets.loaders.load_la_indicators` returns) or *wide* (``id``[,
``year``] and one column per indicator). One rule for values everywhere: numbers and numeric
strings are numbers; NaN, None, empty strings and ``"nan"`` are missing; the DfE suppression
markers in :data:`SUPPRESSION_MARKERS` (whitespace allowed) are missing with the marker as
their flag; anything else is a DataError naming the column, an offending value and (long form)
its indicator. Missing and suppressed cells stay NaN, never zero. Also here: the LA x year
panel reader and the bookkeeping of :mod:`~sosstats.neighbours.did` and
:mod:`~sosstats.neighbours.synth` (start years, donor pools, dropped-cell records).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sosstats._validate import check_codes, check_columns, check_frame
from sosstats.errors import DataError, DesignError
from sosstats.neighbours.ranking import NeighbourRanking, as_ranking, barred_codes

#: DfE publication markers for suppressed / unavailable cells, read as missing with this flag.
SUPPRESSION_MARKERS = ("c", "x", "z", "k", "u", ":", "..", "-")

#: Columns of the dropped-cells table of the over-time estimators.
DROPPED_COLUMNS = ["la_code", "year", "role", "treated_la", "reason", "flag"]


class Cells(NamedTuple):
    """Cells read from an indicator table (see :func:`read_long` and :func:`read_wide`)."""

    ids: np.ndarray       # LA codes (str) of every row of the table
    keep: np.ndarray      # rows read (long form: rows of the wanted indicators)
    labels: np.ndarray    # indicator of each read row (long) / indicator names (wide)
    values: np.ndarray    # float, NaN where missing or suppressed (inf kept)
    flags: np.ndarray     # flag of each missing cell (None if none, or observed)
    reasons: np.ndarray   # why a cell is missing; None when observed


# -- table shape, ids and indicator selection ---------------------------------------------------
def is_long(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is a long indicator table (has ``indicator`` and ``value`` columns)."""
    return "indicator" in frame.columns and "value" in frame.columns


def check_ids(col: pd.Series, id: str) -> np.ndarray:
    """LA codes as strings; missing codes are a DataError."""
    if col.isna().any():
        raise DataError(f"column {id!r} of `indicators` has {int(col.isna().sum())} missing "
                        "LA codes.")
    return col.astype(str).to_numpy(dtype=object)


def _unknown(unknown: list[str], available: list[str], where: str) -> DataError:
    close = sorted({m for c in unknown for m in difflib.get_close_matches(c, available, n=3)})
    hint = f"; close matches: {', '.join(map(repr, close))}" if close else ""
    shown = ", ".join(map(repr, available[:15])) + (" ..." if len(available) > 15 else "")
    return DataError(f"indicator {', '.join(map(repr, unknown))} not found {where}{hint}; "
                     f"available: {shown}.")


def wide_columns(frame: pd.DataFrame, names: list[str]) -> list[str]:
    """Check that the named indicator columns exist in a wide table."""
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise _unknown(missing, [str(c) for c in frame.columns],
                       "among the columns of `indicators` (a long table needs 'indicator' and "
                       "'value' columns)")
    return list(names)


def check_one_row(keys: pd.DataFrame, what: str, advice: str = "") -> None:
    """DataError listing the key combinations that occur on more than one row."""
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        shown = ", ".join("/".join(map(str, r)) for r in
                          keys.loc[dup].drop_duplicates().head(10).itertuples(index=False))
        raise DataError(f"`indicators` has more than one row for the same {what}: {shown}"
                        f"{advice}.")


# -- reading values -----------------------------------------------------------------------------
def read_numbers(raw: pd.Series, column: str, labels: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Values of one column as floats, plus the suppression marker of each entry (or None).

    Raises DataError for a bool column or for any entry that is neither a number, a numeric
    string, missing nor a suppression marker; ``labels`` (the indicator of each row, long form)
    is named in the message.
    """
    if pd.api.types.is_bool_dtype(raw):
        raise DataError(f"column {column!r} of `indicators` must be numeric; got bool.")
    n = len(raw)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(dtype=float, na_value=np.nan), np.full(n, None, dtype=object)
    obj = raw.to_numpy(dtype=object)
    is_str = np.fromiter((isinstance(v, str) for v in obj), dtype=bool, count=n)
    is_bool = np.fromiter((isinstance(v, (bool, np.bool_)) for v in obj), dtype=bool, count=n)
    text = np.array([v.strip() if s else "" for v, s in zip(obj, is_str)], dtype=object)
    blank = np.asarray(pd.isna(obj), dtype=bool) | (is_str & np.isin(text, ["", "nan", "NaN"]))
    marker = is_str & np.isin(text, SUPPRESSION_MARKERS)
    skip = blank | marker | is_bool
    numeric = pd.to_numeric(pd.Series(np.where(skip, None, obj), dtype=object),
                            errors="coerce").to_numpy(dtype=float)
    bad = ~blank & ~marker & (is_bool | np.isnan(numeric))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = repr(str(obj[i])) if is_str[i] else repr(obj[i])
        where = f" (indicator {str(labels[i])!r})" if labels is not None else ""
        raise DataError(f"column {column!r} of `indicators` is not numeric: {shown}{where} "
                        f"is neither a number nor a DfE suppression marker "
                        f"({' '.join(SUPPRESSION_MARKERS)}); {int(bad.sum())} such value(s).")
    return numeric, np.where(marker, text, None)


def cell_flags(values: np.ndarray, markers: np.ndarray, flag_col: Any = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Flag and reason of every missing cell (a ``flag`` column wins over a value marker)."""
    n = len(values)
    if flag_col is None:
        flag = np.full(n, None, dtype=object)
    else:
        fs = pd.Series(np.asarray(flag_col, dtype=object), dtype=object)
        text = fs.astype(str).str.strip()
        flag = np.array(text, dtype=object)
        flag[~(fs.notna() & (text != "")).to_numpy()] = None
    flag = np.where(pd.isna(flag) & ~pd.isna(markers), markers, flag)
    nonfinite = np.isinf(values)
    missing = np.isnan(values) | nonfinite
    has_flag = ~np.asarray(pd.isna(flag), dtype=bool)
    reason = np.full(n, None, dtype=object)
    reason[missing & has_flag] = "suppressed"
    reason[missing & ~has_flag] = "missing value"
    reason[nonfinite] = "non-finite value"
    flag[~missing] = None
    return flag, reason


def read_long(frame: pd.DataFrame, id: str, wanted: list[str] | None) -> Cells:
    """Cells of the ``wanted`` indicators (all if None) of a long table."""
    ids = check_ids(frame[id], id)
    names_all = frame["indicator"].astype(str).to_numpy(dtype=object)
    available = list(pd.unique(names_all))
    if wanted is not None:
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise _unknown(unknown, available, "in column 'indicator' of `indicators`")
    keep = np.ones(len(ids), dtype=bool) if wanted is None else np.isin(names_all, wanted)
    rows = frame.loc[keep]
    labels = names_all[keep]
    values, markers = read_numbers(rows["value"], "value", labels)
    flags, reasons = cell_flags(values, markers,
                                rows["flag"].to_numpy() if "flag" in rows.columns else None)
    return Cells(ids, keep, labels, values, flags, reasons)


def read_wide(frame: pd.DataFrame, id: str, names: list[str], flag_col: Any = None) -> Cells:
    """Cells of the indicator columns ``names`` of a wide table, as ``(n, p)`` arrays."""
    ids = check_ids(frame[id], id)
    n, p = len(ids), len(names)
    values = np.full((n, p), np.nan)
    flags = np.full((n, p), None, dtype=object)
    reasons = np.full((n, p), None, dtype=object)
    for j, name in enumerate(wide_columns(frame, names)):
        values[:, j], markers = read_numbers(frame[name], str(name))
        flags[:, j], reasons[:, j] = cell_flags(values[:, j], markers, flag_col)
    return Cells(ids, np.ones(n, dtype=bool), np.asarray(names, dtype=object), values, flags,
                 reasons)


# -- the LA x year panel of one indicator -------------------------------------------------------
def indicator_panel(indicators: Any, indicator: str, *, id: str, year: str
                    ) -> tuple[pd.DataFrame, pd.Series]:
    """One indicator as a units x years matrix (NaN where missing) plus flags of NaN cells."""
    frame = check_frame(indicators, "indicators")
    if not isinstance(indicator, str):
        raise DataError(f"`indicator` must be a string; got {indicator!r}.")
    if is_long(frame):
        check_columns(frame, [id, year], name="indicators")
        cells = read_long(frame, id, [indicator])
        values, flag = cells.values, cells.flags
        vcol = "value"
    else:
        wide_columns(frame, [indicator])
        check_columns(frame, [id, year], name="indicators")
        cells = read_wide(frame, id, [indicator],
                          frame["flag"].to_numpy() if "flag" in frame.columns else None)
        values, flag = cells.values[:, 0], cells.flags[:, 0]
        vcol = indicator
    yrs = frame.loc[cells.keep, year]
    if not pd.api.types.is_numeric_dtype(yrs) or yrs.isna().any():
        raise DataError(f"column {year!r} of `indicators` must hold whole-number years with no "
                        "missing values.")
    yv = yrs.to_numpy(dtype=float)
    if not np.all(np.isfinite(yv)) or not np.all(yv == np.round(yv)):
        raise DataError(f"column {year!r} of `indicators` must hold whole-number years.")
    if np.isinf(values).any():
        raise DataError(f"column {vcol!r} of `indicators` has infinite values for "
                        f"{indicator!r}.")
    tab = pd.DataFrame({"unit": cells.ids[cells.keep], "year": yv.astype(np.int64),
                        "value": values})
    check_one_row(tab[["unit", "year"]], f"{id!r} and {year!r} of indicator {indicator!r}")
    panel = tab.pivot(index="unit", columns="year", values="value").sort_index()
    panel = panel.reindex(columns=sorted(panel.columns))
    nan_rows = np.isnan(values)
    flags = pd.Series(flag[nan_rows], index=pd.MultiIndex.from_arrays(
        [tab["unit"].to_numpy()[nan_rows], tab["year"].to_numpy()[nan_rows]]), dtype=object)
    return panel, flags


def treated_panel(indicators: Any, treated: Any, *, indicator: str, start_year: Any, id: str,
                  year: str, at_least: int) -> tuple[list[str], pd.DataFrame, pd.Series,
                                                      np.ndarray]:
    """Treated codes, LA x year panel, flags of its NaN cells and start years, all checked."""
    tcodes = check_codes(treated, "treated")
    if not tcodes:
        what = "one treated LA code" if at_least == 1 else f"{at_least} treated LA codes"
        raise DataError(f"`treated` is empty; give at least {what}.")
    panel, flags = indicator_panel(indicators, indicator, id=id, year=year)
    check_in_panel(panel, tcodes, indicator)
    return tcodes, panel, flags, start_years(start_year, tcodes)


def stack(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate the non-empty ``frames`` (an empty frame with ``columns`` if none)."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def start_years(start_year: Any, treated: list[str], name: str = "start_year") -> np.ndarray:
    """First treated year of each treated LA (an int for all, or a mapping code -> year).

    Also reads other per-LA years (``name`` is the argument named in messages).
    """
    def as_year(v: Any, who: str) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer, float, np.floating)) \
                or not np.isfinite(v) or float(v) != round(float(v)):
            raise DataError(f"`{name}` for {who} must be a whole-number year; got {v!r}.")
        return int(v)

    if isinstance(start_year, pd.Series):
        start_year = start_year.to_dict()
    if isinstance(start_year, Mapping):
        lookup = {str(k): v for k, v in start_year.items()}
        missing = [c for c in treated if c not in lookup]
        if missing:
            raise DataError(f"`{name}` has no year for treated LA(s) "
                            f"{', '.join(missing)}.")
        return np.array([as_year(lookup[c], c) for c in treated], dtype=np.int64)
    return np.full(len(treated), as_year(start_year, "all treated LAs"), dtype=np.int64)


def check_in_panel(panel: pd.DataFrame, treated: list[str], indicator: str) -> None:
    """DesignError naming the treated LAs that have no row for the indicator."""
    missing = [c for c in treated if c not in panel.index]
    if missing:
        raise DesignError(f"treated LA(s) {', '.join(missing)} not in the data for indicator "
                          f"{indicator!r}.")


def missing_records(panel: pd.DataFrame, flags: pd.Series, units: np.ndarray,
                    years: np.ndarray, role: str, treated_la: np.ndarray,
                    reason: str) -> pd.DataFrame:
    """Rows of the dropped-cells table for cells (units[i], years[i])."""
    if len(units) == 0:
        return pd.DataFrame(columns=DROPPED_COLUMNS)
    key = pd.MultiIndex.from_arrays([np.asarray(units, dtype=object), np.asarray(years)])
    flag = flags.reindex(key).to_numpy(dtype=object)
    absent = ~np.asarray(pd.Index(units).isin(panel.index))
    flag = np.where(pd.isna(flag), None, flag)
    reasons = np.where(absent, "LA not in the data", reason)
    return pd.DataFrame({"la_code": np.asarray(units, dtype=object),
                         "year": np.asarray(years, dtype=np.int64), "role": role,
                         "treated_la": np.asarray(treated_la, dtype=object),
                         "reason": reasons, "flag": flag})


# -- donor pools of the synthetic control -------------------------------------------------------
def year_list(pre_years: Any) -> np.ndarray:
    """``pre_years`` as a sorted array of distinct integer years."""
    vals = [pre_years] if isinstance(pre_years, (int, np.integer, str)) else pre_years
    try:
        vals = list(vals)
    except TypeError:
        vals = [pre_years]
    bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (int, np.integer))]
    if bad or not vals:
        raise DataError("`pre_years` must be a non-empty list of whole-number years; got "
                        f"{pre_years!r}.")
    return np.unique(np.asarray(vals, dtype=np.int64))


def donor_lists(donors: Any, treated: list[str], panel: pd.DataFrame, id: str
                ) -> list[list[str]]:
    """Candidate donor codes for each treated LA, before the completeness filter.

    With a neighbour ranking / table / fitted model, every neighbour listed for the LA (some
    may have no row in the data; :func:`donor_pools` drops and records them). Explicit lists
    and mappings must name LAs in the data.
    """
    everyone = panel.index.astype(str).tolist()
    if donors is None:
        return [everyone for _ in treated]
    if isinstance(donors, (pd.DataFrame, NeighbourRanking)) or hasattr(donors, "ranking"):
        ranking = as_ranking(donors, id=id)
        rows = ranking.positions(treated, what="treated LA")
        ids = np.asarray(ranking.ids, dtype=object).astype(str)
        return [ids[ranking.order[r][ranking.order[r] >= 0]].tolist() for r in rows]
    if isinstance(donors, Mapping):
        lookup = {str(key): value for key, value in donors.items()}
        missing = [c for c in treated if c not in lookup]
        if missing:
            raise DataError(f"`donors` has no donor list for treated LA(s) "
                            f"{', '.join(missing)}.")
        lists = [check_codes(lookup[c], f"donors[{c!r}]") for c in treated]
    else:
        lists = [check_codes(donors, "donors")] * len(treated)
    unknown = sorted({d for lst in lists for d in lst} - set(everyone))
    if unknown:
        raise DataError(f"`donors` code(s) {', '.join(unknown[:10])} not in the data.")
    return lists


def donor_pools(panel: pd.DataFrame, flags: pd.Series, treated: list[str], starts: np.ndarray,
                *, indicator: str, id: str, donors: Any, exclude: Any, pre_years: Any,
                limit: int | None = None
                ) -> tuple[list[tuple[str, int, np.ndarray, np.ndarray, list[str]]],
                           list[pd.DataFrame], list[str]]:
    """Fitting years, post years and complete donors of each treated LA.

    Returns ``specs`` (``(code, start, fit, post, pool)`` per treated LA, ``fit`` and ``post``
    boolean masks over the panel's years, ``pool`` the sorted donor codes observed in every
    fitting and post year), the dropped-cell tables, and ``"code (n)"`` for the LAs with fewer
    than three fitting years. With ``limit`` (donors from a neighbour ranking), each pool is
    the first ``limit`` eligible, complete donors in rank order.
    """
    years = panel.columns.to_numpy(dtype=np.int64)
    fit_years = None
    if pre_years is not None:
        fit_years = year_list(pre_years)
        absent = sorted(set(fit_years.tolist()) - set(years.tolist()))
        if absent:
            raise DataError(f"`pre_years` {absent} not in the data for {indicator!r}.")
        late = [c for c, s in zip(treated, starts) if (fit_years >= s).any()]
        if late:
            raise DataError(f"`pre_years` include years at or after the start year of treated "
                            f"LA(s) {', '.join(late)}.")
    excl = set(check_codes(exclude, "exclude"))
    unknown = sorted(excl - set(panel.index))
    if unknown:
        raise DataError(f"`exclude` code(s) {', '.join(unknown)} not in the data.")
    candidates = donor_lists(donors, treated, panel, id)
    values = panel.to_numpy(dtype=float)
    row_of = {c: r for r, c in enumerate(panel.index.astype(str))}
    excl |= set(barred_codes(donors))  # a fitted model's contaminated LAs are never donors
    tset = set(treated)
    dropped, specs, few = [], [], []
    for code, s, cand in zip(treated, starts, candidates):
        y = values[row_of[code]]
        pre = years < s if fit_years is None else np.isin(years, fit_years)
        post = years >= s
        if not (years < s).any():
            raise DesignError(f"no pre-period years in the data for treated LA {code} (data "
                              f"start in {years.min()}, start year {s}).")
        if not post.any():
            raise DesignError(f"no post-period years in the data for treated LA {code} (data "
                              f"end in {years.max()}, start year {s}).")
        miss = (pre | post) & np.isnan(y)
        if miss.any():
            who = np.full(miss.sum(), code, dtype=object)
            dropped.append(missing_records(panel, flags, who, years[miss], "treated", who,
                                           "missing or suppressed; year dropped"))
        fit = pre & ~np.isnan(y)
        for mask, what in ((post & ~np.isnan(y), "post"), (fit, "pre")):
            if not mask.any():
                raise DesignError(f"treated LA {code} has no {what}-period year with data "
                                  f"for {indicator!r} (all missing or suppressed).")
        if fit.sum() < 3:
            few.append(f"{code} ({int(fit.sum())})")
        need = fit | post
        pool = [d for d in dict.fromkeys(cand) if d not in tset and d not in excl]
        if limit is None:
            pool = sorted(pool)
        absent = [d for d in pool if d not in row_of]
        if absent:  # listed neighbours with no row for the indicator (e.g. newer LAs)
            n_need = int(need.sum())
            dropped.append(missing_records(panel, flags, np.repeat(np.asarray(absent, object),
                                                                   n_need),
                                           np.tile(years[need], len(absent)), "donor",
                                           np.full(len(absent) * n_need, code, dtype=object),
                                           "LA not in the data"))
            pool = [d for d in pool if d in row_of]
        rows = np.array([row_of[d] for d in pool], dtype=np.intp)
        complete = ~np.isnan(values[rows][:, need]).any(axis=1)
        if not complete.all():
            r_i, c_i = np.nonzero(np.isnan(values[rows[~complete]][:, need]))
            dropped.append(missing_records(panel, flags,
                                           np.asarray(pool, dtype=object)[~complete][r_i],
                                           years[need][c_i], "donor",
                                           np.full(len(r_i), code, dtype=object),
                                           "missing or suppressed; donor left out"))
        pool = [d for d, ok in zip(pool, complete) if ok]
        if limit is not None:
            pool = sorted(pool[:limit])
        if len(pool) < 2:
            raise DesignError(f"treated LA {code} has {len(pool)} eligible donor(s) with "
                              f"complete data for {indicator!r}; at least 2 are needed.")
        specs.append((code, int(s), fit, post, pool))
    return specs, dropped, few
