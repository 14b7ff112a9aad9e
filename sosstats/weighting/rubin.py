r"""Rubin's rules: combine analyses of ``m`` imputed data sets into one result.

:func:`pool` combines a list of fitted results (sosstats or statsmodels results, one
per imputed data set), :func:`pool_estimates` plain estimates and (co)variances; both return a
:class:`PooledResult`. The arithmetic on plain arrays (:func:`rubin`, :func:`barnard_rubin_df`)
sits beside them so that the formulas can be read (and tested) on their own. Also available as
``sosstats.weighting.pool`` etc.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._results import Result
from sosstats._validate import check_level
from sosstats.errors import DataError

__all__ = ["PooledResult", "RubinArrays", "barnard_rubin_df", "pool", "pool_estimates", "rubin"]

#: Floor on the fraction of information about a term lost to missingness, as in R's
#: ``mice:::barnard.rubin``: a term that the imputations do not move (``B = 0``) gets
#: ``lambda = 1e-4`` rather than 0, which keeps the old df ``(m - 1) / lambda^2`` finite.
LAMBDA_FLOOR = 1e-4


@dataclass(frozen=True)
class RubinArrays:
    """Pooled quantities, one entry per term (``vcov``/``within``/``between`` are k x k)."""

    estimate: np.ndarray
    within: np.ndarray
    between: np.ndarray
    vcov: np.ndarray
    ubar: np.ndarray
    b: np.ndarray
    t: np.ndarray
    riv: np.ndarray
    lambda_: np.ndarray
    fmi: np.ndarray
    df: np.ndarray


def barnard_rubin_df(m: int, b: np.ndarray, t: np.ndarray, df_com: np.ndarray) -> np.ndarray:
    r"""Barnard & Rubin (1999) small-sample degrees of freedom of a pooled estimate.

    Parameters
    ----------
    m : int
        Number of imputations (at least 2).
    b, t : numpy.ndarray
        Between-imputation and total variance per term.
    df_com : numpy.ndarray
        Complete-data degrees of freedom per term (``inf`` for a large-sample analysis).

    Returns
    -------
    numpy.ndarray
        :math:`\nu = \nu_{old}\nu_{obs} / (\nu_{old} + \nu_{obs})` with
        :math:`\lambda = (1 + 1/m) B / T` (floored at ``1e-4``),
        :math:`\nu_{old} = (m - 1)/\lambda^2` and
        :math:`\nu_{obs} = \frac{\nu_{com} + 1}{\nu_{com} + 3}\nu_{com}(1 - \lambda)`;
        :math:`\nu_{old}` alone when :math:`\nu_{com}` is infinite.
    """
    b = np.asarray(b, dtype=float)
    t = np.asarray(t, dtype=float)
    df_com = np.broadcast_to(np.asarray(df_com, dtype=float), b.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.maximum((1.0 + 1.0 / m) * b / t, LAMBDA_FLOOR)
        df_old = (m - 1) / lam**2
        finite = np.isfinite(df_com)
        com = np.where(finite, df_com, 1.0)
        df_obs = (com + 1.0) / (com + 3.0) * com * (1.0 - lam)
        adjusted = df_old * df_obs / (df_old + df_obs)
    return np.where(finite, adjusted, df_old)


def rubin(estimates: np.ndarray, covariances: np.ndarray, df_com: np.ndarray) -> RubinArrays:
    r"""Combine ``m`` complete-data analyses by Rubin's rules.

    Parameters
    ----------
    estimates : numpy.ndarray
        Shape ``(m, k)``: the estimates of ``k`` terms from each of ``m`` completed data sets.
    covariances : numpy.ndarray
        Shape ``(m, k, k)``: their complete-data covariance matrices.
    df_com : numpy.ndarray
        Shape ``(k,)``: complete-data degrees of freedom (``inf`` when large-sample).

    Returns
    -------
    RubinArrays
        ``estimate`` :math:`\bar Q`, ``within`` :math:`\bar U`, ``between`` :math:`B`,
        ``vcov`` :math:`T = \bar U + (1 + 1/m) B`; per term their diagonals ``ubar``, ``b``,
        ``t``, the relative increase in variance ``riv`` :math:`r = (1 + 1/m) B / \bar U`,
        ``lambda_`` :math:`(1 + 1/m) B / T`, the fraction of missing information
        ``fmi`` :math:`(r + 2/(\nu + 3)) / (r + 1)` and the Barnard-Rubin ``df`` :math:`\nu`.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(covariances, dtype=float)
    m = q.shape[0]
    qbar = q.mean(axis=0)
    within = u.mean(axis=0)
    dev = q - qbar
    between = dev.T @ dev / (m - 1)
    total = within + (1.0 + 1.0 / m) * between
    ubar, b, t = np.diag(within).copy(), np.diag(between).copy(), np.diag(total).copy()
    df = barnard_rubin_df(m, b, t, df_com)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / t
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
    return RubinArrays(estimate=qbar, within=within, between=between, vcov=total, ubar=ubar,
                       b=b, t=t, riv=riv, lambda_=lam, fmi=fmi, df=df)


