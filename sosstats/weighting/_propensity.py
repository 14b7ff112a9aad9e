"""Covariate design matrices and response-propensity models for attrition weighting.

Helpers of :func:`sosstats.weighting.attrition_weights`: turn the covariate columns into a
numeric matrix (numbers as they are, booleans as 0/1, categories dummy-coded) and fit a logit or
probit model of response on it with statsmodels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from sosstats.errors import DataError, SosstatsWarning

__all__ = ["is_categorical", "design_matrix", "fit_propensity"]


def is_categorical(s: pd.Series) -> bool:
    """Return True for category, object, string or boolean columns (used as categories)."""
    return bool(isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s)
                or pd.api.types.is_string_dtype(s) or pd.api.types.is_bool_dtype(s))


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    return sorted(pd.unique(s.dropna()), key=lambda v: (str(type(v)), v))


def design_matrix(data: pd.DataFrame, covariates: list[str], *, drop_first: bool
                  ) -> tuple[np.ndarray, list[str], list[str]]:
    """Numeric matrix of the covariates, its column names and each column's source covariate.

    Boolean columns become one 0/1 column; other categorical columns one dummy per level
    present (the first dropped when ``drop_first``). Raises :class:`DataError` for NaN or
    non-finite values, naming the covariate.
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    source: list[str] = []
    for c in covariates:
        s = data[c]
        if s.isna().any():
            raise DataError(f"covariate {c!r} has {int(s.isna().sum())} missing value(s) (NaN); "
                            "drop or impute those rows first.")
        if pd.api.types.is_bool_dtype(s):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
            source.append(c)
        elif is_categorical(s):
            levels = _levels(s)
            values = s.to_numpy(dtype=object)
            for lev in levels[1 if drop_first else 0:]:
                cols.append((values == lev).astype(float))
                names.append(f"{c}[{lev}]")
                source.append(c)
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                raise DataError(f"covariate {c!r} has infinite values.")
            cols.append(v)
            names.append(c)
            source.append(c)
        else:
            raise DataError(f"covariate {c!r} has unsupported dtype {s.dtype}.")
    X = np.column_stack(cols) if cols else np.empty((len(data), 0))
    return X, names, source


def _separation(X: np.ndarray, r: np.ndarray, names: list[str]) -> tuple[list[str], list[str]]:
    """Covariates that separate response completely (fatal) or quasi-completely (warn)."""
    complete, quasi = [], []
    for j, name in enumerate(names):
        x = X[:, j]
        x1, x0 = x[r], x[~r]
        if np.ptp(x) == 0:
            continue
        if x1.max() < x0.min() or x0.max() < x1.min():
            complete.append(name)
        elif x1.max() <= x0.min() or x0.max() <= x1.min():
            quasi.append(name)
    return complete, quasi


def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Columns of ``X`` not constant and not linear in the intercept and the columns before.

    Within a cell a category can be absent (its dummy is all zero) or the only one left (its
    dummy equals the intercept); such columns carry no information and are dropped. The
    diagonal of R in the QR decomposition of ``[1, X]`` is the part of each column orthogonal
    to those before it.
    """
    if X.shape[1] == 0:
        return np.zeros(0, bool)
    Z = np.column_stack([np.ones(len(X)), X])
    scale = np.linalg.norm(Z, axis=0)
    keep = np.ones(Z.shape[1], bool)
    for _ in range(Z.shape[1]):          # repeat until the kept columns are independent
        R = np.linalg.qr(Z[:, keep], mode="r")
        small = np.abs(np.diag(R)) <= 1e-10 * np.maximum(scale[keep], 1.0)
        if not small.any():
            break
        keep[np.flatnonzero(keep)[np.argmax(small)]] = False
    return keep[1:]


def fit_propensity(X: np.ndarray, r: np.ndarray, names: list[str], *, link: str,
                   label: str = "") -> np.ndarray:
    """Fitted response probabilities from a logit or probit model with an intercept.

    Constant columns are dropped. A covariate that separates respondents from non-respondents
    completely raises :class:`DataError`; quasi-complete separation gives a
    :class:`SosstatsWarning` naming it (its fitted probabilities go to 0 or 1).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    keep = _independent_columns(X)
    X = X[:, keep]
    names = [n for n, k in zip(names, keep) if k]
    where = f" in cell {label}" if label else ""
    complete, quasi = _separation(X, r, names)
    if complete:
        raise DataError(f"covariate(s) {', '.join(map(repr, complete))} perfectly predict "
                        f"response{where}; response probabilities of 0 or 1 give infinite "
                        "weights: drop or coarsen them.")
    if quasi:
        warnings.warn(f"covariate(s) {', '.join(map(repr, quasi))} quasi-perfectly predict "
                      f"response{where}: some fitted response probabilities are near 0 or 1.",
                      SosstatsWarning, stacklevel=4)
    Z = np.column_stack([np.ones(len(r)), X])
    model = (sm.Logit if link == "logit" else sm.Probit)(r.astype(float), Z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (PerfectSeparationWarning, ConvergenceWarning,
                                         HessianInversionWarning, RuntimeWarning))
        try:
            res = model.fit(method="newton", tol=1e-12, maxiter=200, disp=0)
        except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
            raise DataError(f"the response model{where} cannot be fitted ({exc}); check "
                            f"covariates {', '.join(map(repr, names))} for separation or "
                            "collinearity.") from None
    p = np.asarray(res.predict(Z), dtype=float)
    if np.any(p[r] <= 1e-12):
        warnings.warn(f"some respondents{where} have fitted response probability ~0; their "
                      "weights are huge (consider trim= or max_deff=).", SosstatsWarning,
                      stacklevel=4)
    return p
