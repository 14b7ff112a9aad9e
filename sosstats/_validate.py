"""Validation at the boundary: every public function checks its inputs here.

Each helper either returns a cleaned value or raises a :mod:`sosstats.errors` exception whose
message names the argument or column and the problem. None of them modifies its input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError, DesignError

__all__ = [
    "aligned_positions",
    "check_frame",
    "check_columns",
    "check_numeric_columns",
    "check_unique",
    "check_option",
    "check_int",
    "check_finite",
    "check_level",
    "check_rng",
    "as_list",
    "check_codes",
    "check_weights",
    "check_array_2d",
    "check_binary",
]


def as_list(columns: str | Iterable[str] | None) -> list[str]:
    """Return ``columns`` as a list of names (a single string becomes a one-element list)."""
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    try:
        return list(columns)
    except TypeError:   # a number or other non-iterable where column names were expected
        raise DataError(f"expected a column name or a list of column names; got {columns!r}."
                        ) from None


def check_codes(values: Any, name: str) -> list[str]:
    """LA codes as a list of strings (a single string is one code; None is none).

    Raises :class:`DataError` when ``values`` is not a code or an iterable of codes, or when a
    code is repeated (a repeated treated or excluded LA is almost always a mistake).
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    try:
        codes = [str(v) for v in values]
    except TypeError as exc:
        raise DataError(f"`{name}` must be an LA code or a list of LA codes; got "
                        f"{type(values).__name__}.") from exc
    seen: set[str] = set()
    repeated = sorted({c for c in codes if c in seen or seen.add(c)})
    if repeated:
        raise DataError(f"`{name}` repeats LA {', '.join(repeated)}.")
    return codes


def check_frame(data: Any, name: str = "data") -> pd.DataFrame:
    """Check that ``data`` is a non-empty pandas DataFrame and return it (not a copy)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"`{name}` must be a pandas DataFrame; got {type(data).__name__}.")
    if data.shape[0] == 0:
        raise DataError(f"`{name}` has no rows.")
    return data


def check_columns(data: pd.DataFrame, columns: str | Iterable[str], *, what: str = "column",
                  name: str = "data") -> list[str]:
    """Check that every name in ``columns`` is a column of ``data``; return them as a list."""
    cols = as_list(columns)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing)
        raise DataError(f"{what} {shown} not found in `{name}`; its columns are "
                        f"{', '.join(map(repr, data.columns[:20]))}"
                        f"{' ...' if data.shape[1] > 20 else ''}.")
    return cols


def check_numeric_columns(data: pd.DataFrame, columns: str | Iterable[str], *,
                          what: str = "column", name: str = "data", allow_nan: bool = False,
                          allow_constant: bool = True, allow_inf: bool = False,
                          labels: Iterable[Any] | None = None) -> np.ndarray:
    """Check columns exist, are numeric, have no NaN or +/-inf and vary (each unless allowed).

    Parameters
    ----------
    allow_inf : bool
        Accept ``inf`` and ``-inf`` (default False: a DataError names the column and rows).
    labels : iterable, optional
        Row labels used to name offending rows in messages (e.g. the LA codes); default the
        index of ``data``.

    Returns
    -------
    numpy.ndarray
        A float64 copy of the columns, shape ``(n_rows, n_columns)``.
    """
    cols = check_columns(data, columns, what=what, name=name)
    bad = [c for c in cols if not (pd.api.types.is_numeric_dtype(data[c])
                                   and not pd.api.types.is_bool_dtype(data[c]))]
    if bad:
        dtypes = ", ".join(f"{c!r} ({data[c].dtype})" for c in bad)
        raise DataError(f"{what} {dtypes} must be numeric.")
    values = data[cols].to_numpy(dtype=float, copy=True)
    if not allow_nan:
        nan_cols = [c for c, has in zip(cols, np.isnan(values).any(axis=0)) if has]
        if nan_cols:
            counts = ", ".join(f"{c!r} ({int(data[c].isna().sum())} missing)" for c in nan_cols)
            raise DataError(f"{what} {counts}: missing values (NaN) are not allowed here; drop or "
                            f"impute those rows first.")
    if not allow_inf:
        inf = np.isinf(values)
        if inf.any():
            rows = np.asarray(list(labels) if labels is not None else data.index, dtype=object)
            parts = [f"{c!r} for {', '.join(map(str, rows[inf[:, j]][:10]))}"
                     f"{' ...' if inf[:, j].sum() > 10 else ''}"
                     for j, c in enumerate(cols) if inf[:, j].any()]
            raise DataError(f"{what} values are infinite (inf or -inf): {'; '.join(parts)}.")
    if not allow_constant and values.shape[0] > 0:
        spread = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
        const = [c for c, s in zip(cols, spread) if not s > 0]
        if const:
            raise DataError(f"{what} {', '.join(map(repr, const))} is constant; "
                            "it cannot be standardised or inform a comparison.")
    return values


def check_unique(data: pd.DataFrame, column: str, *, name: str = "data") -> None:
    """Raise :class:`DataError` listing the duplicated values of ``column``."""
    dup = data[column][data[column].duplicated(keep=False)]
    if len(dup):
        shown = ", ".join(map(str, pd.unique(dup)[:10]))
        raise DataError(f"`{name}` has duplicate values in {column!r}: {shown}.")


def check_option(value: Any, allowed: Sequence[Any], name: str) -> Any:
    """Check that ``value`` is one of ``allowed`` (the message lists them)."""
    if value not in allowed:
        raise DataError(f"`{name}` must be one of {', '.join(map(repr, allowed))}; "
                        f"got {value!r}.")
    return value


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Check that ``value`` is an integer (and at least ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataError(f"`{name}` must be an integer; got {value!r}.")
    if minimum is not None and value < minimum:
        raise DesignError(f"`{name}` must be at least {minimum}; got {value}.")
    return int(value)


def check_finite(value: Any, label: str) -> float:
    """Check that ``value`` is a finite real number; ``label`` names it in the error (as shown).

    Example: ``check_finite(x, "`mean`")`` raises "`mean` must be a finite number; got nan.".
    """
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{label} must be a number; got {value!r}.") from exc
    if not math.isfinite(out):
        raise DataError(f"{label} must be a finite number; got {value!r}.")
    return out


def check_level(level: float) -> float:
    """Check a confidence level strictly between 0 and 1."""
    if not (isinstance(level, (float, int)) and 0 < float(level) < 1):
        raise DataError(f"`level` must be a number strictly between 0 and 1; got {level!r}.")
    return float(level)


def check_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Turn ``rng`` (int seed, Generator or None) into a Generator, as SPEC 7 asks."""
    if isinstance(rng, (bool, np.random.RandomState)):
        raise DataError("`rng` must be an int, a numpy.random.Generator or None; "
                        f"got {type(rng).__name__}.")
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise DataError("`rng` must be an int, a numpy.random.Generator or None; "
                        f"got {rng!r}.") from exc


