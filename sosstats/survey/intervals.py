r"""Confidence intervals of survey estimates and the weighted quantile rule.

Proportions (logit, Wilson, Korn-Graubard beta, mean, xlogit), the weighted quantile rule and
the pieces of Woodruff's quantile interval.

All functions are vectorised over estimates (arrays in, arrays out).

References
----------
Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for proportions with small
expected number of positive counts estimated from survey data. *Survey Methodology* 24,
193-201.
Woodruff, R. S. (1952). Confidence intervals for medians and other position measures.
*JASA* 47, 635-646.
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley, sec. 2.9 and 3.2.
Dean, N. and Pagano, M. (2015). Evaluating confidence interval methods for binomial proportions
in clustered surveys. *Journal of Survey Statistics and Methodology* 3, 484-503.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["PROPORTION_METHODS", "t_quantile", "effective_n", "proportion_interval",
           "weighted_quantile"]

#: interval methods of :func:`proportion_interval` (R ``svyciprop`` names, plus Wilson)
PROPORTION_METHODS = ("logit", "wilson", "beta", "mean", "xlogit")


def t_quantile(level: float, df: np.ndarray | float) -> np.ndarray:
    """Two-sided critical value ``t_{df, (1 + level) / 2}``.

    Normal for ``df = inf``; NaN for ``df < 1``.
    """
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, stats.t.ppf(0.5 + level / 2, np.where(df >= 1, df, 1.0)),
                        np.nan)


def effective_n(p: np.ndarray, se: np.ndarray, n: np.ndarray) -> np.ndarray:
    r"""Design-effect-adjusted effective sample size :math:`n^* = \hat p(1-\hat p)/\hat V`.

    When :math:`\hat p` is 0 or 1 the variance is 0 and the design effect undefined; the
    sample size ``n`` is used (a design effect of 1), so the interval still exists.
    """
    p, se, n = (np.asarray(a, dtype=float) for a in (p, se, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        ne = p * (1 - p) / se ** 2
    edge = (p <= 0) | (p >= 1) | ~(se > 0)
    return np.where(edge, n, ne)


def proportion_interval(p: np.ndarray, se: np.ndarray, df: np.ndarray | float,
                        n: np.ndarray, level: float, method: str, *,
                        beta_df: np.ndarray | float | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    r"""Interval for design-based proportions ``p`` with standard errors ``se``.

    Parameters
    ----------
    p, se : ndarray
        Estimates and their design-based standard errors.
    df : ndarray or float
        Design degrees of freedom of each estimate (the t reference).
    n : ndarray
        Sample size behind each estimate (rows of the domain with positive weight).
    level : float
        Confidence level.
    method : {"logit", "wilson", "beta", "mean", "xlogit"}
        See Notes.
    beta_df : ndarray or float, optional
        Degrees of freedom in the Korn-Graubard effective-n adjustment (default ``df``); for
        a domain R ``svyciprop`` uses the domain's own (PSUs - strata with rows in it).

    Returns
    -------
    lower, upper : ndarray

    Notes
    -----
    With :math:`t = t_{df, (1+\text{level})/2}`:

    - ``"mean"``: :math:`\hat p \pm t\,SE` (may leave [0, 1]), R ``svyciprop(method="mean")``.
    - ``"logit"`` and ``"xlogit"``: :math:`\operatorname{expit}(\operatorname{logit}\hat p
      \pm t\,SE/(\hat p(1-\hat p)))`; R's ``"logit"`` fits the same intercept-only
      ``svyglm`` (same estimate and delta-method SE at convergence). Undefined (NaN) at 0 and
      1.
    - ``"beta"``: Korn and Graubard (1998), as R ``svyciprop(method="beta")``: with the
      effective sample size :math:`n^* = \hat p(1-\hat p)/SE^2 \cdot
      (t_{n-1}/t_{df'})^2` (:math:`df'` = ``beta_df``),
      lower :math:`= B^{-1}(\alpha/2; n^*\hat p, n^*(1-\hat p)+1)`,
      upper :math:`= B^{-1}(1-\alpha/2; n^*\hat p+1, n^*(1-\hat p))` (Clopper-Pearson at
      :math:`n^*` "successes" :math:`n^*\hat p`). At :math:`\hat p` = 0 or 1 the SE is 0; then
      :math:`n^* = n\,(t_{n-1}/t_{df'})^2` (design effect 1), so 0% gets
      :math:`[0, 1 - (\alpha/2)^{1/n^*}]` where R gives NaN.
    - ``"wilson"``: the score interval at :math:`n^* = \hat p(1-\hat p)/SE^2` (:math:`n` at
      0 and 1) with :math:`t` in place of :math:`z` (the design-adjusted Wilson interval of
      Dean and Pagano 2015): :math:`(\hat p + t^2/2n^* \pm t\sqrt{\hat p(1-\hat p)/n^* +
      t^2/4n^{*2}})/(1 + t^2/n^*)`.
    """
    p, se, n = (np.asarray(a, dtype=float) for a in (p, se, n))
    df = np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    t = t_quantile(level, df)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            return p - t * se, p + t * se
        if method in ("logit", "xlogit"):
            eta, s = special.logit(p), se / (p * (1 - p))
            inside = (p > 0) & (p < 1)
            lo = np.where(inside, special.expit(eta - t * s), np.nan)
            hi = np.where(inside, special.expit(eta + t * s), np.nan)
            return lo, hi
        ne = effective_n(p, se, n)
        if method == "wilson":
            t2 = t ** 2
            centre = (p + t2 / (2 * ne)) / (1 + t2 / ne)
            half = t * np.sqrt(p * (1 - p) / ne + t2 / (4 * ne ** 2)) / (1 + t2 / ne)
            return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
        if method == "beta":
            tn = stats.t.ppf(alpha / 2, np.maximum(n - 1, 1))
            bdf = df if beta_df is None else np.broadcast_to(np.asarray(beta_df, float),
                                                             p.shape)
            td = stats.t.ppf(alpha / 2, np.where(bdf >= 1, bdf, np.nan))
            ne = ne * (tn / td) ** 2
            x = ne * p
            lo = np.where(x > 0, stats.beta.ppf(alpha / 2, np.where(x > 0, x, 1.0),
                                                ne * (1 - p) + 1), 0.0)
            y = ne * (1 - p)
            hi = np.where(y > 0, stats.beta.ppf(1 - alpha / 2, x + 1,
                                                np.where(y > 0, y, 1.0)), 1.0)
            bad = ~np.isfinite(ne) | (n < 1)
            return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)
    raise ValueError(f"unknown method {method!r}")


def weighted_quantile(values: np.ndarray, weights: np.ndarray, domains: np.ndarray,
                      n_domains: int, probs: np.ndarray) -> np.ndarray:
    r"""Apply R survey's "math" quantile rule (the inverse weighted ECDF) in every domain.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Observations (NaN: not observed, left out).
    weights : ndarray, shape (n,)
        Weights; rows of zero weight are left out.
    domains : ndarray of int, shape (n,)
        Domain codes ``0 .. K-1`` (-1: in no domain).
    n_domains : int
        ``K``.
    probs : ndarray, shape (K, r)
        Probabilities for each domain (NaN gives NaN).

    Returns
    -------
    ndarray, shape (K, r)
        :math:`\hat Q_k(p) = \min\{x_{(i)} : \sum_{j \le i} w_{(j)} \ge p \sum_j w_j\}` over
        the domain's rows sorted by value: ``qrule_math`` of survey (``svyquantile``'s default).
        survey returns the second-smallest value when :math:`p` is below the smallest value's
        weight share (its ``qs`` falls back to position 1, then steps up); this returns the
        smallest, as the rule states.

    Notes
    -----
    One sort of all rows by (domain, value); the cumulative weights of each domain are
    sequential sums from zero in extended precision, rounded to double, as R's ``cumsum`` and
    ``sum`` (long double accumulators), on a zero-padded ``K x max n_k`` array when it is not
    much larger than the data, so ties with ``p W`` fall as in survey.
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    probs = np.asarray(probs, dtype=float)
    K = int(n_domains)
    keep = ~np.isnan(values) & (weights > 0) & (domains >= 0)
    x, w, d = values[keep], weights[keep], domains[keep]
    out = np.full(probs.shape, np.nan)
    if x.size == 0:
        return out
    order = np.lexsort((x, d))
    x, w, d = x[order], w[order], d[order]
    counts = np.bincount(d, minlength=K)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(x.size) - starts[d]
    width = int(counts.max())
    if K * width <= 4 * x.size + 1024:
        pad = np.zeros((K, width))
        pad[d, pos] = w
        cum_ld = np.cumsum(pad.astype(np.longdouble), axis=1)    # R: LDOUBLE accumulators
        cum = cum_ld.astype(float)
        total = cum_ld[:, -1].astype(float)
        xs = np.full((K, width), np.nan)
        xs[d, pos] = x
        target = probs * total[:, None]                                # (K, r)
        # R's qs: pos = last position with cumw <= p W; x[pos] when p - cumw[pos] / W is
        # exactly 0, else x[pos + 1] (the same floating-point operations as survey)
        valid = np.arange(width)[None, :] < counts[:, None]
        upto = (cum[:, None, :] <= target[:, :, None]) & valid[:, None, :]
        cnt = upto.sum(axis=2)
        pos = np.maximum(cnt - 1, 0)
        cum_pos = np.take_along_axis(cum, pos, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            exact = (probs - cum_pos / total[:, None]) == 0
        last = np.maximum(counts - 1, 0)[:, None]
        idx = np.where(exact | (cnt == 0), pos, np.minimum(pos + 1, last))
        got = np.take_along_axis(xs, idx, axis=1)
    else:  # very unequal domains: one key d + F (F the domain's ECDF), one searchsorted
        cum_all = np.cumsum(w)
        base = np.concatenate([[0.0], cum_all])[starts]
        total = np.bincount(d, w, K)
        key = d + (cum_all - base[d]) / total[d]
        hit = np.searchsorted(key, (np.arange(K)[:, None] + probs).ravel(), side="left")
        hit = hit.reshape(probs.shape)
        lo, hi = starts[:, None], np.maximum(starts + counts - 1, 0)[:, None]
        got = x[np.clip(hit, lo, hi)]
    empty = counts == 0
    got = np.where(empty[:, None] | np.isnan(probs), np.nan, got)
    out[:] = got
    return out
