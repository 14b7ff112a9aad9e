"""Exact partial (trimmed) means of an empirical distribution and their Lee (2009) variance.

Used by :func:`sosstats.weighting.sensitivity.lee_bounds`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["partial_mean", "keep_weights"]


def keep_weights(r: int, tau: float, side: str) -> np.ndarray:
    """Mass kept of each of ``r`` sorted observations when keeping a share ``tau``.

    Each observation carries mass ``1/r``; ``side="lower"`` keeps the mass in ``[0, tau]``
    (the smallest values), ``"upper"`` the mass in ``[1 - tau, 1]``. The observation at the cut
    keeps a fraction of its mass, so tied values are treated exactly. The weights sum to
    ``tau``.
    """
    edges = np.arange(r + 1) / r
    if side == "lower":
        w = np.minimum(edges[1:], tau) - edges[:-1]
    else:
        w = edges[1:] - np.maximum(edges[:-1], 1.0 - tau)
    return np.where(w > 1e-12 / r, w, 0.0)        # rounding dust at an exact cut is no mass


def partial_mean(y_sorted: np.ndarray, tau: float, side: str,
                 v_tau: float) -> tuple[float, float]:
    r"""Mean of the lowest (``"lower"``) or highest (``"upper"``) share ``tau`` and its SE.

    Parameters
    ----------
    y_sorted : numpy.ndarray
        Outcomes of the respondents of the trimmed group, ascending.
    tau : float
        Share kept, ``0 < tau <= 1``.
    side : {"lower", "upper"}
        Which end is kept.
    v_tau : float
        Estimated variance of the estimated ``tau``.

    Returns
    -------
    mean, std_error : float

    Notes
    -----
    The variance is :math:`\widehat{\operatorname{Var}}(c(Y))/(\tau^2 r) + ((\xi - \mu)/
    \tau)^2 V_\tau` with :math:`c(Y) = \min(Y, \xi)` for the lower and :math:`\max(Y, \xi)`
    for the upper partial mean, :math:`\xi` the cut quantile (the influence function of the
    partial mean, Lee 2009, Proposition 3).
    """
    r = y_sorted.size
    w = keep_weights(r, tau, side)
    mu = float(w @ y_sorted / w.sum())
    k = int((w > 0).sum())                 # observations kept, the cut one included
    if side == "lower":
        xi = y_sorted[k - 1]
        clipped = np.minimum(y_sorted, xi)
    else:
        xi = y_sorted[r - k]
        clipped = np.maximum(y_sorted, xi)
    var = clipped.var(ddof=1) / (tau**2 * r) + ((xi - mu) / tau) ** 2 * v_tau
    return mu, float(np.sqrt(var))
