"""Models of binary and ordinal change: conditional logit and ordered logit of T2 on T1.

Both take WIDE data (one row per unit, ``before`` and ``after`` columns) and return a
:class:`sosstats._results.Result`. Cluster-robust (CR1) standard errors are computed here from
per-unit score contributions and the Hessian (statsmodels' ``OrderedModel`` has no cluster
option); separation (no finite maximum likelihood estimate) is detected exactly, by a linear
programme, before anything is fitted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from sosstats._kernels.cluster import FEW_CLUSTERS
from sosstats._results import Result
from sosstats._validate import as_list, check_columns, check_frame, check_level, check_option
from sosstats.errors import ConvergenceError, DataError, DesignError, SosstatsWarning

__all__ = ["ConditionalLogitResult", "OrderedChangeResult", "conditional_logit",
           "ordered_change"]


# -- shared result --------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _LogitResult(Result):
    """Estimates of a (conditional or ordered) logit with model-based or clustered errors."""

    estimates: pd.DataFrame = field(repr=False)
    vcov: pd.DataFrame = field(repr=False)
    nobs: int
    n_dropped: int
    cluster: str | None
    n_clusters: int | None
    llf: float
    method: str = ""
    level: float = 0.95

    def _estimates(self) -> pd.DataFrame:
        return self.estimates.copy()

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """``exp`` of the slope estimates and of their confidence limits."""
        ci = self.conf_int(level)
        slopes = [t for t in self.estimates.index if "|" not in str(t)]
        return pd.DataFrame({"odds_ratio": np.exp(self.estimates.loc[slopes, "estimate"]),
                             "lower": np.exp(ci.loc[slopes, "lower"]),
                             "upper": np.exp(ci.loc[slopes, "upper"])})

    def _notes(self) -> list[str]:
        if self.cluster is None:
            errs = ("model-based standard errors (inverse information), normal reference "
                    "(df = inf)")
        else:
            errs = (f"CR1 cluster-robust standard errors by {self.cluster!r} "
                    f"({self.n_clusters} clusters), t reference with G - 1 df")
        return [f"{self.nobs} units, {self.n_dropped} dropped for missing values; {errs}."]


@dataclass(frozen=True, eq=False)
class ConditionalLogitResult(_LogitResult):
    """Conditional (fixed-effects) logit of a binary outcome over two waves.

    Terms: ``time`` (the change in log-odds for the reference covariate pattern) and
    ``time:<covariate>`` (how the change differs by covariate). ``n_up`` / ``n_down`` count
    the discordant units (0 -> 1 and 1 -> 0), the only ones that inform the fit.
    """

    n_up: int = 0
    n_down: int = 0


@dataclass(frozen=True, eq=False)
class OrderedChangeResult(_LogitResult):
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


# -- helpers --------------------------------------------------------------------------------

def _complete(data: pd.DataFrame, columns: list[str], missing: str) -> tuple[pd.DataFrame, int]:
    keep = data[columns].notna().all(axis=1)
    n_dropped = int((~keep).sum())
    if n_dropped and missing == "raise":
        counts = ", ".join(f"{c!r} ({int(data[c].isna().sum())})" for c in columns
                           if data[c].isna().any())
        raise DataError(f"missing values in {counts}; drop them or use missing='drop'.")
    if not keep.any():
        raise DataError(f"no row has all of {columns} observed.")
    return data.loc[keep, columns], n_dropped


def _covariate_matrix(frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric covariates as they are; bool as 0/1; categorical/text as treatment dummies."""
    parts: dict[str, np.ndarray] = {}
    for col in covariates:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            parts[col] = s.to_numpy(dtype=float)
        elif pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
            parts[col] = s.to_numpy(dtype=float)
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [c for c in s.cat.categories if (s == c).any()]
            else:
                levels = sorted(pd.unique(s).tolist(), key=str)
            for lev in levels[1:]:
                parts[f"{col}[{lev}]"] = (s == lev).to_numpy(dtype=float)
    out = pd.DataFrame(parts, index=frame.index)
    const = [c for c in out.columns if np.ptp(out[c].to_numpy()) == 0]
    if const:
        raise DesignError(f"covariate {', '.join(map(repr, const))} does not vary in the rows "
                          "used; drop it.")
    return out


