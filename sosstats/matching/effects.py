r"""Treatment effects on matched data: weighted difference / regression with robust errors.

:func:`matched_effect` fits ``outcome ~ treatment [+ covariates]`` by weighted least squares on
the matched rows (positive weight) and reports the treatment coefficient with a
cluster-robust standard error by pair after pair matching without replacement and a
heteroskedasticity-robust one otherwise (CEM, subclassification, matching with replacement), as
MatchIt's vignette "Estimating effects after matching" recommends. :func:`abadie_imbens_se`
gives the Abadie-Imbens (2006) standard error of nearest-neighbour matching with replacement.

Notes
-----
With matching weights :math:`w_i`, WLS gives :math:`\hat\beta = (X'WX)^{-1}X'Wy`; without
covariates the treatment coefficient is the weighted difference in means
:math:`\sum_{T} w_i y_i / \sum_T w_i - \sum_C w_i y_i / \sum_C w_i`. With residuals
:math:`e = y - X\hat\beta` and bread :math:`M = (X'WX)^{-1}`:

* cluster-robust (by pair, or by any cluster): :math:`V = c\, M (\sum_g u_g u_g') M`,
  :math:`u_g = \sum_{i \in g} x_i w_i e_i`, :math:`c = \frac{G}{G-1}\frac{n-1}{n-p}`
  (``"cr1"``; R ``sandwich::vcovCL(fit, cluster = ~subclass)``, whose defaults are type HC1
  with the cluster adjustment), computed by :func:`sosstats._kernels.cluster.cluster_vcov`
  (also ``"cr0"``, ``"cr2"``, ``"cr3"``). t reference with :math:`G - 1` df (Satterthwaite for
  CR2);
* heteroskedasticity-robust (no clusters): :math:`V = M (\sum_i a_i w_i^2 e_i^2 x_i x_i') M`
  with :math:`a_i = 1, \frac{n}{n-p}, \frac{1}{1-h_i}, \frac{1}{(1-h_i)^2}` for HC0-HC3 and
  :math:`h_i = w_i x_i' M x_i` (``sandwich::vcovHC``; HC3 is its default); t with
  :math:`n - p` df.

The fit and both covariances are :mod:`sosstats._wls` (shared with
:func:`sosstats.weighting.weighting_effect`). ``n`` counts the rows with a positive weight only.
With covariates the coefficient is the regression-adjusted effect of a model without
treatment-covariate interactions: it equals the estimand (ATT, ATC, ATE: encoded in the
weights) when the effect is homogeneous.

References
----------
Greifer, N. and Stuart, E. A. (2023). *Estimating Effects After Matching*. MatchIt vignette.
Abadie, A. and Spiess, J. (2022). Robust post-matching inference. *JASA* 117(538), 983-995.
Zeileis, A., Koell, S. and Graham, N. (2020). Various versatile variances: an object-oriented
implementation of clustered covariances in R. *J. Statistical Software* 95(1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._hypotheses import LinearFit, LinearHypotheses
from sosstats._kernels.cluster import default_kind, few_cluster_warning
from sosstats._results import Result, format_number
from sosstats._validate import as_list, check_columns, check_frame, check_level, check_option
from sosstats._wls import robust_vcov, wls
from sosstats.errors import DataError, DesignError
from sosstats.matching._distance import covariate_matrix
from sosstats.matching._inputs import (
    ESTIMANDS,
    subclass_codes,
    treatment_vector,
    weight_vector,
)

__all__ = ["MatchedEffectResult", "matched_effect"]

CLUSTER_KINDS = ("cr1", "cr0", "cr2", "cr3")
HC_KINDS = ("hc3", "hc0", "hc1", "hc2")


def outcome_vector(data: pd.DataFrame, outcome: str, rows: np.ndarray) -> np.ndarray:
    """Numeric outcome as floats; NaN among ``rows`` (a boolean mask) raises DataError."""
    check_columns(data, outcome, what="outcome column")
    s = data[outcome]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise DataError(f"outcome column {outcome!r} must be numeric; got dtype {s.dtype}.")
    y = s.to_numpy(dtype=float)
    bad = ~np.isfinite(y) & rows
    if bad.any():
        raise DataError(f"outcome column {outcome!r} has {int(bad.sum())} missing or infinite "
                        "value(s) among the matched rows; drop those rows before matching.")
    return y


def design_matrix(data: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Covariates as regression columns: numeric/boolean as is, categorical as treatment dummies.

    The matrix of :func:`sosstats.matching._distance.covariate_matrix` (the propensity-score
    design of :func:`~sosstats.matching.match`): each categorical covariate gets one dummy per
    level except the first, as R's default treatment contrasts. NaN or inf raise DataError.
    """
    for c in covariates:
        if data[c].isna().any():
            raise DataError(f"covariate {c!r} has {int(data[c].isna().sum())} missing value(s).")
    X, names = covariate_matrix(data, covariates)
    if not np.isfinite(X).all():
        bad = [n for n, ok in zip(names, np.isfinite(X).all(axis=0)) if not ok]
        raise DataError(f"covariate(s) {', '.join(map(repr, bad))} have infinite values.")
    return X, names


