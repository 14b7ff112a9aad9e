"""Shared pieces of the non-response checks and the MNAR sensitivity analyses.

Validation of response indicators, groups, weights and clusters; binomial intervals; the
contingency-table test; influence-function variances; the Imbens-Manski critical value. Used by
:mod:`sosstats.weighting.nonresponse`, :mod:`sosstats.weighting.sensitivity` and their private
modules only.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sosstats._validate import check_binary, check_columns, check_weights
from sosstats.errors import DataError, DesignError, SosstatsWarning

__all__ = [
    "indicator",
    "factor",
    "resolve_weights",
    "cluster_codes",
    "binomial_interval",
    "contingency_test",
    "if_covariance",
    "imbens_manski",
    "outcome_values",
]


def indicator(data: pd.DataFrame, column: str, *, what: str = "response indicator",
              both: bool = False) -> np.ndarray:
    """Boolean array of a 0/1 or boolean column with no missing values.

    With ``both=True`` a :class:`DesignError` is raised when the column is all 0 or all 1.
    """
    if not isinstance(column, str):
        raise DataError(f"{what} must be a column name; got {type(column).__name__}.")
    check_columns(data, column, what=what)
    s = data[column]
    # an object column of Python booleans / 0-1 numbers counts as its inferred dtype
    r = check_binary(s.infer_objects() if s.dtype == object else s, f"{what} {column!r}")
    if both and r.all():
        raise DesignError(f"{what} {column!r} is 1 for every row: there are no "
                          "non-respondents to compare.")
    if both and not r.any():
        raise DesignError(f"{what} {column!r} is 0 for every row: there are no respondents.")
    return r


def factor(data: pd.DataFrame, column: str, *, what: str = "group",
           reference: Any = None) -> tuple[np.ndarray, list]:
    """Integer codes and levels of a grouping column (no NaN allowed).

    Levels are the categories present (in category order) or the sorted distinct values;
    ``reference`` (when given) is moved to the front.
    """
    check_columns(data, column, what=what)
    s = data[column]
    if s.isna().any():
        raise DataError(f"{what} {column!r} has {int(s.isna().sum())} missing value(s); give "
                        "them a level of their own or drop those rows first.")
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.unique())
        levels = [c for c in s.cat.categories if c in present]
    else:
        levels = sorted(pd.unique(s), key=lambda v: (str(type(v)), v))
    if reference is not None:
        if reference not in levels:
            raise DataError(f"`reference` {reference!r} is not a level of {what} {column!r}; "
                            f"its levels are {', '.join(map(repr, levels))}.")
        levels = [reference] + [v for v in levels if v != reference]
    lookup = pd.Index(levels)
    codes = lookup.get_indexer(s.astype(object).to_numpy())
    return codes.astype(np.int64), levels


def resolve_weights(data: pd.DataFrame, weights: Any, name: str = "weights") -> np.ndarray:
    """Weights as a float array on the rows of ``data`` (NaN kept; negative or inf refused).

    ``weights`` is a column name, a pandas Series on ``data.index``, an object with a
    ``.weights`` Series (:class:`~sosstats.weighting.AttritionWeights`) or one with a ``.full``
    attribute holding such an object (replicate weights).
    """
    obj = weights
    if hasattr(obj, "full") and hasattr(obj.full, "weights"):
        obj = obj.full
    if isinstance(obj, str):
        check_columns(data, obj, what="weights column")
        s = data[obj]
        label = repr(obj)
    elif isinstance(obj, pd.Series) or isinstance(getattr(obj, "weights", None), pd.Series):
        s = obj if isinstance(obj, pd.Series) else obj.weights
        if not s.index.equals(data.index):
            if len(s) != len(data) or not s.index.sort_values().equals(
                    data.index.sort_values()) or s.index.has_duplicates:
                raise DataError(f"`{name}` is not aligned to `data`: its index must hold the "
                                "same row labels as data.index.")
            s = s.reindex(data.index)
        label = f"`{name}`"
    else:
        raise DataError(f"`{name}` must be a column name, a Series on data.index or an "
                        f"AttritionWeights result; got {type(weights).__name__}.")
    return check_weights(s, f"weights {label}", allow_nan=True, require_positive_sum=False)


def cluster_codes(data: pd.DataFrame, cluster: str | None) -> np.ndarray | None:
    """Integer codes of a cluster column (None passes through); NaN refused."""
    if cluster is None:
        return None
    check_columns(data, cluster, what="cluster column")
    s = data[cluster]
    if s.isna().any():
        raise DataError(f"cluster column {cluster!r} has {int(s.isna().sum())} missing "
                        "value(s).")
    return pd.factorize(s)[0].astype(np.int64)


def outcome_values(data: pd.DataFrame, outcome: str, observed: np.ndarray, *,
                   binary: bool = False) -> np.ndarray:
    """Float outcome with NaN where not ``observed``; observed values must be present.

    With ``binary=True`` observed values must be 0/1 (or boolean).
    """
    check_columns(data, outcome, what="outcome")
    s = data[outcome]
    numbers = (bool, int, float, np.bool_, np.integer, np.floating)
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or (
            s.dtype == object and all(isinstance(v, numbers) for v in s.dropna()))):
        raise DataError(f"outcome {outcome!r} must be numeric or boolean; got {s.dtype}.")
    y = s.astype(float).to_numpy(copy=True)
    miss = observed & np.isnan(y)
    if miss.any():
        raise DataError(f"outcome {outcome!r} is missing (NaN) for {int(miss.sum())} "
                        "respondent(s); count them as non-respondents in the response "
                        "indicator.")
    if np.isinf(y[observed]).any():
        raise DataError(f"outcome {outcome!r} has infinite values.")
    if binary:
        bad = observed & ~np.isin(y, (0.0, 1.0))
        if bad.any():
            shown = ", ".join(map(repr, pd.unique(y[bad])[:5]))
            raise DataError(f"outcome {outcome!r} must be binary (0/1 or boolean) among "
                            f"respondents; found {shown}.")
    y[~observed] = np.nan
    return y


def binomial_interval(x: np.ndarray, n: np.ndarray, level: float, method: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score or Clopper-Pearson ("exact") interval for ``x`` successes in ``n``."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1.0 - level
    if method == "exact":
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.where(x > 0, stats.beta.ppf(alpha / 2, x, n - x + 1), 0.0)
            hi = np.where(x < n, stats.beta.ppf(1 - alpha / 2, x + 1, n - x), 1.0)
        return lo, hi
    z = stats.norm.ppf(1 - alpha / 2)
    p = x / n
    centre = (x + z**2 / 2) / (n + z**2)
    half = z * np.sqrt(n) / (n + z**2) * np.sqrt(p * (1 - p) + z**2 / (4 * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def contingency_test(table: np.ndarray, name: str) -> dict[str, Any]:
    """Test of independence for a (levels x 2) table of counts.

    Pearson chi-square without continuity correction; Fisher's exact test for a 2 x 2 table with
    an expected count below 5. A table with one level or an empty column is not testable (NaN).
    """
    table = np.asarray(table, dtype=float)
    out = {"test": "not testable", "statistic": np.nan, "df": np.nan, "p_value": np.nan,
           "min_expected": np.nan}
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return out
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    out["min_expected"] = float(expected.min())
    if table.shape == (2, 2) and expected.min() < 5:
        out.update(test="fisher exact", p_value=float(stats.fisher_exact(table)[1]))
        return out
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    if expected.min() < 1:
        warnings.warn(f"{name!r}: an expected count is below 1 ({expected.min():.2g}); the "
                      "chi-square p-value is unreliable (merge sparse levels).",
                      SosstatsWarning, stacklevel=4)
    out.update(test="pearson chi-square", statistic=float(chi2), df=float(dof), p_value=float(p))
    return out


def if_covariance(z: np.ndarray, *, cluster: np.ndarray | None = None,
                  strata: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Covariance of the totals of influence values ``z`` (n, k) and its degrees of freedom.

    Without clusters: ``sum_h n_h/(n_h-1) sum_{i in h} (z_i - zbar_h)(z_i - zbar_h)'`` over
    strata ``h`` (one stratum when ``strata`` is None), df infinite (normal reference). With
    clusters: cluster totals ``u_g``, ``G/(G-1) sum_g (u_g - ubar)(u_g - ubar)'``, df ``G - 1``.
    This is the with-replacement (Taylor linearisation) estimator of R's survey package.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    if cluster is not None:
        n_g = int(cluster.max()) + 1
        if n_g < 2:
            raise DesignError("`cluster` has a single cluster; a clustered standard error "
                              "needs at least two.")
        u = np.zeros((n_g, z.shape[1]))
        np.add.at(u, cluster, z)
        u -= u.mean(axis=0)
        return n_g / (n_g - 1) * (u.T @ u), float(n_g - 1)
    codes = np.zeros(len(z), np.int64) if strata is None else strata
    n_h = np.bincount(codes).astype(float)
    sums = np.zeros((len(n_h), z.shape[1]))
    np.add.at(sums, codes, z)
    zc = z - (sums / np.maximum(n_h, 1)[:, None])[codes]
    f = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 0.0)[codes]
    return (zc * f[:, None]).T @ zc, float("inf")


def imbens_manski(lower: np.ndarray, upper: np.ndarray, se_lower: np.ndarray,
                  se_upper: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Imbens-Manski (2004) confidence interval for the parameter in ``[lower, upper]``.

    ``C`` solves ``Phi(C + (upper - lower) / max(se_lower, se_upper)) - Phi(-C) = level``; the
    interval is ``[lower - C se_lower, upper + C se_upper]``.
    """
    lower, upper, se_l, se_u = (np.atleast_1d(np.asarray(a, dtype=float))
                                for a in (lower, upper, se_lower, se_upper))
    c = np.empty(lower.shape)
    z_two = stats.norm.ppf(0.5 + level / 2)
    for k in range(lower.size):          # one scalar root per identified set (a handful)
        s = max(se_l[k], se_u[k])
        if not np.isfinite(s) or not np.isfinite(upper[k] - lower[k]):
            c[k] = np.nan
            continue
        if s == 0:
            c[k] = 0.0
            continue
        gap = max(upper[k] - lower[k], 0.0) / s

        def f(cc: float, gap: float = gap) -> float:
            return stats.norm.cdf(cc + gap) - stats.norm.cdf(-cc) - level

        c[k] = optimize.brentq(f, -50.0, z_two + 1e-12, xtol=1e-14) if f(z_two) > 0 else z_two
    return lower - c * se_l, upper + c * se_u
