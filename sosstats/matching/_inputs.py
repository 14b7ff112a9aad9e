"""Input helpers shared by the matching modules: treatment, weights, subclasses, covariates.

Each validates one argument against the data (``DataError`` naming the column) and returns a
numpy array aligned with the rows of ``data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_binary, check_columns, check_not_mixed, check_weights
from sosstats.errors import DataError, DesignError

__all__ = ["ESTIMANDS", "balance_columns", "row_vector", "subclass_codes", "subclass_weights",
           "treatment_vector", "weight_vector"]

ESTIMANDS = ("ATT", "ATC", "ATE")
TINY = np.sqrt(np.finfo(float).eps)


# ------------------------------------------------------------------ shared input helpers

def treatment_vector(data: pd.DataFrame, treatment: str) -> np.ndarray:
    """The 0/1 (or boolean) treatment column as a bool array: the one treatment check of matching.

    Values are checked by :func:`sosstats._validate.check_binary` (``DataError`` naming the
    column); a column without treated or without control units raises ``DesignError``.
    """
    check_columns(data, treatment, what="treatment column")
    arr = check_binary(data[treatment], f"treatment column {treatment!r}")
    if not arr.any():
        raise DesignError(f"treatment column {treatment!r} has no treated units (no 1s).")
    if arr.all():
        raise DesignError(f"treatment column {treatment!r} has no control units (no 0s).")
    return arr


def row_vector(data: pd.DataFrame, spec: Any, name: str) -> pd.Series:
    """Return a column name, Series (on ``data.index``) or array of ``len(data)`` as a Series."""
    if isinstance(spec, str):
        check_columns(data, spec, what=f"`{name}` column")
        return data[spec].copy()
    if isinstance(spec, pd.Series):
        if not spec.index.equals(data.index):
            if not spec.index.isin(data.index).all() or spec.index.has_duplicates:
                raise DataError(f"`{name}` is a Series whose index does not match `data`'s.")
            spec = spec.reindex(data.index)
        return spec.copy()
    arr = np.asarray(spec)
    if arr.ndim != 1 or arr.shape[0] != data.shape[0]:
        raise DataError(f"`{name}` must be a column name or have one value per row of `data` "
                        f"({data.shape[0]}); got shape {arr.shape}.")
    return pd.Series(arr, index=data.index)


def weight_vector(data: pd.DataFrame, weights: Any, name: str = "weights") -> np.ndarray:
    """A column name, Series or array of weights as non-negative finite floats.

    :func:`row_vector` aligns them with ``data``; :func:`sosstats._validate.check_weights`
    checks them (``DataError``; all-zero weights are left to the caller, which names the group
    with nothing matched).
    """
    return check_weights(row_vector(data, weights, name), f"`{name}`",
                         require_positive_sum=False)


def subclass_weights(treated: np.ndarray, codes: np.ndarray, estimand: str) -> np.ndarray:
    """MatchIt's weights from subclass codes (-1 = unmatched) for ATT, ATC or ATE.

    ATT: treated 1, controls ``n1_s / n0_s`` rescaled to sum to the number of matched controls;
    ATC mirrors it; ATE: ``n_s / n1_s`` and ``n_s / n0_s``, each group rescaled to its count
    (MatchIt ``weights.subclass``).
    """
    inside = codes >= 0
    k = int(codes.max()) + 1 if inside.any() else 0
    if k == 0:
        raise DesignError("`subclass` has no matched rows (all missing).")
    n1 = np.bincount(codes[inside & treated], minlength=k).astype(float)
    n0 = np.bincount(codes[inside & ~treated], minlength=k).astype(float)
    c = np.where(inside, codes, 0)
    w = np.zeros(codes.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_c = np.where(n0 > 0, n1 / np.where(n0 > 0, n0, 1), 0.0)
        ratio_t = np.where(n1 > 0, n0 / np.where(n1 > 0, n1, 1), 0.0)
        tot_t = np.where(n1 > 0, (n0 + n1) / np.where(n1 > 0, n1, 1), 0.0)
        tot_c = np.where(n0 > 0, (n0 + n1) / np.where(n0 > 0, n0, 1), 0.0)
    t_in, c_in = inside & treated, inside & ~treated
    w[t_in] = {"ATT": 1.0, "ATC": ratio_t[c[t_in]], "ATE": tot_t[c[t_in]]}[estimand]
    w[c_in] = {"ATT": ratio_c[c[c_in]], "ATC": 1.0, "ATE": tot_c[c[c_in]]}[estimand]
    for grp in (t_in, c_in):
        tot = w[grp].sum()
        if tot > 0:
            w[grp] *= grp.sum() / tot
    return w


def subclass_codes(data: pd.DataFrame, subclass: Any) -> np.ndarray:
    """Integer codes ``0..K-1`` for the subclass labels, -1 where missing (unmatched)."""
    s = row_vector(data, subclass, "subclass")
    codes, _ = pd.factorize(s, sort=True, use_na_sentinel=True)
    return codes.astype(np.intp)


# ------------------------------------------------- covariate columns of a balance table

def balance_columns(data: pd.DataFrame, covariates: list[str], *, squares: bool = False,
                    interactions: bool = False) -> tuple[np.ndarray, list[str], list[str]]:
    """Expand covariates to the columns a balance table reports: (X, names, source of each).

    Unlike the regression / propensity design (``_distance.covariate_matrix``, treatment
    contrasts), every level of a factor gets its own row here. Numeric and boolean columns stay; categorical / object columns become one dummy per level
    (a two-level one keeps only its second level, as cobalt). NaN raises DataError.
    """
    cols, names, source = [], [], []
    for c in covariates:
        s = data[c]
        check_not_mixed(s, f"covariate {c!r}")
        if s.isna().any():
            raise DataError(f"covariate {c!r} has {int(s.isna().sum())} missing value(s); drop "
                            "or impute them first.")
        if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
            source.append(c)
            continue
        cat = pd.Categorical(s)
        levels = [lv for lv in cat.categories if (cat == lv).any()]
        if len(levels) == 2:
            levels = levels[1:]
        for lv in levels:
            cols.append(np.asarray(cat == lv, dtype=float))
            names.append(f"{c}_{lv}")
            source.append(c)
    X = np.column_stack(cols)
    if not np.isfinite(X).all():
        bad = [n for n, ok in zip(names, np.isfinite(X).all(axis=0)) if not ok]
        raise DataError(f"covariate(s) {', '.join(map(repr, bad))} have infinite values.")
    extra, extra_names = [], []
    k = X.shape[1]
    for i in range(k):
        for j in range(i, k):
            if (i == j and not squares) or (i != j and not interactions):
                continue
            if i != j and source[i] == source[j] and names[i] != source[i]:
                continue                                  # dummies of one factor: product 0
            prod = X[:, i] * X[:, j]
            if np.all(np.abs(prod) < TINY) or np.all(np.abs(prod - X[:, i]) < TINY):
                continue                                  # zero, or a binary squared
            extra.append(prod)
            extra_names.append(f"{names[i]}^2" if i == j else f"{names[i]} * {names[j]}")
    if extra:
        X = np.column_stack([X] + extra)
        names = names + extra_names
    return X, names, source
