"""Balance and weight diagnostics for attrition weighting (numpy only).

Conventions
-----------
The *target* is the full sample (e.g. all T1 families, unweighted); the *respondents* are the
rows with a positive weight in ``w`` (a 0/1 mask is a weight vector). For covariate ``x``:

* respondents' weighted mean ``m_w = sum w x / sum w``; target mean ``m = mean(x)``;
* standardised mean difference ``SMD = (m_w - m) / s`` with ``s`` the **unweighted standard
  deviation of the full (target) sample** (``ddof=1``). This is cobalt's convention when a
  group is compared with a target population (``s.d.denom = "all"``, the default there for
  such comparisons), and, as in cobalt, the denominator never uses the weights, so weighting
  changes an SMD only through the mean;
* variance ratio ``var_w / var`` with ``var_w = sum w (x - m_w)^2 * W / (W^2 - sum w^2)``
  (``W = sum w``; the unbiased reliability-weight variance that cobalt uses, equal to the
  ``ddof=1`` variance for equal weights) and ``var`` the full sample's ``ddof=1`` variance.

References
----------
Greifer, N. cobalt: Covariate Balance Tables and Plots (R package), vignette "cobalt".
Kish, L. (1965). *Survey Sampling*. Wiley (effective sample size, design effect).
Potter, F. (1990). A study of procedures to identify and trim extreme sampling weights.
*Proceedings of the Survey Research Methods Section*, ASA, 225-230.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sosstats._validate import check_array_2d, check_weights
from sosstats.errors import DataError

__all__ = [
    "standardized_mean_differences",
    "variance_ratios",
    "kish_ess",
    "design_effect",
    "trim_weights",
    "trim_to_design_effect",
    "TrimResult",
]


def _check_w(w, name: str = "weights", n: int | None = None) -> np.ndarray:
    """One weight per row of X: shape here, values by :func:`sosstats._validate.check_weights`."""
    if np.ndim(w) > 1:
        raise DataError(f"`{name}` must be one-dimensional.")
    w = np.asarray(w, dtype=float).reshape(-1)
    if n is not None and w.size != n:
        raise DataError(f"`{name}` has {w.size} entries but X has {n} rows.")
    if w.size == 0:
        raise DataError(f"`{name}` is empty.")
    return check_weights(w, f"`{name}`")


def _check_X(X) -> np.ndarray:
    """Covariates as a 2-D float array (a 1-D array is one column), at least two rows."""
    X = np.asarray(X, dtype=float)
    X = check_array_2d(X[:, None] if X.ndim == 1 else X, "X")
    if X.shape[0] < 2 or X.shape[1] == 0:
        raise DataError(f"`X` must be a 2-D array with at least two rows; got shape {X.shape}.")
    return X


def _weighted_moments(X, w):
    W = w.sum()
    mw = (w @ X) / W
    dev = X - mw
    denom = W**2 - (w @ w)
    with np.errstate(invalid="ignore", divide="ignore"):
        vw = (w @ (dev * dev)) * W / denom
    return mw, vw


def standardized_mean_differences(X: np.ndarray, weights: np.ndarray, *,
                                  binary: str = "std") -> np.ndarray:
    """SMD of the weighted respondents against the full (unweighted) sample, per covariate.

    Parameters
    ----------
    X : array of shape ``(n, k)``
        Covariates of the full sample (respondents and non-respondents).
    weights : array of shape ``(n,)``
        Non-negative weights, zero for non-respondents; a boolean response mask gives the
        unweighted respondents.
    binary : {"std", "raw"}
        For 0/1 covariates, ``"raw"`` returns the raw difference in proportions (cobalt's
        default for binary covariates); ``"std"`` standardises them like the others.

    Returns
    -------
    ndarray of shape ``(k,)``
        ``(m_w - m) / s`` with ``m_w`` the respondents' weighted mean, ``m`` the full sample
        mean and ``s`` the full sample's unweighted SD (``ddof=1``); 0 for a constant covariate.

    Notes
    -----
    Denominator as cobalt's ``s.d.denom = "all"`` for a comparison with the target population,
    computed without weights (Greifer, cobalt documentation).
    """
    if binary not in ("std", "raw"):
        raise DataError(f"`binary` must be 'std' or 'raw'; got {binary!r}.")
    X = _check_X(X)
    w = _check_w(weights, n=X.shape[0])
    m = X.mean(axis=0)
    s = X.std(axis=0, ddof=1)
    diff = (w @ X) / w.sum() - m
    with np.errstate(invalid="ignore", divide="ignore"):
        smd = np.where(s > 0, diff / np.where(s > 0, s, 1.0), 0.0)
    if binary == "raw":
        is_bin = np.all((X == 0) | (X == 1), axis=0)
        smd = np.where(is_bin, diff, smd)
    return smd


def variance_ratios(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted respondent variance over the full sample's variance, per covariate.

    Parameters
    ----------
    X : array of shape ``(n, k)``
        Covariates of the full sample.
    weights : array of shape ``(n,)``
        Non-negative weights, zero for non-respondents.

    Returns
    -------
    ndarray of shape ``(k,)``
        ``var_w / var``: ``var_w = W sum w (x - m_w)^2 / (W^2 - sum w^2)`` (unbiased
        reliability-weight variance, as cobalt) and ``var`` the ``ddof=1`` variance of the full
        sample. NaN where the full sample is constant or only one respondent has weight.

    Notes
    -----
    Greifer, cobalt documentation (``col_w_sd``); Austin (2009), *Statistics in Medicine* 28.
    """
    X = _check_X(X)
    w = _check_w(weights, n=X.shape[0])
    _, vw = _weighted_moments(X, w)
    v = X.var(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v > 0, vw / np.where(v > 0, v, 1.0), np.nan)


