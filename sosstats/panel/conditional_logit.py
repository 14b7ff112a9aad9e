"""Conditional (fixed-effects) logit of a binary outcome observed at two waves.

Takes WIDE data (one row per unit, ``before`` and ``after`` columns); cluster-robust (CR1)
standard errors from per-unit scores (see :mod:`sosstats.panel._logit`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

from sosstats._validate import as_list, check_columns, check_frame, check_level, check_option
from sosstats.errors import ConvergenceError, DataError, DesignError
from sosstats.panel._logit import (
    LogitResult,
    _cluster_codes,
    _complete,
    _covariate_matrix,
    _estimate_table,
    _sandwich,
    _separation,
    _separation_error,
)

__all__ = ["ConditionalLogitResult", "conditional_logit"]


@dataclass(frozen=True, eq=False)
class ConditionalLogitResult(LogitResult):
    """Conditional (fixed-effects) logit of a binary outcome over two waves.

    Terms: ``time`` (the change in log-odds for the reference covariate pattern) and
    ``time:<covariate>`` (how the change differs by covariate). ``n_up`` / ``n_down`` count
    the discordant units (0 -> 1 and 1 -> 0), the only ones that inform the fit.
    """

    n_up: int = 0
    n_down: int = 0


# -- conditional logit ----------------------------------------------------------------------

def conditional_logit(data: pd.DataFrame, before: str, after: str, *,
                      covariates: str | Sequence[str] | None = None,
                      cluster: str | None = None,
                      missing: Literal["drop", "raise"] = "drop",
                      level: float = 0.95) -> ConditionalLogitResult:
    r"""Conditional (fixed-effects) logit of a binary outcome observed at two waves.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per unit (family).
    before, after : str
        Binary (0/1) outcome at Time 1 and Time 2.
    covariates : str or sequence of str, optional
        Time-invariant unit characteristics (numeric, bool or categorical); each enters
        interacted with time, so its coefficient is how the change differs with it.
    cluster : str, optional
        Column for CR1 cluster-robust standard errors (e.g. ``"la_code"``).
    missing : {"drop", "raise"}
        Rows with a missing outcome or covariate are dropped (counted) or raise.
    level : float
        Default confidence level of ``summary``/``tidy``.

    Returns
    -------
    ConditionalLogitResult

    Notes
    -----
    The model is :math:`\operatorname{logit} P(y_{it} = 1) = \alpha_i + t(\gamma + x_i^\top
    \delta)`, :math:`t \in \{0, 1\}`, with a free intercept :math:`\alpha_i` per unit.
    Conditioning on :math:`y_{i0} + y_{i1}` removes :math:`\alpha_i`: only discordant units
    remain and :math:`P(y_{i1} = 1 \mid y_{i0} + y_{i1} = 1) = \operatorname{expit}(\gamma +
    x_i^\top \delta)`, an ordinary logit on the discordant units (Chamberlain, 1980). The fit
    uses ``statsmodels.discrete.conditional_models.ConditionalLogit``; the cluster-robust
    variance is :math:`\frac{G}{G-1} H^{-1} (\sum_g s_g s_g^\top) H^{-1}` with the unit scores
    :math:`s_i = (y_{i1} - \hat p_i) z_i`, :math:`z_i = (1, x_i)`, summed by cluster (the
    factor :math:`G/(G-1)` is Stata's for maximum likelihood models), with a t reference on
    :math:`G - 1` df. Without covariates :math:`\hat\gamma = \log(n_{01} / n_{10})`, the log of
    McNemar's odds ratio.

    References
    ----------
    Chamberlain, G. (1980). Analysis of covariance with qualitative data. *Review of Economic
    Studies* 47(1), 225-238.
    Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
    inference. *Journal of Human Resources* 50(2), 317-372.
    """
    from statsmodels.discrete.conditional_models import ConditionalLogit

    data = check_frame(data)
    level = check_level(level)
    check_option(missing, ("drop", "raise"), "missing")
    covs = as_list(covariates)
    extra = [cluster] if cluster is not None else []
    cols = list(dict.fromkeys([before, after, *covs, *extra]))
    check_columns(data, cols)
    frame, n_dropped = _complete(data, cols, missing)
    for name in (before, after):
        values = set(pd.unique(frame[name]).tolist())
        if not values <= {0, 1}:
            raise DataError(f"conditional logit needs a binary (0/1) outcome; {name!r} has "
                            f"values {sorted(values - {0, 1}, key=str)[:10]}.")
    y0 = frame[before].to_numpy(dtype=float)
    y1 = frame[after].to_numpy(dtype=float)
    xcov = _covariate_matrix(frame, covs)
    names = ["time"] + [f"time:{c}" for c in xcov.columns]
    disc = y0 != y1
    n_up, n_down = int((disc & (y1 == 1)).sum()), int((disc & (y1 == 0)).sum())
    if n_up + n_down == 0:
        raise DesignError(f"no unit changed between {before!r} and {after!r}; the conditional "
                          "logit has no information.")
    xd = xcov.to_numpy()[disc]
    d = y1[disc].astype(np.int64)
    if n_up == 0 or n_down == 0:
        raise DesignError(f"perfect separation: every one of the {n_up + n_down} units that "
                          f"changed went {'1 -> 0' if n_up == 0 else '0 -> 1'} between "
                          f"{before!r} and {after!r}, so the time effect is infinite.")
    if xd.shape[1] and np.linalg.matrix_rank(np.column_stack([np.ones(len(d)), xd])) \
            < xd.shape[1] + 1:
        raise DesignError("covariates are collinear (or constant) among the units that "
                          f"changed: {list(xcov.columns)}.")
    sep = _separation(xd, d, 2)
    if sep is not None:
        raise _separation_error(sep, list(xcov.columns), after)

    # concordant units drop out of the conditional likelihood: pass the discordant ones only
    n, m = len(frame), len(d)
    endog = np.concatenate([y0[disc], y1[disc]])
    t = np.repeat([0.0, 1.0], m)
    exog = np.column_stack([t] + [t * np.tile(xd[:, j], 2) for j in range(xd.shape[1])])
    model = ConditionalLogit(endog, exog, groups=np.tile(np.arange(m), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(method="newton", maxiter=200, disp=False)
    if not np.all(np.abs(model.score(np.asarray(fit.params))) < 1e-4 * max(m, 1)):
        raise ConvergenceError("the conditional logit did not converge.")
    params = np.asarray(fit.params, dtype=float)

    z = np.column_stack([np.ones(len(d)), xd])
    prob = special.expit(z @ params)
    hessian = -(z * (prob * (1 - prob))[:, None]).T @ z
    if cluster is None:
        vcov, df, g = np.asarray(fit.cov_params(), dtype=float), np.inf, None
    else:
        codes, g = _cluster_codes(frame, cluster)
        vcov = _sandwich((d - prob)[:, None] * z, hessian, codes[disc], g)
        df = float(g - 1)
    table = _estimate_table(params, vcov, names, df)
    return ConditionalLogitResult(
        estimates=table, vcov=pd.DataFrame(vcov, index=names, columns=names), nobs=n,
        n_dropped=n_dropped, method=f"conditional logit of {before!r} -> {after!r}",
        cluster=cluster, n_clusters=g, llf=float(fit.llf), level=level, n_up=n_up,
        n_down=n_down)


