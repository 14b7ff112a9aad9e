"""Ordered logit of an ordinal outcome at Time 2 on its Time 1 value and covariates.

The ANCOVA of an ordinal outcome, on WIDE data (one row per unit), optional unit weights;
maximum likelihood by Newton's method with analytic per-unit scores and Hessians in the
natural parameters (slopes, cut-points), and cluster-robust inference for few clusters
(``inference=``: CR1, the generalised CR2 with Satterthwaite df, CR3, the wild score bootstrap;
see :mod:`sosstats.panel._logit` and :mod:`sosstats._kernels.cluster_glm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from sosstats._hypotheses import LinearFit, LinearHypotheses
from sosstats._kernels.cluster_cr2 import group_sum
from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_int,
    check_level,
    check_option,
)
from sosstats.errors import DataError, DesignError
from sosstats.panel._logit import (
    LOGIT_INFERENCE,
    LogitResult,
    _cluster_codes,
    _complete,
    _covariate_matrix,
    _estimate_table,
    _separation,
    _separation_error,
    _weights,
    default_logit_inference,
)
from sosstats.panel._ordered_hypotheses import hypothesis_fit
from sosstats.panel._ordered_likelihood import _label, _Ordered, _ordinal_codes

__all__ = ["OrderedChangeResult", "ordered_change"]


@dataclass(frozen=True, eq=False)
class OrderedChangeResult(LinearHypotheses, LogitResult):
    """Ordered logit of the outcome at T2 on its value at T1 and covariates.

    Slopes first, then cut-points ``"a|b"`` (between categories ``a`` and ``b``, delta-method
    SEs); :meth:`wald_test`, :meth:`contrast`: :mod:`sosstats.panel._ordered_hypotheses`.
    """

    categories: tuple = ()
    _fit: LinearFit | None = field(default=None, repr=False)

    def _linear_fit(self) -> LinearFit:
        return self._fit

    def plot(self, ax: Any = None) -> Any:
        """Coefficient plot of the slopes with their confidence intervals.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn into: ``ax`` when given, else a new figure's.
        """
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

def ordered_change(data: pd.DataFrame, before: str | None, after: str, *,
                   covariates: str | Sequence[str] | None = None, cluster: str | None = None,
                   inference: Literal["cr1", "cr2", "cr3", "wild"] | None = None,
                   weights: str | None = None,
                   baseline: Literal["linear", "categorical"] = "linear",
                   categories: Sequence[Any] | None = None,
                   wild_weights: Literal["rademacher", "webb"] = "rademacher",
                   n_resamples: int = 9999, rng: int | np.random.Generator | None = None,
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
        Column for cluster-robust inference (e.g. ``"la_code"``); without it, model-based
        standard errors (inverse observed information) and a normal reference.
    inference : {"cr1", "cr2", "cr3", "wild"}, optional
        Default: ``"cr2"`` with fewer than 42 clusters (CR1 under-covers there: 82-84% for
        nominal 95% with ten pilots), else ``"cr1"``.
        With ``cluster``: ``"cr1"`` (``G/(G-1)`` sandwich, t on ``G - 1`` df; warns below 42
        clusters), ``"cr2"`` (generalised bias-reduced sandwich with Satterthwaite df, see
        Notes; recommended with few clusters), ``"cr3"`` (jackknife-type, ``G - 1`` df) or
        ``"wild"`` (wild score bootstrap p-value for each slope, Kline and Santos 2012; NaN
        for the cut-points; standard errors, df and intervals are CR2's). Joint tests:
        ``result.wald_test("experience")`` (HTZ with CR2), ``result.contrast({...})``.
    weights : str, optional
        Column of non-negative unit weights (frequency or analytic / attrition weights): the
        weighted likelihood; rows with weight 0 do not count; a cluster whose weights are all
        0 raises :class:`~sosstats.errors.DataError` naming ``weights``.
    baseline : {"linear", "categorical"}
        T1 enters as one linear term (default) or as dummies for its levels.
    categories : sequence, optional
        Order of the T2 categories (lowest first).
    wild_weights : {"rademacher", "webb"}
        Cluster weights of ``inference="wild"`` (Rademacher enumerated when
        ``2**G <= n_resamples``).
    n_resamples : int
        Bootstrap replicates for ``inference="wild"`` when not enumerating.
    rng : int, Generator or None
        Random source of the wild bootstrap weights.
    missing : {"drop", "raise"}
        Rows with a missing value are dropped (counted) or raise.
    level : float
        Default confidence level of ``summary``/``tidy``.

    Returns
    -------
    OrderedChangeResult
        Slopes (log cumulative odds ratios of a higher category) then cut-points ``"a|b"``;
        the summary states the inference, G and the df.

    Notes
    -----
    :math:`P(y_{i2} \le j) = \operatorname{expit}(c_j - x_i^\top \beta)` with
    :math:`x_i` holding :math:`y_{i1}` and the covariates: the ANCOVA of an ordinal outcome
    (a positive slope shifts T2 up for the same T1), the model of statsmodels'
    ``OrderedModel`` (the same estimates), fitted by Newton's method on the (weighted)
    log-likelihood, concave in :math:`(\beta, c)`, with analytic per-unit scores
    :math:`s_i` and Hessians in these natural parameters (so the cut-points' standard errors
    need no delta method). Cluster-robust CR1 variance:
    :math:`\frac{G}{G-1} H^{-1} (\sum_g s_g s_g^\top) H^{-1}`, :math:`s_g` the cluster's
    score sum, :math:`H` the observed information, t reference on :math:`G - 1` df. The ordered
    logit is not a GLM with one residual per unit, so clubSandwich's ``glm`` form does not
    apply; CR2 is the generalised Bell-McCaffrey adjustment in score form
    (:func:`sosstats._kernels.cluster_glm.score_cluster_vcov`: Kauermann and Carroll 2001;
    Mancl and DeRouen 2001 for CR3): :math:`u_g = (I - S_g M)^{-1/2} s_g` with :math:`S_g` the
    cluster's share of the observed information and :math:`M = H^{-1}`, and CR3
    :math:`u_g = (I - S_g M)^{-1} s_g`. Its working model: cluster scores independent with
    :math:`\operatorname{Var}(s_g) = S_g` (the information equality, weights as precision
    weights); the Satterthwaite df of each term come from the same working model. For a
    binary logit this form agrees with clubSandwich's glm CR2 to first order in the leverages
    (about 3% in the standard errors with ten pilots; the df to 0.5%). The wild score
    bootstrap refits the model with the slope held at 0 and perturbs the restricted cluster
    scores (:mod:`sosstats._kernels.wild_score`). With ten pilots, randomisation inference
    over pilot labels (:func:`sosstats.panel.randomization.randomization_test`) remains the
    exact check. Separation (some slope with an infinite estimate) raises
    :class:`~sosstats.errors.DesignError` before fitting.

    References
    ----------
    McCullagh, P. (1980). Regression models for ordinal data. *Journal of the Royal Statistical
    Society B* 42(2), 109-142.
    Pratt, J. W. (1981). Concavity of the log likelihood. *JASA* 76(373), 103-106.
    Agresti, A. (2010). *Analysis of Ordinal Categorical Data*, 2nd ed. Wiley.
    Kauermann, G. and Carroll, R. J. (2001). A note on the efficiency of sandwich covariance
    matrix estimation. *JASA* 96(456), 1387-1396.
    Kline, P. and Santos, A. (2012). A score based approach to wild bootstrap inference.
    *Journal of Econometric Methods* 1(1), 23-41.
    """
    data = check_frame(data)
    level = check_level(level)
    check_option(missing, ("drop", "raise"), "missing")
    check_option(baseline, ("linear", "categorical"), "baseline")
    if inference is not None:
        check_option(inference, LOGIT_INFERENCE, "inference")
    check_option(wild_weights, ("rademacher", "webb"), "wild_weights")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    covs = as_list(covariates)
    lead = [before] if before is not None else []
    extra = [cluster] if cluster is not None else []
    wcol = [weights] if weights is not None else []
    cols = list(dict.fromkeys([after, *lead, *covs, *extra, *wcol]))
    check_columns(data, cols)
    frame, n_dropped = _complete(data, cols, missing)
    w_all = _weights(frame, weights)
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
    pos = np.ones(len(y), bool) if w_all is None else w_all > 0
    if p and np.linalg.matrix_rank(np.column_stack([np.ones(pos.sum()), x[pos]])) < p + 1:
        raise DesignError(f"regressors are collinear (or constant): {names}.")
    if np.unique(y[pos]).size < k:
        raise DesignError(f"a category of {after!r} has no row with a positive weight.")
    sep = _separation(x[pos], y[pos], k)
    if sep is not None:
        raise _separation_error(sep, names, after)

    model = _Ordered(x[pos], y[pos], k, None if w_all is None else w_all[pos])
    theta = model.fit()
    llf = model.loglik(theta)
    extra_cols: dict[str, Any] = {}
    hypotheses, default = {}, False   # clustered fit's pieces for wald_test; CR2 by default?
    if cluster is None:
        _, info = model.information(theta)
        vcov, df, g = np.linalg.inv(info), np.full(theta.size, np.inf), None
    else:
        codes_all, g = _cluster_codes(frame, cluster, inference, w_all)
        default, inference = inference is None, inference or default_logit_inference(g)
        codes, gp = _recode(codes_all[pos])
        ws, info_g = model.information(theta, codes, gp)
        if inference == "cr1":
            m = np.linalg.inv(info_g.sum(axis=0))
            m = 0.5 * (m + m.T)
            sc = group_sum(codes, gp, ws) @ m
            vcov, df = g / (g - 1) * (sc.T @ sc), np.full(theta.size, float(g - 1))
        else:
            from sosstats._kernels.cluster_glm import score_cluster_vcov

            cv = score_cluster_vcov(group_sum(codes, gp, ws), info_g,
                                    kind="cr3" if inference == "cr3" else "cr2")
            vcov, df = cv.vcov, np.asarray(cv.df, dtype=float)
        hypotheses = {"scores": ws, "codes": codes, "info": info_g}
        if inference == "wild":
            extra_cols = _wild_slopes(model, theta, codes, p, wild_weights, n_resamples, rng)
    vcov = 0.5 * (vcov + vcov.T)
    labels = [_label(c) for c in cats]
    terms = names + [f"{labels[j]}|{labels[j + 1]}" for j in range(k - 1)]
    table = _estimate_table(theta, vcov, terms, df)
    for col, values in extra_cols.items():
        table[col] = values
    what = f"{after!r} on {before!r}" if before is not None else f"{after!r}"
    note = ""
    if extra_cols:
        from sosstats._kernels.wild_result import tie_note

        note = ("Wild score bootstrap of each slope (restricted fit with the slope at 0; "
                "cut-points not tested): " + tie_note(int(extra_cols["n_resamples"][0]),
                                                      bool(extra_cols["enumerated"][0]),
                                                      wild_weights))
    return OrderedChangeResult(
        estimates=table, vcov=pd.DataFrame(vcov, index=terms, columns=terms), nobs=len(y),
        n_dropped=n_dropped, method=f"ordered logit of {what}", cluster=cluster,
        n_clusters=g, llf=llf, level=level, categories=tuple(cats),
        inference="model" if cluster is None else inference, weights=weights,
        inference_note=note, inference_default=default,
        _fit=hypothesis_fit(theta, vcov, terms, "model" if cluster is None else inference,
                             len(y), hypotheses))