def kish_ess(w: np.ndarray) -> float:
    """Kish effective sample size ``(sum w)^2 / sum w^2``.

    Notes
    -----
    Kish (1965), *Survey Sampling*. At most the number of positive weights, with equality
    exactly when they are all equal.
    """
    w = _check_w(w)
    return float(w.sum() ** 2 / (w @ w))


def design_effect(w: np.ndarray) -> float:
    """Kish design effect of weighting, ``n sum w^2 / (sum w)^2``.

    ``n`` is the number of **positive** weights (zeros, e.g. non-respondents, do not count), so
    the design effect is ``n / kish_ess(w) >= 1``.

    Notes
    -----
    Kish (1965), *Survey Sampling*; equals ``1 + CV^2`` of the positive weights (population CV).
    """
    w = _check_w(w)
    n = int((w > 0).sum())
    return float(n * (w @ w) / w.sum() ** 2)


def _clip_rescale(w: np.ndarray, lower: float, upper: float, total: float) -> np.ndarray:
    """``clip(s w, lower, upper)`` with the scalar ``s`` chosen so that the sum is ``total``.

    The sum is continuous and non-decreasing in ``s``; ``s`` is bracketed by bisection on
    ``log s`` and then solved exactly on the final linear piece. Weights clipped at a bound stay
    there and the rest are scaled by the common factor (redistribution keeping the sum).
    """
    lo_s = np.log(lower / w.max()) if lower > 0 else np.log(1e-300 / w.max())
    hi_s = np.log(upper / w.min()) if np.isfinite(upper) else np.log(total / w.sum()) + 1.0
    if not np.isfinite(upper) and lower <= 0:
        return w * (total / w.sum())
    s = np.exp(0.5 * (lo_s + hi_s))
    for _ in range(200):
        y = s * w
        at_lo, at_hi = y <= lower, y >= upper
        mid = ~(at_lo | at_hi)
        rest = mid @ w
        if rest > 0:
            s_exact = (total - lower * at_lo.sum() - upper * at_hi.sum()) / rest
            y2 = s_exact * w
            if np.array_equal(y2 <= lower, at_lo) and np.array_equal(y2 >= upper, at_hi):
                return np.clip(y2, lower, upper)
        if np.clip(y, lower, upper).sum() < total:
            lo_s = np.log(s)
        else:
            hi_s = np.log(s)
        s = np.exp(0.5 * (lo_s + hi_s))
    return np.clip(s * w, lower, upper)


def trim_weights(w: np.ndarray, *, lower_q: float | None = None, upper_q: float | None = None,
                 max_ratio: float | None = None, renormalise: bool = True) -> np.ndarray:
    """Trim weights at quantiles and/or a maximum ratio to the mean, keeping their sum.

    Parameters
    ----------
    w : array of shape ``(n,)``
        Non-negative weights; zeros (non-respondents) stay zero and are ignored in the
        quantiles and the mean.
    lower_q, upper_q : float in (0, 1), optional
        Floor at the ``lower_q`` and cap at the ``upper_q`` quantile of the positive weights
        (numpy's default linear interpolation).
    max_ratio : float >= 1, optional
        Cap at ``max_ratio`` times the mean positive weight (the tighter of the two caps wins).
    renormalise : bool
        If True (default), redistribute so the sum is unchanged: the result is
        ``clip(s w, floor, cap)`` with the single factor ``s`` that restores the sum, so trimmed
        weights stay at their bound and the others share the difference proportionally. If
        False, simply clip.

    Returns
    -------
    ndarray of shape ``(n,)``

    Raises
    ------
    DataError
        Negative/NaN weights, a quantile outside (0, 1), ``lower_q >= upper_q``, a
        ``max_ratio < 1``, or bounds that cannot keep the sum (cap below the mean weight).

    Notes
    -----
    Bounds are computed once from the original weights (Potter 1990); with ``renormalise`` the
    maximum weight never increases and the sum is preserved exactly up to rounding.
    """
    w = _check_w(w)
    for q, label in ((lower_q, "lower_q"), (upper_q, "upper_q")):
        if q is not None and not (0 < q < 1):
            raise DataError(f"`{label}` must be strictly between 0 and 1; got {q}.")
    if lower_q is not None and upper_q is not None and lower_q >= upper_q:
        raise DataError(f"`lower_q` ({lower_q}) must be below `upper_q` ({upper_q}).")
    if max_ratio is not None and not (np.isfinite(max_ratio) and max_ratio >= 1):
        raise DataError(f"`max_ratio` must be at least 1; got {max_ratio}.")
    pos = w > 0
    wp = w[pos]
    lower = float(np.quantile(wp, lower_q)) if lower_q is not None else 0.0
    upper = np.inf
    if upper_q is not None:
        upper = float(np.quantile(wp, upper_q))
    if max_ratio is not None:
        upper = min(upper, float(max_ratio * wp.mean()))
    out = w.copy()
    if not renormalise:
        out[pos] = np.clip(wp, lower, upper)
        return out
    total = wp.sum()
    mean = total / wp.size
    if upper < mean * (1 - 1e-12) or lower > mean * (1 + 1e-12):
        raise DataError(f"trimming bounds [{lower:.6g}, {upper:.6g}] exclude the mean weight "
                        f"{mean:.6g}, so the sum of the weights cannot be kept.")
    if upper <= mean or lower >= mean:
        out[pos] = mean
        return out
    out[pos] = _clip_rescale(wp, lower, upper, total)
    return out


