r"""Does weighting change an estimate? The weighted minus the unweighted respondent mean.

:func:`weighting_effect` returns a :class:`WeightingEffect` (also available as
``sosstats.weighting.weighting_effect``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result
from sosstats._validate import check_frame, check_level, check_weights
from sosstats._wls import influence_vcov, wls
from sosstats.errors import DataError, DesignError
from sosstats.weighting._nr_common import (
    cluster_codes,
    outcome_values,
    resolve_weights,
)

__all__ = ["WeightingEffect", "weighting_effect"]

TERMS = ["weighted", "unweighted", "difference"]
FIXED = "linearised (weights treated as fixed)"


@dataclass(frozen=True, eq=False, kw_only=True)
class WeightingEffect(Result):
    """Weighted and unweighted respondent means and their difference.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by term (``weighted``, ``unweighted``, ``difference``): ``estimate``,
        ``std_error``, ``statistic``, ``p_value`` (the test of no difference; NaN for the two
        means) and ``df`` (infinite: normal reference; ``G - 1`` when clustered, also for
        replicate weights resampled by cluster).
    method : str
        ``"linearised (weights treated as fixed)"`` or ``"replicate"``.
    outcome : str
        The outcome column.
    nobs : int
        Respondents (rows with a positive weight).
    n_clusters : int or None
        Clusters among the respondents (linearised clustered SE only).
    n_replicates : int or None
        Replicates used (replicate SE only).
    level : float
        Default confidence level.
    """

    table: pd.DataFrame
    method: str
    outcome: str
    nobs: int
    n_clusters: int | None = None
    n_replicates: int | None = None
    level: float = 0.95
    info: dict = field(default_factory=dict, repr=False)

    def _estimates(self) -> pd.DataFrame:
        return self.table[["estimate", "std_error", "statistic", "p_value", "df"]].copy()


    @property
    def difference(self) -> float:
        """Weighted minus unweighted mean."""
        return float(self.table.loc["difference", "estimate"])

    @property
    def p_value(self) -> float:
        """Two-sided p-value of the test that weighting does not change the mean."""
        return float(self.table.loc["difference", "p_value"])

    def _notes(self) -> list[str]:
        if self.method == FIXED:
            where = (f", clustered on {self.n_clusters} clusters (t with G - 1 df)"
                     if self.n_clusters else "")
            return [f"{self.nobs} respondents; Taylor-linearised SEs{where}. The weights are "
                    "treated as fixed: the uncertainty of estimating them is not included "
                    "(use replicate weights for that)."]
        df = self.table.loc["difference", "df"]
        ref = f"t with {df:g} df" if np.isfinite(df) else "normal reference"
        return [f"{self.nobs} respondents; replicate SEs from {self.n_replicates} replicates "
                f"(weights re-estimated in each); {ref}."]


def _replicate_frame(data: pd.DataFrame, frame: Any, name: str) -> np.ndarray:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"`{name}` must be a pandas DataFrame; got {type(frame).__name__}.")
    if not frame.index.equals(data.index):
        if len(frame) != len(data) or frame.index.has_duplicates or not frame.index.sort_values(
                ).equals(data.index.sort_values()):
            raise DataError(f"`{name}` must have one row per row of `data` (same index).")
        frame = frame.reindex(data.index)
    if frame.shape[1] < 2:
        raise DesignError(f"`{name}` has {frame.shape[1]} column(s); replicate variances "
                          "need at least two replicates.")
    try:
        values = frame.to_numpy(dtype=float, copy=True)
        bad = ~(np.isfinite(values) & (values >= 0)).all(axis=0)
    except (TypeError, ValueError):
        bad = np.ones(frame.shape[1], dtype=bool)
    for j in np.flatnonzero(bad):                 # each replicate is a weights column
        col = frame.columns[j]
        check_weights(frame[col], f"`{name}` column {col!r}", require_positive_sum=False)
    return values


def _replicate_setup(data: pd.DataFrame, replicates: Any, scale: Any,
                     multiplicities: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """Replicate weights, multiplicities and a variance function ``f(full, reps)``."""
    if isinstance(replicates, pd.DataFrame):
        if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0):
            raise DataError("a DataFrame of replicate weights needs `scale` (a positive number: "
                            "variance = scale * sum_b (theta_b - theta)^2); got "
                            f"{scale!r}.")
        rep = _replicate_frame(data, replicates, "replicates")

        def variance(full: np.ndarray, reps: np.ndarray) -> np.ndarray:
            return float(scale) * ((reps - full) ** 2).sum(axis=0)
    elif isinstance(getattr(replicates, "replicates", None), pd.DataFrame) and callable(
            getattr(replicates, "variance", None)):
        if scale is not None:
            raise DataError("`scale` is only used with a DataFrame of replicate weights; the "
                            "replicate-weights object brings its own variance; remove it.")
        rep = _replicate_frame(data, replicates.replicates, "replicates.replicates")
        variance = replicates.variance
        if multiplicities is None:
            multiplicities = getattr(replicates, "multiplicities", None)
    else:
        raise DataError("`replicates` must be a DataFrame of replicate weights (with `scale`) "
                        "or an object with a `.replicates` DataFrame and a `.variance(full, "
                        f"replicate_estimates)` method; got {type(replicates).__name__}.")
    if multiplicities is None:
        raise DesignError("the replicate SE of weighted minus unweighted needs the unweighted "
                          "mean on each resample, so the resampling multiplicities (replicate "
                          "weights of the design alone) are needed: pass `multiplicities=` (a "
                          "DataFrame shaped like the replicates), or use the linearised SE "
                          "(pass the full-sample weights, e.g. `weights=obj.full`, and no "
                          "`replicates`).")
    mult = _replicate_frame(data, multiplicities, "multiplicities")
    if mult.shape != rep.shape:
        raise DataError(f"`multiplicities` has shape {mult.shape}; the replicate weights have "
                        f"{rep.shape}.")
    return rep, mult, variance


def weighting_effect(data: pd.DataFrame, outcome: str, weights: Any, *,
                     cluster: str | None = None, replicates: Any = None,
                     scale: float | None = None, multiplicities: pd.DataFrame | None = None,
                     level: float = 0.95) -> WeightingEffect:
    r"""Test whether weighting changes the respondents' mean of an outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        The Time 1 sample (respondents and non-respondents). Not modified.
    outcome : str
        Numeric (or boolean) outcome; must be present for every respondent.
    weights : str, pandas.Series or AttritionWeights
        Weights column, a Series on ``data.index``, or a result with a ``.weights`` Series.
        Respondents are the rows with a positive weight (0 or NaN: non-respondent). A
        replicate-weights object (with ``.full`` and ``.replicates``) also selects replicate SEs
        when ``replicates`` is not given.
    cluster : str, optional
        Cluster column (e.g. the worker or LA) for the linearised SE.
    replicates : DataFrame or replicate-weights object, optional
        Replicate weights (one column per replicate, index ``data.index``, zero for
        non-respondents): a DataFrame with ``scale``, or an object with a ``.replicates``
        DataFrame and a ``.variance(full_estimate, replicate_estimates)`` method.
    scale : float, optional
        Variance multiplier for a DataFrame of replicates (``1 / (B - 1)`` for the bootstrap).
    multiplicities : pandas.DataFrame, optional
        The replicates' resampling multiplicities (same shape), for the unweighted mean on each
        resample; default the object's ``.multiplicities`` attribute. Required with replicates.
    level : float, default 0.95
        Default confidence level of ``conf_int`` / ``tidy``.

    Returns
    -------
    WeightingEffect
        Result with terms ``weighted``, ``unweighted`` and ``difference``.

    Raises
    ------
    DataError
        Missing columns, negative or infinite weights, an outcome missing for a respondent,
        misaligned replicates, ``cluster`` together with ``replicates``.
    DesignError
        No respondents, one cluster, replicates without multiplicities.

    Notes
    -----
    With respondents :math:`i \in R`, weights :math:`w_i`, :math:`W = \sum_R w_i`, the estimate
    is :math:`\hat d = \bar y_w - \bar y`, :math:`\bar y_w = \sum_R w_i y_i / W`,
    :math:`\bar y = \sum_R y_i / n_R`. Its linearisation (influence) values are
    :math:`z_i = w_i (y_i - \bar y_w)/W - (y_i - \bar y)/n_R` and
    :math:`\widehat{V}(\hat d) = \frac{n_R}{n_R - 1}\sum_R z_i^2`, or with clusters
    :math:`\frac{G}{G-1}\sum_g (\sum_{i \in g} z_i)^2` (Woodruff 1971, *JASA* 66, 411-414; the
    with-replacement estimator of R's survey package, Lumley 2010, *Complex Surveys*, ch. 2).
    The weights are treated as fixed. The two means are intercept-only WLS / OLS fits of
    :func:`sosstats._wls.wls` and the variance is :func:`sosstats._wls.influence_vcov` of their
    influence values (shared with :func:`sosstats.matching.matched_effect`). With replicates,
    :math:`\hat d_b` uses the replicate weights for the weighted mean and the multiplicities for
    the unweighted one, and the variance is the replicate object's
    (``scale * sum_b (d_b - d)^2`` for a DataFrame).

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> from sosstats.weighting import attrition_weights
    >>> fam = simulate_evaluation(rng=0, n_families=2000).families
    >>> aw = attrition_weights(fam, responded="responded_t2",
    ...                        covariates=["agency_worker", "feelings_t1"])
    >>> list(weighting_effect(fam, "sdq_t2", aw).params.index)
    ['weighted', 'unweighted', 'difference']
    """
    data = check_frame(data)
    level = check_level(level)
    w_all = np.nan_to_num(resolve_weights(data, weights), nan=0.0)
    resp = w_all > 0
    if not resp.any():
        raise DesignError("no row has a positive weight: there are no respondents.")
    if replicates is None and hasattr(weights, "full") and hasattr(weights, "replicates"):
        replicates = weights
    if replicates is not None and cluster is not None:
        raise DataError("`cluster` is used by the linearised SE only; replicate weights carry "
                        "their own clustering: remove one of them.")
    if replicates is None and (scale is not None or multiplicities is not None):
        raise DataError("`scale` and `multiplicities` are used with `replicates` only.")
    y = outcome_values(data, outcome, resp)[resp]
    w = w_all[resp]
    n_r = int(resp.sum())
    if n_r < 2:
        raise DesignError(f"only {n_r} row has a positive weight; comparing the weighted with "
                          "the unweighted mean needs at least two respondents.")
    ones = np.ones((n_r, 1))
    fit_w, fit_u = wls(ones, y, w), wls(ones, y)      # the weighted and the plain mean
    m_w, m_u = float(fit_w.coef[0]), float(fit_u.coef[0])
    est = np.array([m_w, m_u, m_w - m_u])
    n_clusters = n_reps = None
    if replicates is None:
        codes = cluster_codes(data, cluster)
        if codes is not None:
            codes = pd.factorize(codes[resp])[0]
            n_clusters = int(codes.max()) + 1
            if n_clusters < 2:
                raise DesignError(f"cluster column {cluster!r} has a single cluster among the "
                                  "respondents; a clustered standard error needs at least two.")
        # influence values of the two means (intercept-only WLS / OLS) and their difference
        z_w, z_u = fit_w.influence[:, 0], fit_u.influence[:, 0]
        cov, df = influence_vcov(np.column_stack([z_w, z_u, z_w - z_u]), clusters=codes)
        var = np.diag(cov)
        method = FIXED
    else:
        rep, mult, variance = _replicate_setup(data, replicates, scale, multiplicities)
        if (rep[~resp] > 0).any():
            raise DataError("replicate weights are positive for rows whose full-sample weight is "
                            "0; they must be zero for non-respondents.")
        rep, mult = rep[resp], mult[resp]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps_w = (y @ rep) / rep.sum(axis=0)
            reps_u = (y @ mult) / mult.sum(axis=0)
        reps = np.column_stack([reps_w, reps_u, reps_w - reps_u])
        if not np.isfinite(reps).all():
            raise DesignError("some replicates have no respondent with a positive weight; "
                              "their means are undefined.")
        var = np.asarray(variance(est, reps), dtype=float).reshape(-1)
        # clustered replicates carry G - 1 degrees of freedom, as weighted_mean uses
        G = getattr(replicates, "n_clusters", None) if getattr(replicates, "cluster", None) \
            else None
        df = float(G - 1) if G else float("inf")
        n_reps = rep.shape[1]
        method = "replicate"
    se = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.array([np.nan, np.nan, est[2] / se[2]])
    p = np.array([np.nan, np.nan, 2 * stats.t.sf(abs(stat[2]), df)])
    table = pd.DataFrame({"estimate": est, "std_error": se, "statistic": stat, "p_value": p,
                          "df": df}, index=pd.Index(TERMS, name="term"))
    return WeightingEffect(table=table, method=method, outcome=outcome, nobs=n_r,
                           n_clusters=n_clusters, n_replicates=n_reps, level=level)
