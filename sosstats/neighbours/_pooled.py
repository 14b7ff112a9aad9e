"""Pooled tests over treated LAs: paired t, Wilcoxon signed-rank, bootstrap.

Each function takes a ``(p, m)`` matrix of per-LA differences (indicators x treated LAs) with
NaN where a treated LA has no usable difference, and works indicator by indicator on the
non-missing entries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.resample import bootstrap_indices

__all__ = ["paired_t", "wilcoxon_test", "wilcoxon_p", "bootstrap_mean", "WILCOXON_METHOD"]

# the multiplicity adjustments live in sosstats._multiplicity (one copy for every capability)


def paired_t(diffs: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    r"""One-sample t test of the mean difference (the paired t test), per row.

    With :math:`n` differences :math:`d_i`, :math:`\bar d`, and :math:`s^2 = \sum(d_i-\bar
    d)^2/(n-1)`: :math:`SE = s/\sqrt n`, :math:`t = \bar d / SE` on :math:`n-1` df, two-sided
    :math:`p = 2 P(T_{n-1} > |t|)`, interval :math:`\bar d \pm t_{n-1,(1+level)/2} SE`.
    Equivalent to ``scipy.stats.ttest_rel(value, neighbour_mean)``.

    References
    ----------
    Student (1908). The probable error of a mean. *Biometrika* 6(1), 1-25.
    """
    d = np.asarray(diffs, dtype=float)
    ok = np.isfinite(d)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, d, 0.0).sum(axis=1) / n
        ss = np.where(ok, (d - mean[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.sqrt(ss / (n - 1))
        se = sd / np.sqrt(n)
        t = mean / se
    df = (n - 1).astype(float)
    df[n < 2] = np.nan
    p = 2 * stats.t.sf(np.abs(t), df)
    q = stats.t.ppf(0.5 + level / 2, df)
    return pd.DataFrame({"difference": mean, "n": n, "std_error": se, "statistic": t,
                         "df": df, "p_value": p, "ci_lower": mean - q * se,
                         "ci_upper": mean + q * se})


#: how :func:`wilcoxon_p` computes its p-value, printed in result notes
WILCOXON_METHOD = ("Wilcoxon signed-rank, two-sided, zeros dropped: exact null distribution "
                   "when fewer than 50 non-zero differences and no ties, else normal "
                   "approximation with continuity correction and tie-corrected variance "
                   "(R's wilcox.test default)")


def _signrank_counts(n: int) -> np.ndarray:
    """Number of sign vectors giving each signed-rank sum ``V = 0 .. n(n+1)/2`` (no ties)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    top = 0
    for r in range(1, n + 1):  # add rank r: V keeps its value or grows by r
        counts[r:top + r + 1] += counts[:top + 1].copy()
        top += r
    return counts


