"""Weighted means and proportions with linearised or replicate standard errors.

:func:`weighted_mean` and :func:`weighted_proportion` estimate the (attrition-)weighted mean of
an outcome over the units that have it, overall or by group, with a Taylor-linearised standard
error that treats the weights as fixed (optionally clustered), or, given
:class:`~sosstats.weighting.ReplicateWeights`, a replicate standard error that re-estimates the
weights on every replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from sosstats._kernels.cluster_cr2 import group_sum
from sosstats._results import Result
from sosstats._validate import (
    aligned_positions,
    as_list,
    check_columns,
    check_frame,
    check_level,
    check_weights,
)
from sosstats.errors import DataError, DesignError
from sosstats.weighting.attrition import AttritionWeights
from sosstats.weighting.replicates import ReplicateWeights

__all__ = ["WeightedMeanResult", "weighted_mean", "weighted_proportion"]

FIXED_NOTE = "weights treated as fixed (not re-estimated)"
REPLICATE_NOTE = "replicate SE, weights re-estimated per replicate"


@dataclass(frozen=True, eq=False, kw_only=True)
class WeightedMeanResult(Result):
    """Result of :func:`weighted_mean` and :func:`weighted_proportion`.

    Attributes
    ----------
    method : str
        ``"weighted mean"`` or ``"weighted proportion"``.
    table : pandas.DataFrame
        One row per term (outcome, or ``outcome[by=group]``): ``estimate, std_error,
        statistic, p_value, df, outcome, group, n, sum_weights``.
    se_type : str
        ``"linearised"`` or ``"replicate"``.
    nobs : int
        Units contributing to at least one estimate.
    n_clusters : int
        Clusters (PSUs) of the variance estimator; units when unclustered.
    outcome : tuple of str
    by, cluster : str or None
    weights : str
        What weighted the estimate.
    level : float
        Default confidence level.
    replicate_estimates : pandas.DataFrame or None
        Replicates x terms (replicate SE only).
    """

    method: str
    table: pd.DataFrame
    se_type: str
    nobs: int
    n_clusters: int
    outcome: tuple[str, ...]
    by: str | None
    cluster: str | None
    weights: str
    level: float = 0.95
    replicate_estimates: pd.DataFrame | None = field(default=None, repr=False)

    def _estimates(self) -> pd.DataFrame:
        return self.table.copy()

    def _interval(self, level: float) -> pd.DataFrame:
        if self.method != "weighted proportion":
            return super()._interval(level)                 # t with the table's df
        t = self.table
        p = t["estimate"].to_numpy(dtype=float)
        df = t["df"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(df >= 1, stats.t.ppf(0.5 + level / 2, np.where(df >= 1, df, 1.0)),
                         np.nan)
            half = q * t["std_error"].to_numpy(dtype=float) / (p * (1 - p))
            inner = (p > 0) & (p < 1)
            lo = np.where(inner, expit(logit(p) - half), np.nan)
            hi = np.where(inner, expit(logit(p) + half), np.nan)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=t.index)

    def _notes(self) -> list[str]:
        if self.se_type == "replicate":
            notes = [f"{REPLICATE_NOTE} ({self.weights})."]
        else:
            what = FIXED_NOTE if self.weights != "unweighted" else "unweighted"
            psu = (f"{self.n_clusters} clusters of {self.cluster!r}" if self.cluster
                   else f"{self.n_clusters} units")
            notes = [f"Linearised (Taylor) SE, {what}; {psu} as with-replacement PSUs "
                     "(factor G/(G-1)).", f"Weights: {self.weights}."]
        notes.append("t intervals with df = clusters (units) with data - 1"
                     + ("; logit-scale interval, no test (statistic, p_value NaN)."
                        if self.method == "weighted proportion" else "; tests of mean = 0."))
        return notes


# ----------------------------------------------------------------------------- inputs

def _weights(data: pd.DataFrame, weights: Any) -> tuple[np.ndarray, Any, str]:
    """Full weights (NaN allowed), the replicate object or None, and a label."""
    if weights is None:
        return np.ones(len(data)), None, "unweighted"
    if isinstance(weights, str):
        check_columns(data, weights, what="weights column")
        w = check_weights(data[weights], f"weights column {weights!r}", allow_nan=True,
                          require_positive_sum=False)
        return w, None, f"column {weights!r}"
    if isinstance(weights, (AttritionWeights, ReplicateWeights)):
        series = weights.full.weights if isinstance(weights, ReplicateWeights) else weights.weights
        what = f"`weights` ({type(weights).__name__})"
        pos = aligned_positions(series.index, data.index, what)
        w = np.nan_to_num(check_weights(series, f"{what}.weights", allow_nan=True,
                                        require_positive_sum=False), nan=0.0)
        w = w if pos is None else w[pos]
        if isinstance(weights, AttritionWeights):
            return w, None, f"AttritionWeights ({weights.method})"
        rep = weights.replicates.to_numpy(dtype=float)
        rep = rep if pos is None else rep[pos]
        label = (f"bootstrap, B={weights.n_replicates}, resampling "
                 + (f"{weights.n_clusters} clusters of {weights.cluster!r}" if weights.cluster
                    else "units") + f", {weights.full.method} weights")
        return w, (weights, rep), label
    raise DataError("`weights` must be None, a column name, an AttritionWeights or a "
                    f"ReplicateWeights; got {type(weights).__name__}.")


def _outcome(data: pd.DataFrame, col: str, proportion: bool) -> np.ndarray:
    s = data[col]
    ok = (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
          or (s.dtype == object and s.dropna().map(type).isin([bool, np.bool_]).all()))
    if not ok:
        raise DataError(f"outcome {col!r} ({s.dtype}) must be numeric"
                        + (" 0/1 or boolean." if proportion else "."))
    y = s.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(y).any():
        raise DataError(f"outcome {col!r} has {int(np.isinf(y).sum())} infinite value(s).")
    if proportion:
        bad = ~np.isnan(y) & (y != 0) & (y != 1)
        if bad.any():
            shown = ", ".join(map(repr, pd.unique(s[bad])[:5]))
            raise DataError(f"outcome {col!r} must be 0/1 or boolean for a proportion; found "
                            f"{shown}. Use weighted_mean for other outcomes.")
    return y


def _codes(data: pd.DataFrame, col: str, what: str) -> tuple[np.ndarray, list]:
    check_columns(data, col, what=what)
    s = data[col]
    if s.isna().any():
        raise DataError(f"{what} {col!r} has {int(s.isna().sum())} missing value(s).")
    try:
        codes, levels = pd.factorize(s, sort=True)
    except TypeError:
        codes, levels = pd.factorize(s)
    return codes.astype(np.intp), list(levels)


# ----------------------------------------------------------------------------- computing

def _linearised(y: np.ndarray, w: np.ndarray, d: np.ndarray, g: np.ndarray, K: int,
                c: np.ndarray, C: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratio means by group, their with-replacement linearised variances and PSU counts."""
    wd = np.where(d, w, 0.0)
    yd = np.where(d, y, 0.0)
    S = np.bincount(g, wd, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.bincount(g, wd * yd, K) / S
        z = np.where(d, wd * (yd - theta[g]) / S[g], 0.0)
    pair, first = np.unique(c.astype(np.int64) * K + g, return_index=True)
    inv = np.searchsorted(pair, c.astype(np.int64) * K + g)
    t = np.bincount(inv, z, len(pair))                     # PSU x group totals (non-empty)
    pg = g[first]
    mean = np.bincount(pg, t, K) / C
    var = C / (C - 1) * (np.bincount(pg, t ** 2, K) - C * mean ** 2)
    has = np.bincount(inv, d.astype(float), len(pair)) > 0
    n_psu = np.bincount(pg, has.astype(float), K)
    return theta, np.maximum(var, 0.0), n_psu


def _replicated(y: np.ndarray, d: np.ndarray, g: np.ndarray, K: int, rep: np.ndarray
                ) -> np.ndarray:
    """Ratio means by group on every replicate column: (B, K)."""
    Wd = np.where(d[:, None], rep, 0.0)
    num = group_sum(g, K, Wd * np.where(d, y, 0.0)[:, None])
    den = group_sum(g, K, Wd)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / den).T