def check_weights(values: Any, name: str = "weights", *, allow_nan: bool = False,
                  require_positive_sum: bool = True) -> np.ndarray:
    """Non-negative finite weights as a float64 copy; the one weights check of every capability.

    Parameters
    ----------
    values : pandas.Series or array-like
        The weights (a column of the caller's frame, or an array of one row each).
    name : str
        How the message names them, e.g. ``"weights column 'w'"`` or ``"`weights`"``.
    allow_nan : bool
        Keep NaN (rows a later step leaves out, e.g. non-respondents); default False.
    require_positive_sum : bool
        Raise when the (non-NaN) weights sum to zero (default True).

    Raises
    ------
    DataError
        Non-numeric (booleans included), NaN (unless allowed), infinite, negative, or all zero;
        the message gives the count of offending rows.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values).ravel())
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise DataError(f"{name} must be numeric; got dtype {series.dtype}.")
    w = series.to_numpy(dtype=float, na_value=np.nan, copy=True)
    nan = np.isnan(w)
    if nan.any() and not allow_nan:
        raise DataError(f"{name} has {int(nan.sum())} missing (NaN) value(s); give rows that "
                        "should not count weight 0 or drop them.")
    if np.isinf(w).any():
        raise DataError(f"{name} has {int(np.isinf(w).sum())} infinite value(s).")
    if (w[~nan] < 0).any():
        raise DataError(f"{name} must be non-negative; {int((w[~nan] < 0).sum())} are negative.")
    if require_positive_sum and not np.nansum(w) > 0:
        raise DataError(f"{name} sum to zero: at least one row needs a positive weight.")
    return w


def check_array_2d(values: Any, name: str, *, rows: int | None = None,
                   columns: int | None = None, allow_nan: bool = False) -> np.ndarray:
    """A kernel's 2-D float input: shape checked, finite unless NaN is allowed.

    Returns ``values`` as a float64 array (no copy when it already is one). Raises
    :class:`DataError` naming ``name`` when it is not 2-D, has the wrong number of rows or
    columns, or holds NaN / inf.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise DataError(f"`{name}` must be a 2-D array; got {arr.ndim} dimension(s).")
    if rows is not None and arr.shape[0] != rows:
        raise DataError(f"`{name}` must have {rows} rows; got {arr.shape[0]}.")
    if columns is not None and arr.shape[1] != columns:
        raise DataError(f"`{name}` must have {columns} columns; got {arr.shape[1]}.")
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    if bad.any():
        raise DataError(f"`{name}` has {int(bad.sum())} non-finite value(s)"
                        f"{'' if allow_nan else ' (NaN or inf)'}.")
    return arr


