r"""Abadie-Imbens standard errors for nearest-neighbour matching with replacement.

The matching estimator's variance conditional on the covariates (Abadie & Imbens 2006,
*Econometrica* 74(1), 235-267), with :math:`K_M(i)`, the number of times unit :math:`i` is used
as a match, and conditional variances :math:`\sigma^2(X_i, W_i)` estimated by matching
within treatment groups (``J`` neighbours). See :func:`abadie_imbens_se`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result
from sosstats._validate import as_list, check_columns, check_frame, check_level, check_option
from sosstats.errors import DataError, DesignError
from sosstats.matching._inputs import (
    ESTIMANDS,
    treatment_vector,
)
from sosstats.matching.effects import design_matrix, outcome_vector

__all__ = ["AbadieImbensResult", "abadie_imbens_se"]


METRICS = ("mahalanobis", "ivariance", "euclidean")


def _scaled(X: np.ndarray, metric: str) -> np.ndarray:
    """Covariates transformed so that Euclidean distance is the chosen metric."""
    if metric == "euclidean" or X.shape[1] == 0:
        return X
    if metric == "ivariance":
        sd = X.std(axis=0, ddof=1)
        return X / np.where(sd > 0, sd, 1.0)
    from scipy.linalg import cholesky, solve_triangular

    cov = np.atleast_2d(np.cov(X, rowvar=False))
    try:
        low = cholesky(cov, lower=True)
    except np.linalg.LinAlgError as exc:
        raise DesignError("the covariates' covariance matrix is singular (a constant or "
                          "collinear covariate); Mahalanobis distance is undefined.") from exc
    return solve_triangular(low, X.T, lower=True).T


def _nearest(query: np.ndarray, ref: np.ndarray, k: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    _, idx = cKDTree(ref).query(query, k=k)
    return np.asarray(idx).reshape(query.shape[0], k)


def _separate(Z: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Add a column putting exact strata further apart than any two units of one stratum.

    Every within-stratum distance is at most the diagonal ``D`` of the covariates' bounding
    box; strata ``2D + 1`` apart keep each nearest-neighbour search inside a stratum whenever
    the stratum has enough units (checked by the callers).
    """
    span = float(np.sqrt((np.ptp(Z, axis=0) ** 2).sum())) if Z.shape[1] else 0.0
    return np.column_stack([Z, strata * (2.0 * span + 1.0)])


def _within_group_sigma2(Z: np.ndarray, y: np.ndarray, treated: np.ndarray, J: int,
                         strata: np.ndarray | None = None) -> np.ndarray:
    """``J/(J+1) (y_i - mean of its J nearest same-group neighbours)^2`` for every unit.

    With ``strata`` (``Z`` from :func:`_separate`) the neighbours come from the unit's own
    exact stratum; NaN where the stratum has fewer than ``J + 1`` units of the group.
    """
    s2 = np.empty(y.size)
    for grp in (treated, ~treated):                   # two groups, not a loop over rows
        where = np.flatnonzero(grp)
        if where.size < J + 1:
            raise DesignError(f"J={J} same-group neighbours need at least {J + 1} units per "
                              f"group; one group has {where.size}.")
        idx = _nearest(Z[where], Z[where], J + 1)
        keep = idx != np.arange(where.size)[:, None]
        keep[keep.all(axis=1), -1] = False            # self not returned (duplicate points)
        nb = idx[keep].reshape(where.size, J)
        s2[where] = J / (J + 1) * (y[where] - y[where][nb].mean(axis=1)) ** 2
        if strata is not None:
            crossed = (strata[where][nb] != strata[where][:, None]).any(axis=1)
            s2[where[crossed]] = np.nan
    return s2


@dataclass(frozen=True, eq=False, kw_only=True)
class AbadieImbensResult(Result):
    r"""Result of :func:`abadie_imbens_se`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row (the estimand): ``estimate``, ``std_error``, ``statistic`` (z), ``p_value``.
    naive_std_error : float
        ``sd(unit effects) / sqrt(N)``, which treats the matched sets as independent.
    match_counts : pandas.Series
        :math:`K_M(i)`: how many times each row of ``data`` is used as a match.
    sigma2 : pandas.Series
        Conditional variance estimates :math:`\hat\sigma^2(X_i, W_i)`; NaN (with ``exact``)
        where a unit's stratum has fewer than ``J + 1`` units of its group, allowed only
        where the variance gives that unit weight 0.
    nobs : int
        Units whose effect is averaged (treated for ATT, controls for ATC, all for ATE).
    """

    method: str
    estimand: str
    table: pd.DataFrame
    naive_std_error: float
    match_counts: pd.Series
    sigma2: pd.Series
    nobs: int
    M: int
    J: int
    population: bool
    level: float = 0.95

    def _estimates(self) -> pd.DataFrame:
        return self.table.copy()

    def _notes(self) -> list[str]:
        what = "population" if self.population else "sample (conditional on X)"
        return [f"Abadie-Imbens {what} variance, M={self.M}, J={self.J}; naive SE "
                f"{self.naive_std_error:.4g}."]