def _estimate(data: pd.DataFrame, outcome: str | list[str], weights: Any, by: str | None,
              cluster: str | None, level: float, proportion: bool) -> WeightedMeanResult:
    data = check_frame(data)
    level = check_level(level)
    outcomes = as_list(outcome)
    if not outcomes:
        raise DataError("give at least one `outcome` column.")
    check_columns(data, outcomes, what="outcome")
    ys = [_outcome(data, col, proportion) for col in outcomes]
    w, replicated, label = _weights(data, weights)          # checked: finite, non-negative
    if replicated is not None:
        own = replicated[0].cluster
        if cluster is not None and cluster != own:
            raise DataError(f"`cluster={cluster!r}` differs from the replicate weights' cluster "
                            f"({own!r}); the replicates fix the resampling units.")
        cluster = own
    if cluster is None:
        c, C = np.arange(len(data), dtype=np.intp), len(data)
    else:
        c, levels = _codes(data, cluster, "cluster column")
        C = len(levels)
    if C < 2:
        raise DesignError(f"{'cluster column ' + repr(cluster) if cluster else 'data'} has "
                          f"{C} {'cluster' if cluster else 'unit'}; a standard error needs two.")
    if by is None:
        g, groups = np.zeros(len(data), dtype=np.intp), [None]
    else:
        g, groups = _codes(data, by, "group column `by`")
    K = len(groups)
    rows, reps, used = [], [], np.zeros(len(data), bool)
    for col, y in zip(outcomes, ys):
        nan_w = np.isnan(w) & ~np.isnan(y)
        if nan_w.any():
            raise DataError(f"weights ({label}) are missing for {int(nan_w.sum())} unit(s) "
                            f"with an observed {col!r}.")
        d = ~np.isnan(y) & (np.nan_to_num(w) > 0)
        if not d.any():
            raise DataError(f"no unit has both an observed {col!r} and a positive weight.")
        used |= d
        wz = np.nan_to_num(w)
        theta, var, n_psu = _linearised(y, wz, d, g, K, c, C)
        if replicated is not None:
            rw, rep = replicated
            th_b = _replicated(y, d, g, K, rep)
            var = np.atleast_1d(rw.variance(theta, th_b))
            reps.append(th_b)
        n = np.bincount(g, d.astype(float), K)
        sw = np.bincount(g, np.where(d, wz, 0.0), K)
        for k, grp in enumerate(groups):
            term = col if by is None else f"{col}[{by}={grp}]"
            se = np.sqrt(var[k]) if n[k] > 0 else np.nan
            rows.append((term, theta[k], se, n_psu[k] - 1, col, grp, int(n[k]), sw[k]))
    table = pd.DataFrame(rows, columns=["term", "estimate", "std_error", "df", "outcome",
                                        "group", "n", "sum_weights"]).set_index("term")
    df = table["df"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = table["estimate"] / table["std_error"]
        p = np.where(df >= 1, 2 * stats.t.sf(np.abs(stat), np.where(df >= 1, df, 1.0)), np.nan)
    table.insert(2, "statistic", np.nan if proportion else stat)
    table.insert(3, "p_value", np.nan if proportion else p)
    rep_frame = None
    if reps:
        rep_frame = pd.DataFrame(np.column_stack(reps), columns=table.index,
                                 index=replicated[0].replicates.columns)
    return WeightedMeanResult(
        method="weighted proportion" if proportion else "weighted mean", table=table,
        se_type="replicate" if replicated is not None else "linearised", nobs=int(used.sum()),
        n_clusters=C, outcome=tuple(outcomes), by=by, cluster=cluster, weights=label,
        level=level, replicate_estimates=rep_frame)


def weighted_mean(data: pd.DataFrame, outcome: str | list[str], *,
                  weights: str | AttritionWeights | ReplicateWeights | None = None,
                  by: str | None = None, cluster: str | None = None,
                  level: float = 0.95) -> WeightedMeanResult:
    r"""Weighted mean of outcome(s), overall or by group, with a standard error.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit of the sample (respondents and non-respondents); not modified.
    outcome : str or list of str
        Numeric (or boolean) outcome column(s); a missing value leaves the unit out of that
        outcome's estimate.
    weights : str, AttritionWeights, ReplicateWeights or None
        A column of non-negative weights, the result of ``attrition_weights`` or
        ``replicate_weights`` (aligned to ``data`` by index label), or None (unweighted).
    by : str, optional
        Group column: one row per group.
    cluster : str, optional
        Column of the PSUs (e.g. the pilot LA) for the linearised SE; with ReplicateWeights it
        must be None or the replicates' own cluster.
    level : float
        Default confidence level of the intervals (0.95).

    Returns
    -------
    WeightedMeanResult
        ``tidy()`` gives per term the estimate, SE, test of mean = 0, interval, ``df``,
        ``outcome``, ``group``, ``n`` and ``sum_weights``; the summary notes say whether the
        weights were treated as fixed or re-estimated per replicate.

    Raises
    ------
    DataError
        Unknown columns, a non-numeric outcome, negative, infinite or (for observed outcomes)
        missing weights, a weights object whose index does not match ``data``, missing values
        in ``by`` or ``cluster``, a ``cluster`` other than the replicates' own.
    DesignError
        Fewer than two clusters (units).

    Notes
    -----
    Over the domain :math:`D` (observed outcome, positive weight, in the group) the estimate is
    the ratio :math:`\hat\theta = \sum_D w_i y_i / \sum_D w_i`. Its linearised variance uses
    :math:`z_i = w_i (y_i - \hat\theta) / \sum_D w_i` (0 outside :math:`D`), their PSU totals
    :math:`t_c` and :math:`\hat V = \frac{C}{C-1}\sum_c (t_c - \bar t)^2` over *all*
    :math:`C` PSUs of ``data`` (domain estimation: a PSU without units in the domain still
    counts). This is the with-replacement estimator of R ``survey``: ``svymean`` on a
    ``subset`` of ``svydesign(ids = ~cluster, weights = ~w)``, ``svyby`` for groups (Woodruff
    1971, *JASA* 66, 411-414; Lumley 2010, *Complex Surveys*, Wiley, ch. 2-3). It treats the
    weights as fixed. With ReplicateWeights the estimate is recomputed with every replicate
    column and :math:`\hat V = \frac1B \sum_b (\hat\theta_b - \hat\theta)^2` (see
    :func:`replicate_weights`), which includes the uncertainty of estimating the weights.
    Intervals are :math:`t` intervals with df = PSUs with units in the domain minus 1 (the
    ``degf`` of the subset design in ``survey``).

    Examples
    --------
    >>> from sosstats.datasets import simulate_evaluation
    >>> from sosstats.weighting import attrition_weights
    >>> f = simulate_evaluation(rng=0).families
    >>> aw = attrition_weights(f, responded="responded_t2",
    ...                        covariates=["previous_referral", "agency_worker"])
    >>> res = weighted_mean(f, "sdq_t2", weights=aw, cluster="la_code")
    >>> res.tidy()[["term", "estimate", "n"]].shape
    (1, 3)
    """
    return _estimate(data, outcome, weights, by, cluster, level, proportion=False)


def weighted_proportion(data: pd.DataFrame, outcome: str | list[str], *,
                        weights: str | AttritionWeights | ReplicateWeights | None = None,
                        by: str | None = None, cluster: str | None = None,
                        level: float = 0.95) -> WeightedMeanResult:
    r"""Weighted proportion of a 0/1 outcome, with a logit-scale confidence interval.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit of the sample; not modified.
    outcome : str or list of str
        0/1 or boolean column(s); missing values leave the unit out.
    weights, by, cluster, level
        As for :func:`weighted_mean`.

    Returns
    -------
    WeightedMeanResult
        As :func:`weighted_mean`, with ``statistic`` and ``p_value`` NaN (no test of p = 0).

    Raises
    ------
    DataError
        As :func:`weighted_mean`, and an outcome with values other than 0 and 1.
    DesignError
        Fewer than two clusters (units).

    Notes
    -----
    Estimate and standard error as :func:`weighted_mean`. The interval is computed on the
    logit scale, :math:`\mathrm{logit}(\hat p) \pm t_{df}\,\widehat{SE}/(\hat p(1-\hat p))`,
    and back-transformed, so it lies in (0, 1): R ``survey``'s ``svyciprop(method = "logit")``
    (Korn & Graubard 1998, *Survey Methodology* 24, 193-201). It is NaN when
    :math:`\hat p` is 0 or 1.
    """
    return _estimate(data, outcome, weights, by, cluster, level, proportion=True)
