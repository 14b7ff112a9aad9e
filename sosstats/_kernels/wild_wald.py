r"""Wild cluster restricted bootstrap of a joint Wald statistic ``R b = r`` (q restrictions).

Plain numpy arrays in and out, no loop over rows or replicates (replicates in memory chunks).
The restricted fit imposes the null, :math:`\tilde b = \hat b - A R'(RAR')^{-1}(R\hat b - r)`
with :math:`A = (X'WX)^{-1}` and residuals :math:`\tilde u`; replicate ``b`` draws cluster
weights :math:`v_{bg}` and uses :math:`y^* = X\tilde b + v_{bg}\tilde u_g`. Its statistic is the
CR1 Wald statistic :math:`W^*_b = (Rb^* - r)'(RV^*_{CR1}R')^{-1}(Rb^* - r)`, compared with the
sample's :math:`Q` (unrestricted fit, CR1): :math:`p = \#\{b : W^*_b > Q\} / B`, ties (relative
1e-10) not counted, as the one-coefficient kernel (:mod:`sosstats._kernels.wild`) counts
:math:`|t^*| > |t|`. With one restriction :math:`W^* = t^{*2}` and the p-value is that kernel's.

All replicates follow from cluster sums computed once (Roodman, MacKinnon, Nielsen & Webb 2019,
section 5, for several restrictions): with :math:`\tilde s_g = X_g'W_g\tilde u_g`,
:math:`H_g = X_g'W_gX_g`, :math:`a_g = RA\tilde s_g` and :math:`K_{gh} = RAH_gA\tilde s_h`,

.. math:: Rb^*_b - r = \sum_g v_{bg} a_g, \qquad
          RAS^*_{bg} = v_{bg} a_g - \sum_h v_{bh} K_{gh}, \qquad
          RV^*_bR' = c \sum_g (RAS^*_{bg})(RAS^*_{bg})',

:math:`c = \frac{G}{G-1}\frac{n-1}{n-p}`, so each chunk of replicates is two products with
``(B, G)`` weights and a batch of ``q x q`` solves. All ``2^G`` Rademacher sign vectors are
enumerated when ``2^G <= n_resamples`` (exact p-value; its floor is ``1 / 2^G``).

References
----------
Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for
inference with clustered errors. *Review of Economics and Statistics* 90(3), 414-427.
Roodman, D., MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2019). Fast and wild: bootstrap
inference in Stata using boottest. *Stata Journal* 19(1), 4-60.
Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. *Canadian
Journal of Economics* 56(3), 839-858.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from sosstats._kernels.cluster_cr2 import group_gram, group_sum
from sosstats._kernels.wild import WILD_WEIGHTS, rademacher_enumeration, wild_weights
from sosstats._validate import check_option, check_rng
from sosstats.errors import DataError, DesignError

__all__ = ["WildWaldTest", "wild_wald_test"]

_TIE_RTOL = 1e-10
_MAX_ENUMERATION_CLUSTERS = 20


class WildWaldTest(NamedTuple):
    """The bootstrap test of ``R b = r``: ``wald`` is the sample's CR1 ``Q``."""

    wald: float
    p_value: float
    n_resamples: int
    enumerated: bool
    weight_type: str
    n_clusters: int