# ------------------------------------------------------------------------------ result

@dataclass(frozen=True, eq=False, kw_only=True)
class PooledResult(Result):
    r"""Estimates combined over imputations by Rubin's rules (from :func:`pool`).

    Attributes
    ----------
    method : str
        ``"Rubin's rules (m = ...)"`` and the method of the combined fits.
    table : pandas.DataFrame
        Per term: ``estimate, std_error, statistic, p_value, df`` (Barnard-Rubin), ``ubar``
        (mean within-imputation variance), ``b`` (between-imputation variance), ``t`` (total
        variance), ``riv`` (relative increase in variance), ``lambda`` (proportion of the
        variance due to missingness), ``fmi`` (fraction of missing information) and
        ``df_com`` (complete-data df used; ``inf`` when large-sample).
    vcov, within, between : pandas.DataFrame
        Total :math:`T`, within :math:`\bar U` and between :math:`B` covariance matrices
        (off-diagonal NaN in ``within`` and ``vcov`` when a fit gave standard errors only).
    n_imputations : int
        Number of analyses combined.
    nobs : int or None
        Observations of each analysis (from the first fit, where it says).
    level : float
        Default confidence level.
    fits : tuple
        The per-imputation results (not shown).
    """

    method: str
    table: pd.DataFrame
    vcov: pd.DataFrame
    within: pd.DataFrame
    between: pd.DataFrame
    n_imputations: int
    nobs: int | None = None
    level: float = 0.95
    fits: tuple = field(default=(), repr=False)

    def _estimates(self) -> pd.DataFrame:
        cols = ["estimate", "std_error", "statistic", "p_value", "df", "riv", "lambda", "fmi"]
        return self.table[cols].copy()

    def _notes(self) -> list[str]:
        com = self.table["df_com"]
        com_txt = ("large-sample (infinite)" if not np.isfinite(com).any()
                   else ", ".join(f"{v:g}" for v in pd.unique(com)))
        return [f"{self.n_imputations} imputations; total variance T = W + (1 + 1/m) B; t "
                f"intervals with Barnard-Rubin (1999) df, complete-data df {com_txt}."]


def _check_df_com(df_com: Any, terms: list[str]) -> np.ndarray:
    if isinstance(df_com, pd.Series):
        missing = [t for t in terms if t not in df_com.index]
        if missing:
            raise DataError(f"`df_com` has no value for term(s) {', '.join(map(repr, missing))}.")
        values = df_com.reindex(terms).to_numpy(dtype=float)
    else:
        try:
            values = np.broadcast_to(np.asarray(df_com, dtype=float), (len(terms),)).copy()
        except (TypeError, ValueError) as exc:
            raise DataError("`df_com` must be a number, one number per term or a Series by "
                            f"term; got {df_com!r}.") from exc
    values = np.where(np.isnan(values), np.inf, values)
    if (values <= 0).any():
        raise DataError(f"`df_com` must be positive (inf for large-sample); got {df_com!r}.")
    return values