def wilcoxon_test(x: np.ndarray) -> tuple[float, float, bool, bool]:
    r"""Two-sided Wilcoxon signed-rank test of one vector of differences, R's default rule.

    Zeros are dropped (``zero_method="wilcox"``); with :math:`n` non-zero differences, ranks
    :math:`r_i` of :math:`|d_i|` (mid-ranks for ties) and :math:`V = \sum_{d_i > 0} r_i`:

    - no ties, no zeros and :math:`n < 50`: the exact null distribution of :math:`V` (all
      :math:`2^n` sign vectors equally likely), :math:`p = \min\{1, 2\min(P(V' \le V),
      P(V' \ge V))\}`;
    - otherwise the normal approximation with continuity correction,
      :math:`z = (V - n(n+1)/4 - 	frac12\operatorname{sign}(V - n(n+1)/4)) / \sigma`,
      :math:`\sigma^2 = n(n+1)(2n+1)/24 - \sum_g (t_g^3 - t_g)/48` over tie groups :math:`g`.

    This is ``wilcox.test(x)`` of R (``exact = NULL, correct = TRUE``) and does not depend on
    the installed scipy; ``scipy.stats.wilcoxon(x, method="exact")`` gives the first case and
    ``scipy.stats.wilcoxon(x, zero_method="wilcox", correction=True, method="approx")`` the
    second. (``exactRankTests::wilcox.exact`` instead computes the exact conditional
    distribution given the ties.)

    Returns
    -------
    (V, p_value, exact, ties_or_zeros)
        NaN for both numbers when there is no non-zero difference.

    References
    ----------
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin*
    1(6), 80-83.
    Hollander, M. and Wolfe, D. A. (1999). *Nonparametric Statistical Methods*, 2nd ed.,
    section 3.1.
    """
    d = np.asarray(x, dtype=float)
    d = d[np.isfinite(d)]
    zeros = bool(np.any(d == 0))
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return np.nan, np.nan, False, zeros
    a = np.abs(d)
    ranks = stats.rankdata(a)
    ties = len(np.unique(a)) < n
    v = float(ranks[d > 0].sum())
    if n < 50 and not ties and not zeros:
        counts = _signrank_counts(n)
        total = counts.sum()
        iv = int(round(v))
        lower = counts[:iv + 1].sum() / total
        upper = counts[iv:].sum() / total
        return v, float(min(1.0, 2 * min(lower, upper))), True, False
    _, t = np.unique(a, return_counts=True)
    sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - np.sum(t**3 - t) / 48)
    z = v - n * (n + 1) / 4
    if sigma <= 0:
        return v, np.nan, False, True
    z = (z - 0.5 * np.sign(z)) / sigma
    return v, float(min(1.0, 2 * stats.norm.sf(abs(z)))), False, ties or zeros


def wilcoxon_p(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilcoxon signed-rank p-value per row (:func:`wilcoxon_test` on each row).

    Returns the p-values (NaN where the test is undefined: fewer than two differences, or all
    zero) and a boolean array, True where ties or zero differences forced the normal
    approximation (the caller warns once).
    """
    d = np.asarray(diffs, dtype=float)
    out = np.full(d.shape[0], np.nan)
    approx = np.zeros(d.shape[0], dtype=bool)
    for i, row in enumerate(d):  # one small test per indicator
        x = row[np.isfinite(row)]
        if len(x) < 2 or not np.any(x != 0):
            continue
        _, out[i], _, approx[i] = wilcoxon_test(x)
    return out, approx


def bootstrap_mean(diffs: np.ndarray, n_resamples: int, rng: np.random.Generator,
                   level: float = 0.95) -> pd.DataFrame:
    r"""Nonparametric bootstrap of the mean difference over treated LAs, per row.

    For each indicator, the :math:`n` treated LAs with a difference are resampled with
    replacement ``n_resamples`` times (indices ``rng.integers(0, n, (B, n))``, drawn indicator
    by indicator from one Generator); the bootstrap SE is the standard deviation (ddof 1) of the
    resampled means and the interval is the percentile interval (linear interpolation, as
    ``numpy.percentile`` and ``scipy.stats.bootstrap(method="percentile")``).

    References
    ----------
    Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 6 and 13.
    """
    d = np.asarray(diffs, dtype=float)
    p = d.shape[0]
    se = np.full(p, np.nan)
    lo = np.full(p, np.nan)
    hi = np.full(p, np.nan)
    if n_resamples < 1:
        return pd.DataFrame({"boot_se": se, "boot_ci_lower": lo, "boot_ci_upper": hi})
    alpha = 1 - level
    for i, row in enumerate(d):  # loop over indicators; replicates are vectorised
        x = row[np.isfinite(row)]
        if len(x) < 2:
            continue
        means = x[bootstrap_indices(rng, n_resamples, len(x))].mean(axis=1)
        se[i] = means.std(ddof=1)
        lo[i], hi[i] = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return pd.DataFrame({"boot_se": se, "boot_ci_lower": lo, "boot_ci_upper": hi})