@dataclass(frozen=True)
class TrimResult:
    """Result of :func:`trim_to_design_effect`.

    Attributes
    ----------
    weights : ndarray
        Trimmed weights (same sum as the input).
    cap : float
        The cap applied (``inf`` when no trimming was needed).
    design_effect : float
        Kish design effect of ``weights`` (at most the target).
    """

    weights: np.ndarray
    cap: float
    design_effect: float


def _cap_exact(ws_desc: np.ndarray, cum: np.ndarray, cap: float, total: float) -> np.ndarray:
    """Exact ``min(cap, s w)`` keeping the sum, for weights sorted in decreasing order."""
    n = ws_desc.size
    kk = np.arange(n)  # number capped
    rest = total - cum[:-1]  # sum of the uncapped weights w_(k+1..n)
    s = (total - kk * cap) / rest
    ok_low = np.concatenate(([True], s[1:] * ws_desc[:-1] >= cap * (1 - 1e-12)))
    ok_high = s * ws_desc <= cap * (1 + 1e-12)
    k = int(np.flatnonzero(ok_low & ok_high & (s > 0))[0])
    return np.minimum(cap, s[k] * ws_desc)


def trim_to_design_effect(w: np.ndarray, target: float, *, rtol: float = 1e-10) -> TrimResult:
    """Smallest upper trimming (largest cap) whose Kish design effect is at most ``target``.

    Weights above the cap ``c`` are set to ``c`` and the rest scaled up by a common factor to
    keep the sum (as :func:`trim_weights`). The design effect falls as ``c`` falls (to 1 at
    ``c`` = mean weight), so the largest admissible cap is found by bisection on ``c`` to
    relative precision ``rtol``; the returned weights are those of the lower end of the final
    bracket, so their design effect (reported, recomputed exactly) is at most ``target``.

    Parameters
    ----------
    w : array of shape ``(n,)``
        Non-negative weights (zeros stay zero and are not counted in ``n``).
    target : float
        Target design effect, at least 1.
    rtol : float
        Relative precision of the cap.

    Returns
    -------
    TrimResult

    Raises
    ------
    DataError
        Bad weights or ``target < 1``.

    Notes
    -----
    Design effect as Kish (1965); trimming with redistribution as Potter (1990). Each
    evaluation is exact and O(n) on the weights sorted once.
    """
    w = _check_w(w)
    if not (np.isfinite(target) and target >= 1 - 1e-12):
        raise DataError(f"`target` design effect must be at least 1; got {target}.")
    target = max(float(target), 1.0)  # a design effect of 1 - 1e-16 is 1 in rounding
    deff0 = design_effect(w)
    if deff0 <= target:
        return TrimResult(weights=w.copy(), cap=float("inf"), design_effect=deff0)
    pos = w > 0
    wp = w[pos]
    order = np.argsort(-wp, kind="stable")
    ws = wp[order]
    cum = np.concatenate(([0.0], np.cumsum(ws)))
    total = cum[-1]
    n = ws.size
    mean = total / n

    def deff_of(y):
        return n * (y @ y) / y.sum() ** 2

    lo, hi = mean, ws[0]
    y_lo = np.full(n, mean)
    while hi - lo > rtol * hi:
        c = 0.5 * (lo + hi)
        y = _cap_exact(ws, cum, c, total)
        if deff_of(y) <= target:
            lo, y_lo = c, y
        else:
            hi = c
    out = np.zeros_like(w)
    tmp = np.empty(n)
    tmp[order] = y_lo
    out[pos] = tmp
    return TrimResult(weights=out, cap=float(lo), design_effect=float(deff_of(y_lo)))