def pool_estimates(estimates: Any, variances: Any, *, df_com: Any = np.inf,
                   terms: list[str] | None = None, level: float = 0.95,
                   nobs: int | None = None, method: str = "", fits: tuple = ()) -> PooledResult:
    r"""Combine estimates and their (co)variances from ``m`` imputations by Rubin's rules.

    Parameters
    ----------
    estimates : array-like or pandas.DataFrame
        Shape ``(m, k)`` (or ``(m,)`` for one term): each row the estimates from one completed
        data set. A DataFrame's columns name the terms.
    variances : array-like
        Shape ``(m, k)`` squared standard errors, or ``(m, k, k)`` covariance matrices.
    df_com : float, array or pandas.Series, default inf
        Complete-data degrees of freedom (per term, or one for all; ``inf`` or NaN for a
        large-sample analysis).
    terms : list of str, optional
        Term names (default the DataFrame's columns, else ``"x0", "x1", ...``).
    level : float, default 0.95
        Confidence level of the intervals.
    nobs : int, optional
        Observations of each analysis (reported only).
    method : str
        Label of the analysis combined (reported only).
    fits : tuple
        The per-imputation results, kept on the result.

    Returns
    -------
    PooledResult

    Raises
    ------
    DataError
        Fewer than two imputations, shapes that do not match, non-finite or negative
        variances, a non-positive ``df_com``.

    Notes
    -----
    With :math:`\hat Q_\ell`, :math:`U_\ell` the estimates and covariance from imputation
    :math:`\ell = 1..m` (Rubin 1987, *Multiple Imputation for Nonresponse in Surveys*, ch. 3):
    :math:`\bar Q = m^{-1}\sum_\ell \hat Q_\ell`,
    :math:`\bar U = m^{-1}\sum_\ell U_\ell`,
    :math:`B = (m-1)^{-1}\sum_\ell (\hat Q_\ell - \bar Q)(\hat Q_\ell - \bar Q)'`,
    :math:`T = \bar U + (1 + 1/m) B`. Per term, :math:`r = (1 + 1/m)B/\bar U` (relative
    increase in variance), :math:`\lambda = (1 + 1/m)B/T` and the fraction of missing
    information :math:`\gamma = (r + 2/(\nu + 3))/(r + 1)`. The df :math:`\nu` is that of
    Barnard & Rubin (1999), *Biometrika* 86(4), 948-955 (see :func:`barnard_rubin_df`),
    with :math:`\lambda` floored at ``1e-4`` as in R's ``mice`` (van Buuren &
    Groothuis-Oudshoorn 2011, *J. Stat. Softw.* 45(3)), whose ``pool`` and ``pool.scalar``
    this matches. Intervals are :math:`\bar Q \pm t_{\nu}\sqrt{T}`.
    """
    level = check_level(level)
    if isinstance(estimates, pd.DataFrame):
        terms = list(estimates.columns) if terms is None else terms
    try:
        q = np.asarray(estimates, dtype=float)
        u = np.asarray(variances, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError("`estimates` and `variances` must be numbers (arrays of shape (m, k) "
                        f"and (m, k) or (m, k, k)): {exc}.") from exc
    q = q[:, None] if q.ndim == 1 else q
    if q.ndim != 2 or q.shape[0] < 2:
        raise DataError("`estimates` must hold the estimates of at least two imputations, "
                        f"shape (m, k) with m >= 2; got shape {np.shape(estimates)}.")
    m, k = q.shape
    u = u.reshape(m, k) if u.shape in ((m,), (m, k)) and u.ndim < 3 else u
    if u.shape == (m, k):
        if (u < 0).any():
            raise DataError("`variances` must be non-negative.")
        diag_only = True
        u = u[:, :, None] * np.eye(k)[None, :, :]
    elif u.shape == (m, k, k):
        diag_only = False
    else:
        raise DataError(f"`variances` must have shape ({m}, {k}) or ({m}, {k}, {k}) to match "
                        f"`estimates`; got {np.shape(variances)}.")
    if not (np.isfinite(q).all() and np.isfinite(u).all()):
        raise DataError("`estimates` and `variances` must be finite.")
    terms = [f"x{j}" for j in range(k)] if terms is None else [str(t) for t in terms]
    if len(terms) != k:
        raise DataError(f"`terms` has {len(terms)} names for {k} estimates.")
    com = _check_df_com(df_com, terms)
    res = rubin(q, u, com)
    se = np.sqrt(res.t)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = res.estimate / se
    pval = 2 * stats.t.sf(np.abs(stat), res.df)
    idx = pd.Index(terms, name="term")
    table = pd.DataFrame({"estimate": res.estimate, "std_error": se, "statistic": stat,
                          "p_value": pval, "df": res.df, "ubar": res.ubar, "b": res.b,
                          "t": res.t, "riv": res.riv, "lambda": res.lambda_, "fmi": res.fmi,
                          "df_com": com}, index=idx)
    within, total = res.within.copy(), res.vcov.copy()
    if diag_only and k > 1:
        off = ~np.eye(k, dtype=bool)
        within[off] = np.nan
        total[off] = np.nan
    label = f"Rubin's rules (m = {m})" + (f", {method}" if method else "")
    frame = lambda a: pd.DataFrame(a, index=idx, columns=idx)  # noqa: E731
    return PooledResult(method=label, table=table, vcov=frame(total), within=frame(within),
                        between=frame(res.between), n_imputations=m, nobs=nobs, level=level,
                        fits=tuple(fits))


def _fit_parts(fit: Any, i: int) -> tuple[pd.Series, np.ndarray | None, pd.Series, np.ndarray]:
    """Estimates, covariance (or None), standard errors and complete-data df of one fit."""
    params = getattr(fit, "params", None)
    if params is None:
        raise DataError(f"`results[{i}]` ({type(fit).__name__}) has no `params`; pass fitted "
                        "sosstats or statsmodels results, or use `pool_estimates`.")
    params = pd.Series(np.asarray(params, dtype=float), index=getattr(
        params, "index", [f"x{j}" for j in range(np.size(params))]))
    terms = params.index
    cov = None
    vcov = getattr(fit, "vcov", None)
    if isinstance(vcov, pd.DataFrame):
        cov = vcov.reindex(index=terms, columns=terms).to_numpy(dtype=float)
    elif callable(getattr(fit, "cov_params", None)):
        cov = np.asarray(fit.cov_params(), dtype=float).reshape(len(terms), len(terms))
    se = getattr(fit, "std_errors", None)
    se = getattr(fit, "bse", None) if se is None else se
    se = np.sqrt(np.diag(cov)) if se is None and cov is not None else np.asarray(se, float)
    df = np.full(len(terms), np.inf)
    if isinstance(fit, Result):
        est = fit._estimates()
        if "df" in est.columns:
            df = est["df"].reindex(terms).to_numpy(dtype=float)
    elif getattr(fit, "df_resid", None) is not None:
        df = np.full(len(terms), float(fit.df_resid))
    return params, cov, se, df


def pool(results: Sequence[Any], *, df_com: Any = None, level: float = 0.95) -> PooledResult:
    """Combine one analysis fitted to each imputed data set by Rubin's rules.

    Parameters
    ----------
    results : sequence of results
        At least two fits with the same terms: sosstats results (``params``, ``vcov`` or
        ``std_errors``, a ``df`` column where the method has one, e.g.
        :class:`~sosstats.panel.ChangeResult`) or statsmodels results (``params``,
        ``cov_params()``, ``df_resid``).
    df_com : float, array or pandas.Series, optional
        Complete-data degrees of freedom. Default: per term the smallest df the fits report
        (cluster-robust fits: clusters - 1; statsmodels: residual df), else infinite.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    PooledResult
        See :func:`pool_estimates` for the formulas; ``fits`` holds ``results``.

    Raises
    ------
    DataError
        Fewer than two results, a result without ``params``, results whose terms differ.
    """
    fits = list(results) if not isinstance(results, (str, bytes)) else []
    if len(fits) < 2:
        raise DataError(f"`results` must hold at least two fitted results (one per imputation); "
                        f"got {len(fits)}.")
    parts = [_fit_parts(f, i) for i, f in enumerate(fits)]
    terms = list(parts[0][0].index)
    for i, (params, *_rest) in enumerate(parts[1:], start=1):
        if list(params.index) != terms:
            diff = sorted(set(map(str, terms)) ^ set(map(str, params.index)))
            raise DataError(f"`results[{i}]` has terms that differ from `results[0]`"
                            f"{': ' + ', '.join(diff) if diff else ' (order)'}; every "
                            "imputation must be analysed with the same model.")
    q = np.vstack([p[0].to_numpy() for p in parts])
    if all(p[1] is not None for p in parts):
        u = np.stack([p[1] for p in parts])
    else:
        u = np.vstack([p[2] for p in parts]) ** 2
    if df_com is None:
        df_com = np.min(np.vstack([p[3] for p in parts]), axis=0)
    nobs = getattr(fits[0], "nobs", None)
    nobs = int(nobs) if isinstance(nobs, (int, float, np.number)) and np.isfinite(nobs) else None
    method = getattr(fits[0], "method", "")
    return pool_estimates(q, u, df_com=df_com, terms=terms, level=level, nobs=nobs,
                          method=method if isinstance(method, str) else "", fits=tuple(fits))