def check_binary(values: pd.Series, what: str, *, allow_nan: bool = False) -> np.ndarray:
    """A 0/1 or boolean column as a bool array (treatment, response, binary outcome).

    ``what`` names it in messages, e.g. ``"treatment column 'cohort2'"``. Nullable ``boolean``
    and ``Int64`` columns are accepted. With ``allow_nan`` missing values come back False and
    the caller masks them; otherwise they raise :class:`DataError` with their count.
    """
    missing = values.isna().to_numpy()
    if missing.any() and not allow_nan:
        raise DataError(f"{what} has {int(missing.sum())} missing value(s); it must be 0/1 or "
                        "boolean.")
    present = values[~missing]
    if present.dtype == object:   # Python booleans or numbers in an object column
        present = present.infer_objects()
    if pd.api.types.is_bool_dtype(present):
        out = np.zeros(len(values), dtype=bool)
        out[~missing] = present.to_numpy(dtype=bool)
        return out
    ok = pd.api.types.is_numeric_dtype(present)
    if ok:
        vals = present.to_numpy(dtype=float)
        ok = bool(np.isin(vals, (0.0, 1.0)).all())
    if not ok:
        raise DataError(f"{what} must be 0/1 or boolean; it has values "
                        f"{shown_values(pd.unique(present))}.")
    out = np.zeros(len(values), dtype=bool)
    out[~missing] = vals == 1.0
    return out


def shown_values(values: Iterable[Any], limit: int = 6) -> str:
    """Up to ``limit`` values for a message, numpy scalars shown as plain numbers (``0.2``,
    not ``np.float64(0.2)``), with ``...`` when there are more."""
    vals = list(values)
    plain = [v.item() if isinstance(v, np.generic) else v for v in vals[:limit]]
    return ", ".join(map(repr, plain)) + (" ..." if len(vals) > limit else "")


def check_not_mixed(values: pd.Series, what: str) -> None:
    """Refuse an object column that mixes numbers with text (``[3, 7, 'n/a', 12]``).

    Such a column is neither a clean number (one stray ``'n/a'`` turns a score into text) nor a
    clean category (each number would become a level), so reading it either way is a silent
    trap. Columns of text only (including numeric strings) and numeric dtypes pass.
    """
    if values.dtype != object:
        return
    present = values[values.notna()]
    is_text = present.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    is_number = present.map(lambda v: isinstance(v, (int, float, np.number))
                            and not isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    if is_text.any() and is_number.any():
        text = pd.unique(present[is_text])
        raise DataError(f"{what} mixes numbers with text ({shown_values(text, 3)} in "
                        f"{int(is_text.sum())} row(s)): convert it with "
                        "pd.to_numeric(..., errors='coerce') if it is a number, or with "
                        ".astype(str) if it is a category.")


def aligned_positions(index: pd.Index, target: pd.Index, what: str) -> np.ndarray | None:
    """Positions of ``target``'s labels in ``index`` (None when they are identical).

    For weights (a Series or a weights result) aligned to ``data`` by index label; a mismatch
    is a :class:`DataError` naming ``what`` and some absent labels.
    """
    if index.equals(target):
        return None
    if index.is_unique and target.is_unique and len(index) == len(target):
        pos = index.get_indexer(target)
        if (pos >= 0).all():
            return pos
    absent = target.difference(index) if target.is_unique and index.is_unique else target[:0]
    raise DataError(f"the index of {what} does not match the rows of `data` ({len(index)} vs "
                    f"{len(target)} labels"
                    + (f"; e.g. {', '.join(map(str, absent[:5]))} absent" if len(absent) else "")
                    + "): make the weights from the same data frame.")
