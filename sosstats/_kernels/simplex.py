"""Least squares over the probability simplex (the synthetic-control weight problem).

Minimise ``||X w - y||^2`` subject to ``w >= 0`` and ``sum(w) == 1``. Writing ``p_j = x_j - y``
for the columns of ``X`` shifted by the target, ``X w - y = P w`` on the simplex, so the problem
is the *minimum-norm point* of the convex hull of the points ``p_j``; Wolfe's (1976) algorithm
solves it exactly in finitely many steps. It keeps a "corral" of affinely independent points,
moves to the minimum-norm point of their affine hull when that lies inside their convex hull,
and otherwise steps back to the hull's boundary and drops a point. It stops when the
Frank-Wolfe gap ``2 (x'x - min_j p_j'x)`` (an upper bound on the distance to the optimal
objective) is below ``tol`` times the largest squared norm of the ``p_j``.

Each problem is a handful of tiny dense solves; :func:`simplex_lstsq_placebo` runs the
leave-one-out problems of a placebo study through the same routine.

References
----------
Wolfe, P. (1976). Finding the nearest point in a polytope. *Mathematical Programming* 11,
128-149.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["simplex_lstsq", "simplex_lstsq_placebo"]

_EPS = 1e-12


def _affine_minimum(points: np.ndarray) -> np.ndarray:
    """Coefficients ``a`` (summing to one) of the minimum-norm point of the affine hull."""
    m = points.shape[1]
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = points.T @ points
    kkt[:m, m] = 1.0
    kkt[m, :m] = 1.0
    rhs = np.zeros(m + 1)
    rhs[m] = 1.0
    try:
        sol = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    a = sol[:m]
    return a / a.sum()


def simplex_lstsq(X: np.ndarray, y: np.ndarray, *, tol: float = 1e-13,
                  max_iter: int = 10_000) -> tuple[np.ndarray, float, bool]:
    """Solve ``min ||X w - y||^2`` over the probability simplex (Wolfe's algorithm).

    Parameters
    ----------
    X : array of shape ``(T, J)``
        One column per donor (its values in the fitting years); finite.
    y : array of shape ``(T,)``
        The target path.
    tol : float
        Relative stopping tolerance on the Frank-Wolfe gap.
    max_iter : int
        Most major cycles.

    Returns
    -------
    (w, objective, converged) : tuple
        Weights of shape ``(J,)`` (non-negative, summing to one, at most ``T + 1`` of them
        positive), the attained ``||X w - y||^2`` and whether the gap criterion was met.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n_donors = X.shape[1]
    w = np.zeros(n_donors)
    P = X - y[:, None]
    norms = np.einsum("tj,tj->j", P, P)
    scale = float(norms.max()) if n_donors else 0.0
    if n_donors == 0:
        return w, float(y @ y), False
    if scale <= 0.0 or n_donors == 1:
        w[int(np.argmin(norms))] = 1.0
        r = X @ w - y
        return w, float(r @ r), True
    Q = P / np.sqrt(scale)  # unit-scale points: Gram entries at most 1
    corral = [int(np.argmin(norms))]
    lam = np.ones(1)
    x = Q[:, corral[0]].copy()
    converged = False
    for _ in range(max_iter):
        g = Q.T @ x
        j = int(np.argmin(g))
        if x @ x - g[j] <= tol:
            converged = True
            break
        if j in corral:  # no further progress is numerically possible
            converged = True
            break
        corral.append(j)
        lam = np.append(lam, 0.0)
        while True:  # minor cycles
            a = _affine_minimum(Q[:, corral])
            if np.all(a > _EPS):
                lam = a
                break
            neg = a <= _EPS
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = lam[neg] / (lam[neg] - a[neg])
            theta = float(np.clip(np.nanmin(ratios), 0.0, 1.0)) if ratios.size else 1.0
            lam = theta * a + (1.0 - theta) * lam
            keep = lam > _EPS
            if keep.all():  # guard against round-off: drop the smallest
                keep[int(np.argmin(lam))] = False
            corral = [c for c, k in zip(corral, keep) if k]
            lam = lam[keep] / lam[keep].sum()
            if len(corral) == 1:
                break
        x = Q[:, corral] @ lam
        if j not in corral:  # the entering point left again: round-off limit reached
            converged = True
            break
    w[corral] = lam
    r = X @ w - y
    return w, float(r @ r), converged


def simplex_lstsq_placebo(Z: np.ndarray, *, tol: float = 1e-13,
                          callback: Callable[[int], None] | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out synthetic controls: each column of ``Z`` fitted from all the others.

    Parameters
    ----------
    Z : array of shape ``(T, J)``
        Donor paths in the fitting years.
    tol : float
        As for :func:`simplex_lstsq`.
    callback : callable, optional
        Called with the number of problems solved so far after each one (progress display).

    Returns
    -------
    (W, objective, converged) : tuple
        ``W[j]`` (shape ``(J, J)``) holds unit j's weights on the other units (zero on itself).
    """
    Z = np.asarray(Z, dtype=float)
    n = Z.shape[1]
    W = np.zeros((n, n))
    obj = np.zeros(n)
    conv = np.zeros(n, dtype=bool)
    idx = np.arange(n)
    for j in range(n):  # one small active-set solve per pseudo-treated unit
        others = idx != j
        w, obj[j], conv[j] = simplex_lstsq(Z[:, others], Z[:, j], tol=tol)
        W[j, others] = w
        if callback is not None:
            callback(j + 1)
    return W, obj, conv
