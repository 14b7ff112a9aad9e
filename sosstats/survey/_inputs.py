"""Input checks of :class:`~sosstats.survey.SurveyDesign` and its estimators.

Every function returns cleaned arrays or raises a :mod:`sosstats.errors` exception whose message
names the column and the problem; none modifies its input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import (
    aligned_positions,
    as_list,
    check_columns,
    check_weights,
    shown_values,
)
from sosstats.errors import DataError, DesignError

__all__ = ["factor", "column_codes", "combine", "pair_counts", "resolve_weights",
           "fpc_values", "aligned_positions"]


def factor(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..K-1`` (sorted levels where they sort) and the levels."""
    try:
        codes, levels = pd.factorize(values, sort=True)
    except TypeError:                       # mixed types that do not sort
        codes, levels = pd.factorize(values)
    return codes.astype(np.intp), np.asarray(levels, dtype=object)


def column_codes(data: pd.DataFrame, column: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes and levels of a design column (cluster, strata); missing values are refused."""
    check_columns(data, column, what=what)
    s = data[column]
    if s.isna().any():
        rows = list(data.index[s.isna().to_numpy()][:5])
        raise DataError(f"{what} {column!r} has {int(s.isna().sum())} missing value(s) "
                        f"(rows {shown_values(rows, 5)}); every respondent needs one.")
    return factor(s)


def combine(*codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes of the interaction of several code vectors (the distinct combinations present).

    The codes are non-negative integers; their combination is one int64 key per row (a 1-D
    ``unique``, not a row-wise one), in the order of the first vector, then the second, ...
    """
    if len(codes) == 1:
        c, lev = factor(codes[0])
        return c, len(lev)
    key = np.zeros(len(codes[0]), dtype=np.int64)
    span = 1
    for c in codes:
        c = np.asarray(c, dtype=np.int64)
        top = int(c.max()) + 1 if c.size else 1
        if span * top >= 2 ** 62:           # too many combinations for one key: row-wise
            stacked = np.column_stack([np.asarray(v, dtype=np.int64) for v in codes])
            _, inv = np.unique(stacked, axis=0, return_inverse=True)
            inv = inv.reshape(-1).astype(np.intp)
            return inv, int(inv.max()) + 1
        key = key * top + c
        span *= top
    _, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1).astype(np.intp)
    return inv, int(inv.max()) + 1


def pair_counts(group: np.ndarray, member: np.ndarray, n_groups: int) -> np.ndarray:
    """Count the distinct ``member`` codes within each ``group`` code (n_groups,)."""
    key = np.asarray(group, dtype=np.int64) * (int(member.max()) + 1) + member
    uniq = np.unique(key)
    return np.bincount(uniq // (int(member.max()) + 1), minlength=n_groups)


def resolve_weights(data: pd.DataFrame, weights: Any
                    ) -> tuple[np.ndarray | None, Any, np.ndarray | None, str]:
    """Weights of a design: (weights or None, replicate object, replicate matrix, label).

    A column must be numeric, finite, non-negative and complete (NaN is refused: give weight 0
    to rows that should not count). Attrition and replicate weights are aligned by index;
    their non-respondents (NaN) get weight 0.
    """
    from sosstats.weighting import AttritionWeights, ReplicateWeights

    if weights is None:
        return None, None, None, "unweighted"
    if isinstance(weights, str):
        check_columns(data, weights, what="weights column")
        w = check_weights(data[weights], f"weights column {weights!r}")
        return w, None, None, f"column {weights!r}"
    if isinstance(weights, (AttritionWeights, ReplicateWeights)):
        series = weights.full.weights if isinstance(weights, ReplicateWeights) else weights.weights
        what = f"`weights` ({type(weights).__name__})"
        pos = aligned_positions(series.index, data.index, what)
        w = np.nan_to_num(check_weights(series, f"{what}.weights", allow_nan=True), nan=0.0)
        w = w if pos is None else w[pos]
        if isinstance(weights, AttritionWeights):
            return w, None, None, f"AttritionWeights ({weights.method})"
        rep = np.nan_to_num(weights.replicates.to_numpy(dtype=float), nan=0.0)
        rep = rep if pos is None else rep[pos]
        label = (f"bootstrap replicates, B={weights.n_replicates}, resampling "
                 + (f"{weights.n_clusters} clusters of {weights.cluster!r}" if weights.cluster
                    else "units"))
        return w, weights, rep, label
    raise DataError("`weights` must be None, a column name, an AttritionWeights or a "
                    f"ReplicateWeights; got {type(weights).__name__}.")


def fpc_values(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Return the fpc columns as a float (n, stages) array: numeric, complete, non-negative."""
    check_columns(data, columns, what="fpc column")
    out = np.empty((len(data), len(columns)))
    for j, col in enumerate(columns):
        s = data[col]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            raise DataError(f"fpc column {col!r} ({s.dtype}) must be numeric.")
        v = s.to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(v).any():
            raise DataError(f"fpc column {col!r} has {int(np.isnan(v).sum())} missing value(s).")
        if (~np.isfinite(v)).any() or (v < 0).any():
            raise DataError(f"fpc column {col!r} must be finite and non-negative.")
        out[:, j] = v
    big, small = out > 1, out < 1
    if big.any() and small.any():
        raise DataError(f"fpc column(s) {', '.join(map(repr, columns))} mix population sizes "
                        "(> 1) and sampling fractions (< 1): give all as one or the other (as R "
                        "survey: values <= 1 are fractions).")
    return out


def stage_names(value: Any, what: str) -> list[str]:
    """Column names of a per-stage argument (a name or a list of names)."""
    names = as_list(value)
    if any(not isinstance(c, str) for c in names):
        raise DataError(f"`{what}` must be a column name or a list of column names; "
                        f"got {value!r}.")
    return names


def too_few(n_psu: int, what: str) -> None:
    """Refuse a design with fewer than two PSUs."""
    if n_psu < 2:
        raise DesignError(f"{what} has {n_psu} PSU; design-based standard errors need at least "
                          "two clusters.")
