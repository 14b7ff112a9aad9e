r"""Distances for matching: propensity scores, Mahalanobis whitening, calipers, common support.

Everything here works on numpy arrays that :func:`sosstats.matching.match` has already checked
(finite, 0/1 treatment). The matching kernels in :mod:`sosstats._kernels.match_nearest` see only
the *points* built here: a column of scores for a one-dimensional distance (the kernels then
match on :math:`|s_t - s_c|`), or whitened covariates for a multivariate one (the kernels then
use the Euclidean distance).

Notes
-----
**Propensity score** (``"logit"``, MatchIt's ``distance = "glm"``): the fitted probability
:math:`\hat e(x) = 1 / (1 + e^{-x'\hat\beta})` of a logistic regression of the treatment on the
covariates with an intercept, fitted by maximum likelihood (statsmodels ``Logit``, Newton's
method). ``"linear_logit"`` matches on the linear predictor :math:`x'\hat\beta` instead (MatchIt's
``link = "linear.logit"``), which spreads out scores near 0 and 1.

**Mahalanobis distance** (MatchIt 4's definition): with :math:`S` the pooled within-group
covariance of the covariates over units not discarded,
:math:`S = \sum_g \sum_{i \in g} (x_i - \bar x_g)(x_i - \bar x_g)' / (n - 2)`,
:math:`d(a, b)^2 = (a - b)' S^{-1} (a - b)`. With :math:`S = L L'` (Cholesky),
:math:`d(a, b) = \lVert L^{-1} a - L^{-1} b \rVert`, so whitening the rows once lets the kernels
use plain Euclidean distances. A singular :math:`S` (collinear covariates, e.g. all dummies of a
factor) uses the Moore-Penrose inverse through the eigendecomposition, as MatchIt's generalised
inverse does.

**Caliper** (MatchIt's ``std.caliper = TRUE``): a caliper of :math:`c` standard deviations allows
a pair only if :math:`|s_t - s_c| \le c \cdot \mathrm{sd}(s)`, with the sample standard deviation
of the score over all units not discarded (both groups together).

**Calipers on covariates** (MatchIt's named calipers): a pair must also satisfy
:math:`|x_{tk} - x_{ck}| \le c_k` for each named numeric covariate :math:`k`, with
:math:`c_k` in standard deviations of :math:`x_k` (units not discarded) when ``std_caliper``.

**Common support** (MatchIt's ``discard``): ``"both"`` discards every unit whose score lies
outside :math:`[\max(\min s_1, \min s_0), \min(\max s_1, \max s_0)]`; ``"treated"`` discards
treated units outside the range of the controls' scores and ``"control"`` the reverse.

References
----------
Rosenbaum, P. R. and Rubin, D. B. (1985). Constructing a control group using multivariate
matched sampling methods that incorporate the propensity score. *The American Statistician*
39(1), 33-38.

Ho, D. E., Imai, K., King, G. and Stuart, E. A. (2011). MatchIt: nonparametric preprocessing for
parametric causal inference. *Journal of Statistical Software* 42(8). MatchIt 4.5 reference
manual: ``distance``, ``method_nearest`` (``caliper``, ``std.caliper``, ``discard``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from sosstats._validate import check_not_mixed
from sosstats.errors import ConvergenceError, DataError, DesignError, SosstatsWarning

__all__ = [
    "DISTANCES",
    "DISCARD_OPTIONS",
    "DistanceInfo",
    "covariate_matrix",
    "propensity_score",
    "whiten_mahalanobis",
    "resolve_distance",
    "common_support",
    "caliper_width",
    "covariate_calipers",
]

DISTANCES = ("logit", "linear_logit", "mahalanobis", "euclidean")
DISCARD_OPTIONS = ("none", "both", "treated", "control")


@dataclass(frozen=True)
class DistanceInfo:
    """A resolved distance: what the kernels match on, and the score to report.

    Attributes
    ----------
    kind : str
        ``"logit"``, ``"linear_logit"``, ``"score"`` (user supplied), ``"mahalanobis"`` or
        ``"euclidean"``.
    score : ndarray of shape (n,) or None
        The one-dimensional distance of every unit (propensity score, linear predictor or user
        score); None for multivariate distances.
    points : ndarray of shape (n, p)
        What the kernels compare with Euclidean distances: ``score[:, None]`` or whitened
        covariates.
    model : object or None
        The fitted statsmodels ``Logit`` result for propensity scores.
    """

    kind: str
    score: np.ndarray | None
    points: np.ndarray
    model: Any = None

    @property
    def is_score(self) -> bool:
        """True for one-dimensional distances (propensity, linear predictor, user score)."""
        return self.score is not None


def covariate_matrix(data: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric design matrix (no intercept) of ``covariates``, with dummies for categories.

    Numeric and boolean columns enter as they are; categorical, string and object columns
    become one 0/1 column per level except the first (levels in category order, else sorted),
    as R's treatment contrasts do. The caller has checked that there are no missing values.
    """
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col in covariates:
        s = data[col]
        check_not_mixed(s, f"covariate {col!r}")
        if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                             and not isinstance(s.dtype, pd.CategoricalDtype)):
            blocks.append(s.to_numpy(dtype=float)[:, None])
            names.append(col)
            continue
        levels = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                  else sorted(pd.unique(s), key=str))
        codes = pd.Categorical(s, categories=levels).codes
        for j, lev in enumerate(levels[1:], start=1):
            blocks.append((codes == j).astype(float)[:, None])
            names.append(f"{col}[{lev}]")
    if not blocks:
        return np.empty((data.shape[0], 0)), []
    return np.hstack(blocks), names