def _inputs(X: Any, y: Any, clusters: Any, weights: Any
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    try:
        xa = np.asarray(X, dtype=float)
        ya = np.asarray(y, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError("`X` and `y` must be numeric.") from exc
    xa = xa[:, None] if xa.ndim == 1 else xa
    if xa.ndim != 2 or xa.shape[0] != ya.shape[0]:
        raise DesignError(f"`X` must be (n, p) with n = len(y) = {ya.shape[0]}; got "
                          f"{xa.shape}.")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise DataError("`X` and `y` must be finite.")
    cl = np.asarray(clusters)
    if cl.shape != (ya.shape[0],):
        raise DesignError(f"`clusters` must have one label per row ({ya.shape[0]}); got shape "
                          f"{cl.shape}.")
    if weights is not None:
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.shape != ya.shape or not np.isfinite(w).all() or (w < 0).any():
            raise DataError("`weights` must be finite, non-negative, one per row.")
        keep = w > 0
        root = np.sqrt(w[keep])
        xa, ya, cl = xa[keep] * root[:, None], ya[keep] * root, cl[keep]
    _, codes = np.unique(cl, return_inverse=True)
    g = int(codes.max()) + 1 if codes.size else 0
    if g < 2:
        raise DesignError("the wild cluster bootstrap needs at least two clusters.")
    return xa, ya, codes.reshape(-1), g


def wild_wald_test(X: Any, y: Any, clusters: Any, *, R: Any, r: Any = None,
                   weights: Any = None, weight_type: str = "rademacher",
                   n_resamples: int = 9999, rng: int | np.random.Generator | None = None,
                   batch: int | None = None) -> WildWaldTest:
    """Wild cluster restricted bootstrap p-value of the joint hypothesis ``R b = r``.

    Parameters
    ----------
    X, y : array_like
        Design (n, p) and outcome (n,); the intercept is a column of ``X``.
    clusters : array_like
        (n,) cluster labels.
    R, r : array_like
        Restrictions (q, p) of full row rank, values (q,) (default zeros); ``q <= G - 1``.
    weights : array_like, optional
        Non-negative WLS weights (the fit runs on ``sqrt(w) X``, ``sqrt(w) y``).
    weight_type : {"rademacher", "webb", "mammen", "normal"}
        Distribution of the cluster weights (``sosstats._kernels.wild.wild_weights``).
    n_resamples : int
        Draws ``B`` (Rademacher: all ``2^G`` sign vectors when ``2^G <= B``).
    rng : int, Generator or None
        Random source of the draws.
    batch : int, optional
        Replicates per chunk (memory).

    Returns
    -------
    WildWaldTest
    """
    check_option(weight_type, WILD_WEIGHTS, "weight_type")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) \
            or n_resamples < 1:
        raise DataError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    xa, ya, codes, g = _inputs(X, y, clusters, weights)
    n, p = xa.shape
    try:
        Ra = np.atleast_2d(np.asarray(R, dtype=float))
    except (TypeError, ValueError) as exc:
        raise DataError("`R` must be a numeric matrix.") from exc
    if Ra.ndim != 2 or Ra.shape[1] != p or np.linalg.matrix_rank(Ra) < Ra.shape[0]:
        raise DesignError(f"`R` must be (q, {p}) of full row rank; got shape {Ra.shape}.")
    q = Ra.shape[0]
    ra = np.zeros(q) if r is None else np.asarray(r, dtype=float).reshape(-1)
    if ra.shape != (q,):
        raise DesignError(f"`r` must have {q} values; got {ra.shape[0]}.")
    if q > g - 1:
        raise DesignError(f"{q} restrictions but only {g} clusters: at most G - 1 = {g - 1} "
                          "can be tested jointly.")
    if n <= p:
        raise DesignError(f"CR1 needs more rows than columns; got n={n}, p={p}.")
    xtx = xa.T @ xa
    try:
        A = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        raise DesignError("`X` is rank deficient: its columns are collinear.") from None
    ssc = g / (g - 1) * (n - 1) / (n - p)
    beta = A @ (xa.T @ ya)
    resid = ya - xa @ beta
    ra_a = Ra @ A                                                   # (q, p)
    # the sample's CR1 Wald statistic
    s = group_sum(codes, g, xa * resid[:, None])                    # (G, p)
    rs = s @ ra_a.T                                                 # (G, q)
    diff = Ra @ beta - ra
    q_stat = float(diff @ np.linalg.solve(ssc * rs.T @ rs, diff))
    # the restricted fit and the cluster sums every replicate is built from
    beta_r = beta - A @ Ra.T @ np.linalg.solve(ra_a @ Ra.T, diff)
    u = ya - xa @ beta_r
    s_r = group_sum(codes, g, xa * u[:, None])                      # (G, p): s~_g
    a = s_r @ ra_a.T                                                # (G, q): a_g
    h = group_gram(codes, g, xa)                                    # (G, p, p): H_g
    k = np.einsum("qa,gab,bh->gqh", ra_a, h, A @ s_r.T)             # (G, q, G): K_gh
    enumerated = (weight_type == "rademacher" and g <= _MAX_ENUMERATION_CLUSTERS
                  and 2 ** g <= n_resamples)
    if enumerated:
        V = rademacher_enumeration(g)
    else:
        V = wild_weights(check_rng(rng), int(n_resamples), g, weight_type)
    B = V.shape[0]
    step = batch or max(1, int(2 ** 22 // max(g * g * q, 1)))
    thr = q_stat * (1.0 + _TIE_RTOL) + _TIE_RTOL
    exceed = 0
    for start in range(0, B, step):
        vb = V[start:start + step]                                  # (b, G)
        num = vb @ a                                                # (b, q)
        t = vb[:, :, None] * a[None] - np.einsum("bh,gqh->bgq", vb, k)
        meat = ssc * np.einsum("bgq,bgs->bqs", t, t)                # (b, q, q)
        with np.errstate(invalid="ignore", divide="ignore"):
            try:
                sol = np.linalg.solve(meat, num[:, :, None])[:, :, 0]
                w_star = np.einsum("bq,bq->b", num, sol)
            except np.linalg.LinAlgError:                           # a singular replicate
                w_star = np.array([_one(m, nv) for m, nv in zip(meat, num)])
        exceed += int(np.count_nonzero(w_star > thr))
    return WildWaldTest(q_stat, exceed / B, int(B), bool(enumerated), weight_type, g)


def _one(meat: np.ndarray, num: np.ndarray) -> float:
    """One replicate's statistic, infinite when its covariance is singular."""
    try:
        return float(num @ np.linalg.solve(meat, num))
    except np.linalg.LinAlgError:
        return np.inf
