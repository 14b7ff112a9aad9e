"""Pooled tests over treated LAs: paired t, Wilcoxon, bootstrap, multiplicity adjustment.

Each function takes a ``(p, m)`` matrix of per-LA differences (indicators x treated LAs) with
NaN where a treated LA has no usable difference, and works indicator by indicator on the
non-missing entries.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._kernels.resample import bootstrap_indices

__all__ = ["paired_t", "wilcoxon_p", "bootstrap_mean", "holm", "benjamini_hochberg"]

# the adjustments live in sosstats._multiplicity (one copy for every capability)


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


def wilcoxon_p(diffs: np.ndarray) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p-value per row (``scipy.stats.wilcoxon`` defaults).

    scipy uses the exact null distribution for small samples without ties or zeros and the
    normal approximation otherwise. NaN where the test is undefined (e.g. all differences 0).

    References
    ----------
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin*
    1(6), 80-83.
    """
    d = np.asarray(diffs, dtype=float)
    out = np.full(d.shape[0], np.nan)
    for i, row in enumerate(d):  # one scipy call per indicator
        x = row[np.isfinite(row)]
        if len(x) < 2 or not np.any(x != 0):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out[i] = stats.wilcoxon(x).pvalue
            except ValueError:
                out[i] = np.nan
    return out


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
