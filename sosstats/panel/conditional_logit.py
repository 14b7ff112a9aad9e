"""Conditional (fixed-effects) logit of a binary outcome observed at two waves.

Takes WIDE data (one row per unit, ``before`` and ``after`` columns), optional unit weights;
cluster-robust inference for few clusters (``inference=``: CR1, CR2 with Satterthwaite df,
CR3, the wild score bootstrap; see :mod:`sosstats.panel._logit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from sosstats._hypotheses import LinearFit, LinearHypotheses
from sosstats._kernels.wild_score import logit_fit
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
    _logit_inference,
    _separation,
    _separation_error,
    _weights,
    default_logit_inference,
)

__all__ = ["ConditionalLogitResult", "conditional_logit"]


@dataclass(frozen=True, eq=False)
class ConditionalLogitResult(LinearHypotheses, LogitResult):
    """Conditional (fixed-effects) logit of a binary outcome over two waves.

    Terms: ``time`` (the change in log-odds for the reference covariate pattern) and
    ``time:<covariate>`` (how the change differs by covariate). ``n_up`` / ``n_down`` count
    the discordant units (0 -> 1 and 1 -> 0), the only ones that inform the fit.
    ``wald_test`` / ``contrast`` test linear hypotheses on the log-odds coefficients with the
    fit's covariance: the GLM CR2 with HTZ (clubSandwich's ``Wald_test`` on the ``glm``),
    CR1 / CR3 with ``F(q, G - 1)``, model-based errors with chi-square.
    """

    n_up: int = 0
    n_down: int = 0
    _fit: LinearFit | None = field(default=None, repr=False)

    def _linear_fit(self) -> LinearFit:
        if self._fit is None:
            raise DesignError("this result carries no fit to test hypotheses on.")
        return self._fit


# -- conditional logit ----------------------------------------------------------------------

def conditional_logit(data: pd.DataFrame, before: str, after: str, *,
                      covariates: str | Sequence[str] | None = None,
                      cluster: str | None = None,
                      inference: Literal["cr1", "cr2", "cr3", "wild"] | None = None,
                      weights: str | None = None,
                      wild_weights: Literal["rademacher", "webb"] = "rademacher",
                      n_resamples: int = 9999,
                      rng: int | np.random.Generator | None = None,
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
        Column for cluster-robust inference (e.g. ``"la_code"``); without it, model-based
        standard errors (inverse information) and a normal reference.
    inference : {"cr1", "cr2", "cr3", "wild"}, optional
        Default: ``"cr2"`` with fewer than 42 clusters (CR1 under-covers there: 82-84% for
        nominal 95% with ten pilots), else ``"cr1"``.
        With ``cluster``: ``"cr1"`` (``G/(G-1)`` sandwich, t on ``G - 1`` df; warns below 42
        clusters), ``"cr2"`` (bias-reduced sandwich with Satterthwaite df, clubSandwich's
        definition for a logit ``glm``: recommended with few clusters), ``"cr3"`` (jackknife,
        ``G - 1`` df), or ``"wild"`` (wild score bootstrap p-value per term, Kline and Santos
        2012; standard errors, df and intervals are CR2's). Ignored without ``cluster``.
    weights : str, optional
        Column of non-negative unit weights (frequency or analytic / attrition weights): the
        weighted conditional likelihood, weights as R's ``glm(weights = )`` prior weights in
        every variance. Rows with weight 0 do not count; a cluster whose weights are all 0
        raises :class:`~sosstats.errors.DataError` naming ``weights``.
    wild_weights : {"rademacher", "webb"}
        Cluster weights of ``inference="wild"`` (Rademacher sign vectors are all enumerated
        when ``2**G <= n_resamples``).
    n_resamples : int
        Bootstrap replicates for ``inference="wild"`` when not enumerating.
    rng : int, Generator or None
        Random source of the wild bootstrap weights.
    missing : {"drop", "raise"}
        Rows with a missing outcome, covariate, cluster or weight are dropped (counted) or
        raise.
    level : float
        Default confidence level of ``summary``/``tidy``.

    Returns
    -------
    ConditionalLogitResult
        The table's ``df`` column is the t reference of each term (Satterthwaite for cr2 and
        wild); ``inference``, ``n_clusters`` (G) and the df are stated in the summary.

    Notes
    -----
    The model is :math:`\operatorname{logit} P(y_{it} = 1) = \alpha_i + t(\gamma + x_i^\top
    \delta)`, :math:`t \in \{0, 1\}`, with a free intercept :math:`\alpha_i` per unit.
    Conditioning on :math:`y_{i0} + y_{i1}` removes :math:`\alpha_i`: only discordant units
    remain and :math:`P(y_{i1} = 1 \mid y_{i0} + y_{i1} = 1) = \operatorname{expit}(\gamma +
    x_i^\top \delta)`, an ordinary logit on the discordant units (Chamberlain, 1980), fitted
    here by Newton's method (the same estimates as statsmodels' ``ConditionalLogit``). The
    cluster-robust CR1 variance is :math:`\frac{G}{G-1} H^{-1} (\sum_g s_g s_g^\top) H^{-1}`
    with the unit scores :math:`s_i = w_i (y_{i1} - \hat p_i) z_i`, :math:`z_i = (1, x_i)`,
    summed by cluster (the factor :math:`G/(G-1)` is Stata's for maximum likelihood models and
    clubSandwich's "CR1"), with a t reference on :math:`G - 1` df, :math:`G` counting the
    clusters of the rows used. Because the conditional logit is this logit ``glm``, CR2 and CR3
    are clubSandwich's ``vcovCR`` of ``glm(y2 ~ x, binomial, weights = w)`` on the discordant
    units (working model: the logit's own variance :math:`\hat p (1 - \hat p) / w`, adjustment
    matrices from the weighted hat matrix; see :mod:`sosstats._kernels.cluster_glm`), CR2 with
    ``coef_test``'s Satterthwaite df; clusters without a discordant unit carry no information
    there. The wild score bootstrap refits each term's restricted model (term = 0) and
    perturbs its cluster scores (:mod:`sosstats._kernels.wild_score`). Without covariates
    :math:`\hat\gamma = \log(n_{01} / n_{10})`, the log of McNemar's odds ratio.

    References
    ----------
    Chamberlain, G. (1980). Analysis of covariance with qualitative data. *Review of Economic
    Studies* 47(1), 225-238.
    Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
    inference. *Journal of Human Resources* 50(2), 317-372.
    Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance
    estimation and hypothesis testing in fixed effects models. *JBES* 36(4), 672-683.
    Kline, P. and Santos, A. (2012). A score based approach to wild bootstrap inference.
    *Journal of Econometric Methods* 1(1), 23-41.
    """
    data = check_frame(data)
    level = check_level(level)
    check_option(missing, ("drop", "raise"), "missing")
    if inference is not None:
        check_option(inference, LOGIT_INFERENCE, "inference")
    check_option(wild_weights, ("rademacher", "webb"), "wild_weights")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    covs = as_list(covariates)
    extra = [cluster] if cluster is not None else []
    wcol = [weights] if weights is not None else []
    cols = list(dict.fromkeys([before, after, *covs, *extra, *wcol]))
    check_columns(data, cols)
    frame, n_dropped = _complete(data, cols, missing)
    for name in (before, after):
        values = set(pd.unique(frame[name]).tolist())
        if not values <= {0, 1}:
            raise DataError(f"conditional logit needs a binary (0/1) outcome; {name!r} has "
                            f"values {sorted(values - {0, 1}, key=str)[:10]}.")
    w_all = _weights(frame, weights)
    y0 = frame[before].to_numpy(dtype=float)
    y1 = frame[after].to_numpy(dtype=float)
    xcov = _covariate_matrix(frame, covs)
    names = ["time"] + [f"time:{c}" for c in xcov.columns]
    disc = y0 != y1
    if w_all is not None:
        disc &= w_all > 0
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

    # concordant units drop out of the conditional likelihood: the logit of the discordant ones
    n = len(frame)
    wd = None if w_all is None else w_all[disc]
    z = np.column_stack([np.ones(len(d)), xd])
    params, prob = logit_fit(z, d.astype(float), wd)
    ww = np.ones(len(d)) if wd is None else wd
    llf = float(np.sum(ww * np.where(d == 1, np.log(prob), np.log1p(-prob))))
    extra_cols: dict = {}
    default = False                    # CR2 chosen by the few-cluster default
    if cluster is None:
        info = (z * (ww * prob * (1 - prob))[:, None]).T @ z
        vcov, df, g = np.linalg.inv(info), np.full(len(names), np.inf), None
    else:
        codes, g = _cluster_codes(frame, cluster, inference, w_all)
        default, inference = inference is None, inference or default_logit_inference(g)
        vcov, df, extra_cols = _logit_inference(z, d.astype(float), prob, wd, codes[disc], g,
                                                inference, rng=rng, n_resamples=n_resamples,
                                                wild_weights=wild_weights)
    vcov = 0.5 * (vcov + vcov.T)
    table = _estimate_table(params, vcov, names, df)
    for col, values in extra_cols.items():
        table[col] = values
    return ConditionalLogitResult(
        estimates=table, vcov=pd.DataFrame(vcov, index=names, columns=names), nobs=n,
        n_dropped=n_dropped, method=f"conditional logit of {before!r} -> {after!r}",
        cluster=cluster, n_clusters=g, llf=llf, level=level, n_up=n_up, n_down=n_down,
        inference="model" if cluster is None else inference, weights=weights,
        inference_note=_wild_note(extra_cols, wild_weights), inference_default=default,
        _fit=_hypothesis_fit(z, d.astype(float), prob, wd,
                             None if cluster is None else codes[disc], params, vcov, names,
                             "model" if cluster is None else inference))


