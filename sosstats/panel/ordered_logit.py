"""Ordered logit of an ordinal outcome at Time 2 on its Time 1 value and covariates.

The ANCOVA of an ordinal outcome, on WIDE data (one row per unit); statsmodels'
``OrderedModel`` fit with cluster-robust (CR1) errors computed from per-unit scores (it has no
cluster option) and delta-method cut-points (see :mod:`sosstats.panel._logit`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

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

__all__ = ["OrderedChangeResult", "ordered_change"]


@dataclass(frozen=True, eq=False)
class OrderedChangeResult(LogitResult):
    """Ordered logit of the outcome at T2 on its value at T1 and covariates.

    Slope terms come first; cut-points follow as ``"a|b"`` (the threshold between categories
    ``a`` and ``b``), with delta-method standard errors.
    """

    categories: tuple = ()

    def plot(self, ax: Any = None) -> Any:
        """Coefficient plot of the slopes with their confidence intervals."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 0.4 * len(self.estimates) + 1))
        tidy = self.tidy(self.level)
        tidy = tidy[~tidy["term"].astype(str).str.contains("|", regex=False)]
        y = np.arange(len(tidy))[::-1]
        ax.errorbar(tidy["estimate"], y, xerr=[tidy["estimate"] - tidy["ci_lower"],
                                               tidy["ci_upper"] - tidy["estimate"]],
                    fmt="o", capsize=3)
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(y, tidy["term"])
        ax.set_xlabel("log odds ratio")
        return ax


# -- ordered logit of T2 on T1 --------------------------------------------------------------