def _cluster_codes(frame: pd.DataFrame, cluster: str) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(frame[cluster], sort=True)
    if (codes < 0).any():
        raise DataError(f"cluster column {cluster!r} has missing values.")
    g = len(uniques)
    if g < 2:
        raise DesignError(f"cluster column {cluster!r} has a single cluster "
                          f"({uniques[0]!r}); cluster-robust errors need at least two.")
    if g < FEW_CLUSTERS:
        warnings.warn(f"only {g} clusters in {cluster!r}: CR1 standard errors are biased "
                      "downwards with fewer than about 42 clusters; prefer a randomisation "
                      "test (sosstats.panel.randomization.randomization_test) for "
                      "pilot-level inference.", SosstatsWarning, stacklevel=3)
    return codes, g


def _sandwich(scores: np.ndarray, hessian: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    r"""CR1 sandwich :math:`\frac{G}{G-1} H^{-1} (\sum_g s_g s_g^\top) H^{-1}`."""
    sums = np.zeros((g, scores.shape[1]))
    np.add.at(sums, codes, scores)
    bread = np.linalg.inv(-hessian)
    return g / (g - 1) * bread @ (sums.T @ sums) @ bread


def _separation(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray | None:
    r"""Direction of (quasi-)complete separation of an ordinal/binary response, or None.

    The maximum likelihood estimate of a cumulative logit (binary: logit with intercept) fails
    to exist iff some :math:`\beta \ne 0` and cut-points :math:`c` satisfy
    :math:`c_{y_i - 1} \le x_i^\top \beta \le c_{y_i}` for every unit, not all with equality
    (Albert and Anderson, 1984; Konis, 2007). The linear programme maximises the total slack
    over a box; a positive optimum means separation.
    """
    n, p = x.shape
    if p == 0:
        return None
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    xs = (x - x.mean(axis=0)) / scale
    bound = float(np.abs(xs).sum(axis=1).max()) + 1.0
    # variables: beta (p), cuts (k - 1); rows: x b - c_y <= 0 (y < k-1), c_{y-1} - x b <= 0
    rows_up = np.flatnonzero(y < k - 1)
    rows_lo = np.flatnonzero(y > 0)
    a_up = np.zeros((rows_up.size, p + k - 1))
    a_up[:, :p] = xs[rows_up]
    a_up[np.arange(rows_up.size), p + y[rows_up]] = -1.0
    a_lo = np.zeros((rows_lo.size, p + k - 1))
    a_lo[:, :p] = -xs[rows_lo]
    a_lo[np.arange(rows_lo.size), p + y[rows_lo] - 1] = 1.0
    a_ub = np.vstack([a_up, a_lo])
    # maximise total slack = -sum(a_ub @ v)  <=> minimise sum(a_ub @ v)
    res = optimize.linprog(a_ub.sum(axis=0), A_ub=a_ub, b_ub=np.zeros(a_ub.shape[0]),
                           bounds=[(-1.0, 1.0)] * p + [(-bound, bound)] * (k - 1),
                           method="highs")
    if res.status != 0 or -res.fun <= 1e-7 * max(n, 1):
        return None
    return res.x[:p] / scale


def _separation_error(direction: np.ndarray, names: list[str], outcome: str) -> DesignError:
    terms = [names[j] for j in np.flatnonzero(np.abs(direction) > 1e-8 * np.abs(direction).max())]
    return DesignError(f"perfect separation: {', '.join(map(repr, terms))} perfectly predicts "
                       f"{outcome!r}, so its maximum likelihood estimate is infinite; merge "
                       "categories, drop or coarsen the term, or use an exact or penalised "
                       "method.")


def _estimate_table(params: np.ndarray, vcov: np.ndarray, names: list[str],
                    df: float) -> pd.DataFrame:
    se = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = params / se
    p = 2 * (stats.t.sf(np.abs(z), df) if np.isfinite(df) else stats.norm.sf(np.abs(z)))
    return pd.DataFrame({"estimate": params, "std_error": se, "statistic": z, "p_value": p,
                         "df": df}, index=pd.Index(names, name="term"))


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
