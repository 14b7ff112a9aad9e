r"""Re-pricing money to a common price year with a price index the user supplies.

sosstats ships no price index: the right one depends on the cost (the PSSRU pay and prices
indices for health and social care staff, HM Treasury's GDP deflator for general government
spending) and is revised every quarter. Pass it as a pandas Series, price year -> index value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError

__all__ = ["reprice", "check_index"]


def check_index(index: Any) -> pd.Series:
    """Validate a price index (Series or mapping, year -> positive finite value); return a copy."""
    if isinstance(index, dict):
        index = pd.Series(index, dtype=float)
    if not isinstance(index, pd.Series):
        raise DataError(f"`index` must be a pandas Series (price year -> index value) or a dict; "
                        f"got {type(index).__name__}.")
    if index.empty:
        raise DataError("`index` is empty.")
    if index.index.hasnans:
        raise DataError("`index` has a missing (NaN) price year in its labels.")
    if index.index.has_duplicates:
        dup = index.index[index.index.duplicated()].unique().tolist()
        raise DataError(f"`index` repeats price year(s) {dup[:10]}.")
    try:
        values = index.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError("`index` values must be numeric.") from exc
    bad = values[~(np.isfinite(values.to_numpy()) & (values.to_numpy() > 0))]
    if len(bad):
        raise DataError(f"`index` values must be positive and finite; price year(s) "
                        f"{bad.index.tolist()[:10]} have {bad.tolist()[:10]}.")
    return values


def _missing(years: Any) -> np.ndarray:
    return np.asarray(pd.isna(np.asarray(years, dtype=object)), dtype=bool)


def reprice(values: Any, *, from_year: Any, to_year: Any, index: Any) -> Any:
    r"""Express money in the prices of ``to_year``.

    Parameters
    ----------
    values : float, array-like, pandas.Series or pandas.DataFrame
        Amounts in the prices of ``from_year``.
    from_year : scalar or array-like
        Price year of the values: one for all, or one per value (per row of a 2-D array or
        DataFrame; aligned by position).
    to_year : scalar
        Target price year.
    index : pandas.Series or dict
        Price index, price year -> index value (any base; only ratios matter). Years are
        matched exactly (``2016`` and ``"2016/17"`` are different labels).

    Returns
    -------
    Same type and shape as ``values`` (float for a number, numpy array for a list).

    Raises
    ------
    DataError
        A missing (None / NaN) price year, a price year or ``to_year`` not in ``index``,
        an index with non-positive, missing or repeated entries, non-numeric or NaN values,
        ``from_year`` of the wrong length.

    Notes
    -----
    :math:`v_{\text{to}} = v_{\text{from}} \times I_{\text{to}} / I_{\text{from}}` (Curtis &
    Burns 2017, inflation indices; HM Treasury Green Book 2022, A6 real prices). Repricing and
    discounting are separate steps: reprice to one price year first, then discount.

    References
    ----------
    Curtis, L. & Burns, A. (2017). *Unit Costs of Health and Social Care 2017*. PSSRU,
    University of Kent.

    Examples
    --------
    >>> import pandas as pd
    >>> from sosstats.vfm import reprice
    >>> illustrative = pd.Series({2015: 100.0, 2016: 102.0, 2017: 104.04})  # made-up index
    >>> reprice(1000.0, from_year=2015, to_year=2017, index=illustrative)
    1040.4
    """
    idx = check_index(index)
    if _missing([to_year]).any():
        raise DataError("`to_year` is missing (None or NaN).")
    if to_year not in idx.index:
        raise DataError(f"`index` has no value for `to_year` {to_year!r}; it covers "
                        f"{_span(idx)}.")
    frame = isinstance(values, (pd.Series, pd.DataFrame))
    raw = values.to_numpy() if frame else values
    try:
        arr = np.array(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`values` must be numeric; got {type(values).__name__}.") from exc
    if np.isnan(arr).any():
        raise DataError(f"`values` contain {int(np.isnan(arr).sum())} NaN value(s).")
    years = np.asarray(from_year, dtype=object)
    if years.ndim > 1:
        raise DataError("`from_year` must be one year or a 1-D sequence of years.")
    if years.ndim == 1 and (arr.ndim == 0 or years.size != arr.shape[0]):
        raise DataError(f"`from_year` has {years.size} years but `values` has "
                        f"{arr.shape[0] if arr.ndim else 1} row(s); give one year or one per "
                        "row.")
    miss = _missing(years)
    if miss.any():
        where = np.flatnonzero(miss.ravel())
        raise DataError(f"missing price year (`from_year`) for {miss.sum()} value(s)"
                        f"{' at positions ' + str(where[:10].tolist()) if years.ndim else ''}; "
                        "every amount needs the year of its prices.")
    flat = years.ravel().tolist()
    absent = [y for y in dict.fromkeys(flat) if y not in idx.index]
    if absent:
        raise DataError(f"`index` has no value for price year(s) {absent[:10]}; it covers "
                        f"{_span(idx)}.")
    factor = float(idx[to_year]) / idx.loc[flat].to_numpy(dtype=float)
    if years.ndim == 0:
        out = arr * factor[0]
    else:
        out = arr * factor.reshape((-1,) + (1,) * (arr.ndim - 1))
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name)
    if isinstance(values, pd.DataFrame):
        return pd.DataFrame(out, index=values.index, columns=values.columns)
    return float(out) if out.ndim == 0 else out


def _span(index: pd.Series) -> str:
    labels = index.index.tolist()
    try:
        labels = sorted(labels)
    except TypeError:
        pass
    if len(labels) <= 6:
        return ", ".join(map(repr, labels))
    return f"{labels[0]!r} to {labels[-1]!r} ({len(labels)} years)"