@dataclass(frozen=True, eq=False, kw_only=True)
class MatchedEffectResult(LinearHypotheses, Result):
    """Result of :func:`matched_effect`.

    ``wald_test`` and ``contrast`` test any linear hypothesis on :attr:`coefficients` (every
    term of the model) with the result's covariance (:mod:`sosstats._hypotheses`).

    Attributes
    ----------
    method : str
        ``"difference"`` (weighted difference in means) or ``"regression"``.
    estimand : str
        ``"ATT"``, ``"ATC"`` or ``"ATE"`` (as encoded in the weights).
    inference : str
        ``"cr1"``.. (cluster-robust) or ``"hc3"``.. (heteroskedasticity-robust).
    table : pandas.DataFrame
        The effect: one row named after the treatment column, columns ``estimate``,
        ``std_error``, ``statistic``, ``p_value``, ``df``.
    coefficients : pandas.DataFrame
        Every term of the fitted model (``Intercept``, the treatment, covariates).
    vcov : pandas.DataFrame
        Robust covariance of all coefficients.
    nobs, n_treated, n_control : int
        Matched rows (positive weight) in all and by group.
    n_clusters : int or None
        Clusters used (None for HC errors).
    level : float
        Confidence level.
    """

    method: str
    estimand: str
    inference: str
    table: pd.DataFrame
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    nobs: int
    n_treated: int
    n_control: int
    n_clusters: int | None = None
    level: float = 0.95
    info: dict = field(default_factory=dict, repr=False)
    _fit: LinearFit | None = field(default=None, repr=False)

    def _estimates(self) -> pd.DataFrame:
        return self.table[["estimate", "std_error", "statistic", "p_value", "df"]].copy()

    def _linear_fit(self) -> LinearFit:
        if self._fit is None:
            raise DesignError("this result carries no fit to test hypotheses on.")
        return self._fit

    def _notes(self) -> list[str]:
        by = (f"cluster-robust {self.inference.upper()} by {self.info.get('cluster_by')} "
              f"({self.n_clusters} clusters)" if self.n_clusters is not None
              else f"heteroskedasticity-robust {self.inference.upper()}")
        df = format_number(float(self.table["df"].iloc[0]))
        dfs = {"cr2": f"Satterthwaite df {df}"}.get(self.inference, f"t with {df} df")
        why = ""
        if self.info.get("vcov_default") and self.inference == "cr2":
            why = "; CR2 is the default below 42 clusters, vcov='cr1' by name"
        return [f"{self.estimand}; {self.nobs} matched rows ({self.n_treated} treated, "
                f"{self.n_control} control); {by} standard errors, {dfs}{why}."]