def _hypothesis_fit(z: np.ndarray, d: np.ndarray, prob: np.ndarray, w: np.ndarray | None,
                    codes: np.ndarray | None, params: np.ndarray, vcov: np.ndarray,
                    names: list[str], inference: str) -> LinearFit:
    """Return the logit in GLM form for ``wald_test`` / ``contrast`` (CR2: the glm HTZ)."""
    from sosstats._kernels.cluster_glm import glm_satterthwaite_df, glm_wald_htz

    pos = slice(None) if w is None else w > 0
    kind = "cr2" if inference == "wild" else inference
    glm = dict(variance=(prob * (1 - prob))[pos], weights=None if w is None else w[pos])

    def htz(R: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
        res = glm_wald_htz(z[pos], (d - prob)[pos], codes[pos], params, R, r, **glm)
        return res.statistic, res.df_denom, res.p_value, res.q_stat

    def contrast_df(c: np.ndarray) -> float:
        return float(glm_satterthwaite_df(z[pos], codes[pos], c, **glm))

    cr2 = kind == "cr2" and codes is not None
    return LinearFit(X=z, resid=d - prob, beta=np.asarray(params, dtype=float),
                     terms=list(names), vcov=vcov, kind="cr2" if cr2 else kind, clusters=codes,
                     weights=w, htz=htz if cr2 else None, contrast_df=contrast_df if cr2 else None)


def _wild_note(extra: dict, wild_weights: str) -> str:
    if "n_resamples" not in extra:
        return ""
    from sosstats._kernels.wild_result import tie_note

    b, enum = int(extra["n_resamples"][0]), bool(extra["enumerated"][0])
    return ("Wild score bootstrap (restricted scores, term = 0 refitted per term): "
            + tie_note(b, enum, wild_weights))