def abadie_imbens_se(data: pd.DataFrame, outcome: str, treatment: str,
                     covariates: str | list[str], *, pairs: pd.DataFrame | None = None,
                     M: int = 1, J: int = 1, estimand: str = "ATT", population: bool = True,
                     metric: str = "mahalanobis", exact: str | list[str] | None = None,
                     level: float = 0.95) -> AbadieImbensResult:
    r"""Estimate an effect by matching with replacement, with the Abadie-Imbens (2006) SE.

    Parameters
    ----------
    data : pandas.DataFrame
        All units (not modified); the outcome may not be NaN.
    outcome, treatment : str
        Outcome column and 0/1 treatment column.
    covariates : str or list of str
        Matching covariates; also used to estimate the conditional variances by matching
        within treatment groups.
    pairs : pandas.DataFrame, optional
        Matches already made (ATT only): columns ``treated`` and ``control`` holding index
        labels of ``data`` (e.g. ``MatchResult.pairs``); a treated unit may have several
        controls. Default: match here, each focal unit to its ``M`` nearest units of the
        other group, with replacement.
    M, J : int
        Matches per unit; same-group neighbours for :math:`\hat\sigma^2` (default 1 each).
    estimand : {"ATT", "ATC", "ATE"}
        ``pairs`` supports ATT only.
    population : bool
        Population (default) or sample (conditional on the covariates) variance.
    metric : {"mahalanobis", "ivariance", "euclidean"}
        Distance for matching and for :math:`\hat\sigma^2` (``ivariance``: inverse variances
        on the diagonal, as Stata's ``nnmatch``).
    exact : str or list of str, optional
        Columns on which matches agree exactly (e.g. the pilot LA when the pairs came from
        ``match(..., exact="la_code")``): both the matches made here and the same-group
        neighbours behind :math:`\hat\sigma^2` are then sought within the unit's stratum
        only. Given ``pairs``, the strata only shape :math:`\hat\sigma^2`; without
        ``exact`` a unit's same-group neighbours may come from another stratum.
    level : float
        Confidence level of the normal interval.

    Returns
    -------
    AbadieImbensResult

    Raises
    ------
    DataError
        Bad columns or options, NaN outcome, pairs naming unknown rows or the wrong group.
    DesignError
        Fewer than ``J + 1`` units in a group (or, with ``exact``, in the stratum of a unit
        whose :math:`\hat\sigma^2` is needed), fewer than ``M`` units to match within an
        exact stratum, a singular covariance for Mahalanobis.

    Notes
    -----
    Each focal unit :math:`f` has matches :math:`\mathcal J(f)` with shares
    :math:`1/M_f`; its effect is :math:`Y_f - \hat Y_f(0)` (treated) or
    :math:`\hat Y_f(1) - Y_f` (control), :math:`\hat\tau` their mean over the :math:`N` focal
    units. Let :math:`\lambda_j = \sum_{f: j \in \mathcal J(f)} 1/M_f` (= :math:`K_M(j)/M`),
    :math:`\rho_j = \sum_{f: j \in \mathcal J(f)} 1/M_f^2` (= :math:`K_M(j)/M^2`) and
    :math:`a_j = 1\{j \text{ focal}\} + \lambda_j`. With
    :math:`\hat\sigma^2_j = \frac{J}{J+1}(Y_j - \bar Y_{\mathcal J'(j)})^2` (mean over its
    :math:`J` nearest units of its own group, and of its own exact stratum with ``exact``,
    since :math:`\sigma^2(X, W)` is a function of every covariate matched on, the exact ones
    included):

    .. math::

        \hat V^{sample} = \frac{1}{N^2}\sum_j a_j^2 \hat\sigma^2_j, \qquad
        \hat V^{pop} = \frac{1}{N^2}\Big[\sum_f (\hat\tau_f - \hat\tau)^2 +
        \sum_j (a_j^2 - 1\{j \text{ focal}\} - \rho_j)\hat\sigma^2_j\Big],

    which for a fixed :math:`M` are Abadie & Imbens's (2006, Theorems 6-7) estimators: for
    the ATT :math:`\frac{1}{N_1^2}[\sum_{W_i=1}(Y_i - \hat Y_i(0) - \hat\tau)^2 +
    \sum_{W_i=0} \frac{K_M(i)(K_M(i)-1)}{M^2}\hat\sigma^2_i]`, for the ATE the weight
    :math:`(K_M/M)^2 + \frac{2M-1}{M}\frac{K_M}{M}`. Ties are broken by the k-d tree
    (exactly ``M`` matches), where Abadie-Imbens count tied units too.

    References
    ----------
    Abadie, A. and Imbens, G. W. (2006). Large sample properties of matching estimators for
    average treatment effects. *Econometrica* 74(1), 235-267.
    Abadie, A., Drukker, D., Herr, J. L. and Imbens, G. W. (2004). Implementing matching
    estimators for average treatment effects in Stata. *Stata Journal* 4(3), 290-311.
    """
    from sosstats._validate import check_int

    data = check_frame(data)
    level = check_level(level)
    estimand = check_option(estimand, ESTIMANDS, "estimand")
    metric = check_option(metric, METRICS, "metric")
    M, J = check_int(M, "M", minimum=1), check_int(J, "J", minimum=1)
    covariates = as_list(covariates)
    if not covariates:
        raise DataError("`covariates` is empty.")
    check_columns(data, covariates, what="covariate")
    treated = treatment_vector(data, treatment)
    y = outcome_vector(data, outcome, np.ones(data.shape[0], dtype=bool))
    Z = _scaled(design_matrix(data, covariates)[0], metric)
    exact = check_columns(data, as_list(exact), what="`exact` column")
    strata = None
    if exact:
        if data[exact].isna().any().any():
            raise DataError(f"`exact` columns {exact} have missing values.")
        strata = data[exact].astype(object).groupby(exact, sort=True).ngroup().to_numpy()
        Z = _separate(Z, strata)
    t_pos, c_pos = np.flatnonzero(treated), np.flatnonzero(~treated)

    if pairs is not None:
        if estimand != "ATT":
            raise DataError("`pairs` gives treated -> control matches: estimand must be 'ATT'.")
        if not {"treated", "control"} <= set(getattr(pairs, "columns", [])):
            raise DataError("`pairs` must be a DataFrame with columns 'treated' and 'control'.")
        pr = pairs.loc[pairs["control"].notna()]
        focal = data.index.get_indexer(pr["treated"])
        donor = data.index.get_indexer(pr["control"])
        if (focal < 0).any() or (donor < 0).any():
            raise DataError("`pairs` names labels that are not in `data.index`.")
        if not treated[focal].all() or treated[donor].any():
            raise DataError("`pairs` must pair treated units (column 'treated') with controls.")
        share = 1.0 / np.bincount(focal, minlength=y.size)[focal]
    else:
        donors = {"ATT": c_pos.size, "ATC": t_pos.size,
                  "ATE": min(t_pos.size, c_pos.size)}[estimand]
        if M > donors:
            raise DesignError(f"M={M} matches exceed the units available in a group.")
        parts = []
        if estimand in ("ATT", "ATE"):
            parts.append((t_pos, c_pos[_nearest(Z[t_pos], Z[c_pos], M)]))
        if estimand in ("ATC", "ATE"):
            parts.append((c_pos, t_pos[_nearest(Z[c_pos], Z[t_pos], M)]))
        focal = np.concatenate([np.repeat(f, M) for f, _ in parts])
        donor = np.concatenate([d.reshape(-1) for _, d in parts])
        if strata is not None and (strata[focal] != strata[donor]).any():
            bad = np.unique(focal[strata[focal] != strata[donor]]).size
            raise DesignError(f"M={M} matches within the `exact` strata ({', '.join(exact)}) "
                              f"are not available for {bad} unit(s): their stratum has fewer "
                              f"than {M} units of the other group.")
        share = np.full(focal.size, 1.0 / M)

    n = y.size
    imputed = np.bincount(focal, weights=share * y[donor], minlength=n)
    is_focal = np.bincount(focal, minlength=n) > 0
    f_idx = np.flatnonzero(is_focal)
    unit = np.where(treated[f_idx], y[f_idx] - imputed[f_idx], imputed[f_idx] - y[f_idx])
    N = f_idx.size
    tau = unit.mean()
    lam = np.bincount(donor, weights=share, minlength=n)
    rho = np.bincount(donor, weights=share ** 2, minlength=n)
    s2 = _within_group_sigma2(Z, y, treated, J, strata)
    a = is_focal + lam
    coef = a ** 2 - is_focal - rho if population else a ** 2
    missing = (coef != 0) & np.isnan(s2)
    if missing.any():
        raise DesignError(f"J={J} same-group neighbours within the `exact` strata "
                          f"({', '.join(exact)}) are not available for {int(missing.sum())} "
                          f"unit(s) whose conditional variance is needed: their stratum has "
                          f"fewer than {J + 1} units of their group; lower `J`.")
    extra = np.where(coef != 0, coef * np.nan_to_num(s2), 0.0).sum()
    var = ((((unit - tau) ** 2).sum() if population else 0.0) + extra) / N ** 2
    se = float(np.sqrt(max(var, 0.0)))
    z = tau / se if se > 0 else np.nan
    table = pd.DataFrame({"estimate": [tau], "std_error": [se], "statistic": [z],
                          "p_value": [2 * stats.norm.sf(abs(z))]},
                         index=pd.Index([estimand], name="term"))
    naive = float(unit.std(ddof=1) / np.sqrt(N)) if N > 1 else np.nan
    return AbadieImbensResult(
        method="nearest neighbour matching with replacement", estimand=estimand, table=table,
        naive_std_error=naive,
        match_counts=pd.Series(np.bincount(donor, minlength=n), index=data.index, name="K_M"),
        sigma2=pd.Series(s2, index=data.index, name="sigma2"), nobs=int(N), M=M, J=J,
        population=bool(population), level=level)