def _recode(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense codes ``0..G'-1`` of the clusters present (rows with a positive weight)."""
    present = np.bincount(codes) > 0
    return (np.cumsum(present) - 1)[codes], int(present.sum())


def _wild_slopes(model: _Ordered, theta: np.ndarray, codes: np.ndarray, p: int,
                 wild_weights: str, n_resamples: int, rng: Any) -> dict[str, Any]:
    """Wild score bootstrap p-value of each slope (NaN for the cut-points)."""
    from sosstats._kernels.wild_score import wild_score_test
    from sosstats._validate import check_rng

    gen = check_rng(rng)
    q = theta.size
    pvals = np.full(q, np.nan)
    sizes = np.zeros(q, dtype=np.int64)
    enum = np.zeros(q, dtype=bool)
    for j in range(p):                               # one restricted fit per slope
        start = theta.copy()
        start[j] = 0.0
        free = np.ones(q, bool)
        free[j] = False
        restricted = model.fit(free=free, theta0=start)
        ws, info = model.information(restricted)
        test = wild_score_test(ws, info, codes, term=j, weight_type=wild_weights,
                               n_resamples=n_resamples, rng=gen)
        pvals[j], sizes[j], enum[j] = test.p_value, test.n_resamples, test.enumerated
    return {"p_value": pvals, "n_resamples": sizes, "enumerated": enum}