def _ordinal_codes(frame: pd.DataFrame, after: str,
                   categories: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    s = frame[after]
    if categories is not None:
        cats = list(categories)
    elif isinstance(s.dtype, pd.CategoricalDtype):
        cats = list(s.cat.categories)
    else:
        try:
            cats = sorted(pd.unique(s).tolist())
        except TypeError as exc:
            raise DataError(f"{after!r} is not ordered: pass `categories` in order or use an "
                            "ordered categorical column.") from exc
    pos = {c: i for i, c in enumerate(cats)}
    unknown = sorted({v for v in pd.unique(s).tolist() if v not in pos}, key=str)
    if unknown:
        raise DataError(f"{after!r} has values {unknown[:10]} not in `categories` {cats}.")
    codes = np.fromiter((pos[v] for v in s.tolist()), dtype=np.int64, count=len(s))
    seen = np.unique(codes)
    if seen.size < 2:
        raise DesignError(f"{after!r} takes a single value ({cats[seen[0]]!r}) in the rows used; "
                          "an ordered model needs at least two categories.")
    # categories never observed carry no information on their cut-points: drop them
    remap = np.full(len(cats), -1)
    remap[seen] = np.arange(seen.size)
    return remap[codes], [cats[i] for i in seen]


def _label(value: Any) -> str:
    """Category label for a cut-point name (2.0 -> "2")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _cut_jacobian(theta: np.ndarray, p: int, k: int) -> np.ndarray:
    """d(params, cuts) / d(params, statsmodels' increment parameters)."""
    jac = np.eye(p + k - 1)
    incr = theta[p + 1:]
    for j in range(1, k - 1):
        jac[p + j, p] = 1.0
        jac[p + j, p + 1:p + j + 1] = np.exp(incr[:j])
    return jac


def ordered_change(data: pd.DataFrame, before: str | None, after: str, *,
                   covariates: str | Sequence[str] | None = None,
                   cluster: str | None = None,
                   baseline: Literal["linear", "categorical"] = "linear",
                   categories: Sequence[Any] | None = None,
                   missing: Literal["drop", "raise"] = "drop",
                   level: float = 0.95) -> OrderedChangeResult:
    r"""Ordered logit of an ordinal outcome at T2 on its T1 value and covariates.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per unit (family).
    before : str or None
        The outcome at Time 1 (numeric codes), or None for a T2-only outcome (e.g. concerns).
    after : str
        The ordinal outcome at Time 2: numeric codes, an ordered categorical, or any values
        with ``categories`` giving their order.
    covariates : str or sequence of str, optional
        Unit characteristics (numeric, bool or categorical; categorical ones become treatment
        dummies named ``"col[level]"``).
    cluster : str, optional
        Column for CR1 cluster-robust standard errors (e.g. ``"la_code"``).
    baseline : {"linear", "categorical"}
        T1 enters as one linear term (default) or as dummies for its levels.
    categories : sequence, optional
        Order of the T2 categories (lowest first).
    missing : {"drop", "raise"}
        Rows with a missing value are dropped (counted) or raise.
    level : float
        Default confidence level of ``summary``/``tidy``.

    Returns
    -------
    OrderedChangeResult
        Slopes (log cumulative odds ratios of a higher category) then cut-points ``"a|b"``.

    Notes
    -----
    :math:`P(y_{i2} \le j) = \operatorname{expit}(c_j - x_i^\top \beta)` with
    :math:`x_i` holding :math:`y_{i1}` and the covariates: the ANCOVA of an ordinal outcome
    (a positive slope shifts T2 up for the same T1). Fitted by
    ``statsmodels.miscmodels.ordinal_model.OrderedModel``, whose thresholds are
    :math:`c_1, \log(c_2 - c_1), \dots`; the reported cut-points and their standard errors
    come back through the delta method. Cluster-robust (CR1) variance:
    :math:`\frac{G}{G-1} H^{-1} (\sum_g s_g s_g^\top) H^{-1}` with :math:`s_g` the sum of the
    per-unit scores (``model.score_obs``) in cluster :math:`g` and :math:`H` the Hessian of the
    log-likelihood, t reference on :math:`G - 1` df. With ten pilots these errors are still
    too small (Cameron and Miller, 2015): check pilot-level contrasts with
    :func:`sosstats.panel.randomization.randomization_test`. Separation (some slope with an
    infinite estimate) raises :class:`~sosstats.errors.DesignError` before fitting.

    References
    ----------
    McCullagh, P. (1980). Regression models for ordinal data. *Journal of the Royal Statistical
    Society B* 42(2), 109-142.
    Agresti, A. (2010). *Analysis of Ordinal Categorical Data*, 2nd ed. Wiley.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    data = check_frame(data)
    level = check_level(level)
    check_option(missing, ("drop", "raise"), "missing")
    check_option(baseline, ("linear", "categorical"), "baseline")
    covs = as_list(covariates)
    lead = [before] if before is not None else []
    extra = [cluster] if cluster is not None else []
    cols = list(dict.fromkeys([after, *lead, *covs, *extra]))
    check_columns(data, cols)
    frame, n_dropped = _complete(data, cols, missing)
    y, cats = _ordinal_codes(frame, after, categories)
    k = len(cats)

    parts = []
    if before is not None:
        s = frame[before]
        if baseline == "linear":
            if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                codes_b = s.cat.codes if isinstance(s.dtype, pd.CategoricalDtype) else None
                if codes_b is None:
                    raise DataError(f"{before!r} must be numeric for baseline='linear'; use "
                                    "baseline='categorical'.")
                parts.append(pd.DataFrame({before: codes_b.to_numpy(dtype=float)},
                                          index=frame.index))
            else:
                parts.append(pd.DataFrame({before: s.to_numpy(dtype=float)}, index=frame.index))
        else:
            parts.append(_covariate_matrix(frame.assign(**{before: s.astype("category")}),
                                           [before]))
    if covs:
        parts.append(_covariate_matrix(frame, covs))
    xframe = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)
    names = list(xframe.columns)
    x = xframe.to_numpy(dtype=float)
    p = x.shape[1]
    if p and np.linalg.matrix_rank(np.column_stack([np.ones(len(x)), x])) < p + 1:
        raise DesignError(f"regressors are collinear (or constant): {names}.")
    sep = _separation(x, y, k)
    if sep is not None:
        raise _separation_error(sep, names, after)

    model = OrderedModel(y, x if p else np.zeros((len(y), 0)), distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(method="bfgs", maxiter=2000, disp=False)
    if not fit.mle_retvals.get("converged", True):
        raise ConvergenceError("the ordered logit did not converge.")
    theta = np.asarray(fit.params, dtype=float)
    hessian = model.hessian(theta)
    if cluster is None:
        vcov_theta, df, g = np.linalg.inv(-hessian), np.inf, None
    else:
        codes, g = _cluster_codes(frame, cluster)
        vcov_theta = _sandwich(model.score_obs(theta), hessian, codes, g)
        df = float(g - 1)
    jac = _cut_jacobian(theta, p, k)
    cuts = model.transform_threshold_params(theta)[1:-1]
    params = np.concatenate([theta[:p], cuts])
    vcov = jac @ vcov_theta @ jac.T
    labels = [_label(c) for c in cats]
    terms = names + [f"{labels[j]}|{labels[j + 1]}" for j in range(k - 1)]
    table = _estimate_table(params, vcov, terms, df)
    what = f"{after!r} on {before!r}" if before is not None else f"{after!r}"
    return OrderedChangeResult(
        estimates=table, vcov=pd.DataFrame(vcov, index=terms, columns=terms), nobs=len(y),
        n_dropped=n_dropped, method=f"ordered logit of {what}", cluster=cluster,
        n_clusters=g, llf=float(fit.llf), level=level, categories=tuple(cats))