def propensity_score(x: np.ndarray, treat: np.ndarray, names: list[str], *,
                     linear: bool = False) -> tuple[np.ndarray, Any]:
    r"""Logistic-regression propensity score (or its linear predictor) for every row.

    Parameters
    ----------
    x : ndarray of shape (n, p)
        Covariates without an intercept (one is added).
    treat : ndarray of shape (n,)
        0/1 treatment.
    names : list of str
        Column names of ``x``, used in messages and on the fitted model.
    linear : bool, default False
        Return the linear predictor :math:`x'\hat\beta` instead of the probability.

    Returns
    -------
    score : ndarray of shape (n,)
    model : statsmodels ``BinaryResults``

    Raises
    ------
    DataError
        Collinear covariates (the design is not of full column rank).
    ConvergenceError
        Newton's method did not converge.
    """
    import statsmodels.api as sm

    design = np.column_stack([np.ones(x.shape[0]), x])
    rank = np.linalg.matrix_rank(design)
    if rank < design.shape[1]:
        raise DataError("the propensity-score covariates are collinear (the design matrix "
                        f"with an intercept has rank {rank} < {design.shape[1]} columns: "
                        f"{', '.join(names)}); drop a redundant covariate.")
    model = sm.Logit(treat.astype(float), pd.DataFrame(design, columns=["Intercept"] + names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = model.fit(method="newton", maxiter=100, tol=1e-12, disp=0)
        except np.linalg.LinAlgError as exc:  # singular Hessian under separation
            raise ConvergenceError("the propensity-score logit could not be fitted (singular "
                                   "information matrix, usually complete separation of the "
                                   "treatment by the covariates).") from exc
    if not fit.mle_retvals.get("converged", True):
        raise ConvergenceError("the propensity-score logit did not converge in 100 Newton "
                               "steps; check for covariates that separate treated from "
                               "control units.")
    eta = design @ np.asarray(fit.params)
    if linear:
        return eta, fit
    score = 1.0 / (1.0 + np.exp(-eta))
    if np.any(score < 1e-10) or np.any(score > 1 - 1e-10):
        warnings.warn("some propensity scores are 0 or 1 to numerical precision (near "
                      "separation); matching on distance='linear_logit' may discriminate "
                      "better.", SosstatsWarning, stacklevel=4)  # user, match, resolve_distance
    return score, fit


def whiten_mahalanobis(x: np.ndarray, treat: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows of ``x`` whitened by the pooled within-group covariance of the ``keep`` rows.

    Euclidean distances between the returned rows are Mahalanobis distances (module Notes).
    Columns that are constant over the kept rows carry no information and are dropped.
    """
    xk, tk = x[keep], treat[keep]
    varying = np.ptp(xk, axis=0) > np.sqrt(np.finfo(float).eps) * np.maximum(
        1.0, np.abs(xk).max(axis=0))
    if not varying.any():
        raise DataError("every Mahalanobis covariate is constant; nothing to match on.")
    x, xk = x[:, varying], xk[:, varying]
    centred = xk.copy()
    for g in (0, 1):
        rows = tk == g
        centred[rows] -= centred[rows].mean(axis=0)
    dof = xk.shape[0] - 2
    if dof < 1:
        raise DesignError("Mahalanobis matching needs at least three units to estimate the "
                          "pooled covariance.")
    cov = centred.T @ centred / dof
    try:
        chol = linalg.cholesky(cov, lower=True)
        if np.min(np.abs(np.diag(chol))) < 1e-10 * np.sqrt(np.max(np.diag(cov))):
            raise linalg.LinAlgError
        return linalg.solve_triangular(chol, x.T, lower=True).T
    except linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        pos = vals > vals.max() * 1e-10
        return (x @ vecs[:, pos]) / np.sqrt(vals[pos])


def resolve_distance(distance: Any, data: pd.DataFrame, treat: np.ndarray, x: np.ndarray,
                     names: list[str]) -> DistanceInfo:
    """Turn the ``distance`` argument of :func:`match` into a :class:`DistanceInfo`.

    ``distance`` is one of :data:`DISTANCES`, a column name of ``data`` holding a numeric score,
    or an array of one score per row. Mahalanobis whitening is left to the caller (it depends
    on the units discarded); here ``points`` holds the raw covariates for both multivariate
    options.
    """
    if isinstance(distance, str):
        if distance in ("logit", "linear_logit"):
            if x.shape[1] == 0:
                raise DataError(f"`distance`={distance!r} needs at least one covariate.")
            score, fit = propensity_score(x, treat, names, linear=distance == "linear_logit")
            return DistanceInfo(distance, score, score[:, None], fit)
        if distance in ("mahalanobis", "euclidean"):
            if x.shape[1] == 0:
                raise DataError(f"`distance`={distance!r} needs at least one covariate.")
            return DistanceInfo(distance, None, x)
        if distance not in data.columns:
            raise DataError(f"`distance` must be one of {', '.join(map(repr, DISTANCES))}, a "
                            f"column of `data` or an array of scores; got {distance!r}.")
        column = data[distance]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise DataError(f"`distance` column {distance!r} must be numeric; got "
                            f"{column.dtype}.")
        score = column.to_numpy(dtype=float, copy=True)
        label = f"column {distance!r}"
    else:
        try:
            score = np.array(distance, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError("`distance` must be a method name, a column name or an array of "
                            "numeric scores.") from exc
        if score.shape[0] != data.shape[0]:
            raise DataError(f"`distance` has {score.shape[0]} scores but `data` has "
                            f"{data.shape[0]} rows.")
        label = "array"
    if not np.isfinite(score).all():
        raise DataError(f"`distance` {label} has {int((~np.isfinite(score)).sum())} missing or "
                        "infinite scores.")
    return DistanceInfo("score", score, score[:, None])


def common_support(score: np.ndarray | None, treat: np.ndarray, option: str) -> np.ndarray:
    """Boolean mask of units discarded for lying outside the common support (module Notes)."""
    n = treat.shape[0]
    if option == "none":
        return np.zeros(n, dtype=bool)
    if score is None:
        raise DataError(f"`discard`={option!r} needs a one-dimensional distance (a propensity "
                        "or user score); use discard='none' with Mahalanobis or Euclidean "
                        "distances.")
    s1, s0 = score[treat == 1], score[treat == 0]
    if option == "both":
        lo, hi = max(s1.min(), s0.min()), min(s1.max(), s0.max())
        return (score < lo) | (score > hi)
    if option == "control":
        return (treat == 0) & ((score < s1.min()) | (score > s1.max()))
    return (treat == 1) & ((score < s0.min()) | (score > s0.max()))


def caliper_width(caliper: float | None, std_caliper: bool, info: DistanceInfo,
                  keep: np.ndarray) -> float | None:
    """Caliper on the distance scale (module Notes), or None for no caliper.

    Raises
    ------
    DataError
        A negative or non-finite caliper, or a caliper in standard deviations with a
        multivariate distance (use ``std_caliper=False`` to cap the distance itself).
    """
    if caliper is None:
        return None
    if isinstance(caliper, bool) or not isinstance(caliper, (int, float, np.number)):
        raise DataError(f"`caliper` must be a non-negative number or None; got {caliper!r}.")
    caliper = float(caliper)
    if not np.isfinite(caliper) or caliper < 0:
        raise DataError(f"`caliper` must be a non-negative finite number or None; got "
                        f"{caliper!r}.")
    if not std_caliper:
        return caliper
    if info.score is None:
        raise DataError(f"`caliper` in standard deviations (std_caliper=True) needs a "
                        f"one-dimensional distance; with distance={info.kind!r} pass "
                        "std_caliper=False to cap the distance itself.")
    sd = float(np.std(info.score[keep], ddof=1)) if keep.sum() > 1 else 0.0
    return caliper * sd


def covariate_calipers(caliper: Any, std_caliper: bool, data: pd.DataFrame,
                       keep: np.ndarray) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """Split a caliper mapping into the distance caliper and calipers on covariates.

    ``caliper`` may be a number (the distance caliper), None, or a mapping from numeric column
    names to widths, where the key ``"distance"`` names the distance caliper (MatchIt's
    unnamed element). Returns ``(distance caliper or None, values (n, q), widths (q,))`` with
    widths on the column scale (standard deviations converted when ``std_caliper``); the last
    two are None without covariate calipers.
    """
    if not isinstance(caliper, Mapping):
        return caliper, None, None
    caliper = dict(caliper)
    dist = caliper.pop("distance", None)
    if not caliper:
        return dist, None, None
    missing = [c for c in caliper if c not in data.columns]
    if missing:
        raise DataError(f"`caliper` names column(s) {', '.join(map(repr, missing))} that are not "
                        "in `data`.")
    values, widths = [], []
    for col, width in caliper.items():
        s = data[col]
        if (not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or s.nunique() <= 2):
            raise DataError(f"`caliper` on {col!r}: calipers need a numeric covariate with more "
                            "than two values (use `exact` for binary or categorical ones).")
        x = s.to_numpy(dtype=float)
        if not np.isfinite(x).all():
            raise DataError(f"`caliper` column {col!r} has missing or infinite values.")
        if isinstance(width, bool) or not isinstance(width, (int, float, np.number)) \
                or not np.isfinite(width) or width < 0:
            raise DataError(f"`caliper` for {col!r} must be a non-negative number; got "
                            f"{width!r}.")
        values.append(x)
        widths.append(float(width) * (np.std(x[keep], ddof=1) if std_caliper else 1.0))
    return dist, np.column_stack(values), np.asarray(widths)