def matched_effect(data: pd.DataFrame, outcome: str, treatment: str, weights: Any = None,
                   subclass: Any = None, *, covariates: str | list[str] | None = None,
                   method: str | None = None, estimand: str = "ATT",
                   cluster: Any = "subclass", vcov: str | None = None,
                   level: float = 0.95) -> MatchedEffectResult:
    """Effect of treatment on the matched data, with pair / subclass cluster-robust errors.

    Parameters
    ----------
    data : pandas.DataFrame
        All units (matched or not; not modified).
    outcome : str
        Numeric outcome column (no NaN among matched rows).
    treatment : str
        0/1 (or boolean) treatment column.
    weights : str, array-like or Series, optional
        Matching weights (0 for unmatched rows, which are dropped). None (default): every row
        has weight 1, the unmatched comparison of all treated with all control units.
    subclass : str, array-like or Series, optional
        Pair / subclass ids (missing for unmatched rows).
    covariates : str or list of str, optional
        Regression adjustment: ``outcome ~ treatment + covariates`` (weighted).
    method : {"difference", "regression"}, optional
        Default: ``"regression"`` when covariates are given, else ``"difference"``.
    estimand : {"ATT", "ATC", "ATE"}
        The estimand the weights target (a label; the weights do the work).
    cluster : "subclass", str, array-like or None
        ``"subclass"`` (default): cluster by ``subclass`` (or a column named ``subclass``);
        when there is none or it is missing for every matched row (matching with
        replacement), heteroskedasticity-robust errors are used. Another column name or an
        array: cluster by it. None: HC errors. Cluster by pair after pair matching without
        replacement; use None after CEM, subclassification or matching with replacement
        (MatchIt's vignette). ``MatchResult.estimate_effect`` picks this default itself.
    vcov : str, optional
        With clusters ``"cr0"``, ``"cr1"``, ``"cr2"``, ``"cr3"``: default ``"cr2"``
        (Bell-McCaffrey, Satterthwaite df) with fewer than 42 clusters (a handful of
        propensity subclasses), else ``"cr1"``. Without: ``"hc3"`` (default), ``"hc0"``,
        ``"hc1"``, ``"hc2"``.
    level : float
        Confidence level of the t interval.

    Returns
    -------
    MatchedEffectResult

    Raises
    ------
    DataError
        Missing columns, treatment not 0/1, NaN outcome among matched rows, negative weights,
        NaN covariates, bad options.
    DesignError
        No matched treated or control unit, a single cluster, collinear covariates.

    Warns
    -----
    SosstatsWarning
        CR0 / CR1 with fewer than 42 clusters (e.g. clustering by a handful of propensity
        subclasses): use ``cluster=None`` (HC errors) or ``vcov="cr2"``.

    Notes
    -----
    See the module docstring (WLS, CR1 as ``sandwich::vcovCL``, HC as ``sandwich::vcovHC``).
    """
    data = check_frame(data)
    level = check_level(level)
    estimand = check_option(estimand, ESTIMANDS, "estimand")
    covariates = as_list(covariates)
    check_columns(data, covariates, what="covariate")
    if method is None:
        method = "regression" if covariates else "difference"
    method = check_option(method, ("difference", "regression"), "method")
    if method == "regression" and not covariates:
        raise DataError("method='regression' needs `covariates`.")
    if method == "difference" and covariates:
        raise DataError("method='difference' takes no `covariates`; use method='regression'.")
    treated = treatment_vector(data, treatment)
    w = np.ones(data.shape[0]) if weights is None else weight_vector(data, weights)
    pos = w > 0
    for grp, label in ((treated, "treated"), (~treated, "control")):
        if not (pos & grp).any():
            raise DesignError(f"no {label} unit has a positive weight; there is no matched "
                              f"{label} group to compare.")
    y = outcome_vector(data, outcome, pos)

    clusters, cluster_by = None, None
    if isinstance(cluster, str) and cluster == "subclass":
        if subclass is None and "subclass" in data.columns:
            subclass = "subclass"
        if subclass is not None and (subclass_codes(data, subclass)[pos] >= 0).any():
            clusters, cluster_by = subclass, "subclass"      # all missing: with replacement
    elif cluster is not None:
        clusters, cluster_by = cluster, (cluster if isinstance(cluster, str) else "cluster")
    codes = None
    if clusters is not None:
        codes = subclass_codes(data, clusters)[pos]
        if (codes < 0).any():
            raise DataError(f"cluster {cluster_by!r} is missing for {int((codes < 0).sum())} "
                            "matched row(s).")
    if vcov is None:
        kind = "hc3" if codes is None else default_kind(np.unique(codes).size)
    else:
        kind = check_option(vcov, CLUSTER_KINDS if clusters is not None else HC_KINDS, "vcov")

    Z, znames = design_matrix(data, covariates)
    X = np.column_stack([np.ones(data.shape[0]), treated.astype(float), Z])[pos]
    names = ["Intercept", treatment] + znames
    yp, wp = y[pos], w[pos]
    n, p = X.shape
    if n <= p:
        raise DesignError(f"{n} matched rows cannot identify {p} coefficients.")
    try:
        fit = wls(X, yp, wp)
    except DesignError as exc:
        raise DesignError("the matched design is collinear: a covariate is constant or a "
                          f"combination of others among the matched rows ({', '.join(znames)})."
                          ) from exc
    beta = fit.coef

    n_clusters = None
    if codes is not None:
        rv = robust_vcov(fit, kind, codes)
        n_clusters = rv.n_clusters
        few_cluster_warning(n_clusters, kind, stacklevel=2,
                            advice="use vcov='cr2' (Bell-McCaffrey with Satterthwaite df).")
    else:
        rv = robust_vcov(fit, kind)
    vc, df = rv.vcov, rv.df
    se = np.sqrt(np.clip(np.diag(vc), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        tstat = beta / se
    pval = 2 * stats.t.sf(np.abs(tstat), df)
    coefs = pd.DataFrame({"estimate": beta, "std_error": se, "statistic": tstat,
                          "p_value": pval, "df": df}, index=pd.Index(names, name="term"))
    return MatchedEffectResult(
        method=method, estimand=estimand, inference=kind, table=coefs.iloc[[1]].copy(),
        coefficients=coefs, vcov=pd.DataFrame(vc, index=names, columns=names), nobs=int(n),
        n_treated=int((pos & treated).sum()), n_control=int((pos & ~treated).sum()),
        n_clusters=n_clusters, level=level,
        info={"cluster_by": cluster_by, "vcov_default": vcov is None},
        _fit=LinearFit(X=fit.X, resid=fit.resid, beta=beta, terms=names, vcov=vc, kind=kind,
                       clusters=codes, weights=fit.weights))


# ------------------------------------------------------------------ Abadie-Imbens (2006)
