r"""Penalised regression splines fitted by generalised cross-validation (numpy / scipy only).

The smoother behind :func:`sosstats.vfm.evppi`: the conditional mean :math:`E(y \mid \phi)` of
a response (incremental cost or effect) given one, two or more parameters, as in the GAM
approach of Strong, Oakley & Brennan (2014).

* One parameter: a cubic B-spline basis with interior knots at quantiles of :math:`\phi` and a
  penalty on second divided differences of the coefficients over their Greville abscissae
  (a P-spline, Eilers & Marx 1996, whose penalty vanishes exactly on functions linear in
  :math:`\phi`, also with uneven knots).
* Two parameters: the tensor product of two such bases with the penalty
  :math:`P_1 \otimes I + I \otimes P_2` (unpenalised: :math:`1, \phi_1, \phi_2, \phi_1\phi_2`),
  one smoothing parameter, each parameter standardised first.
* Three or more: an additive model, one such spline per parameter (interactions between them
  are not modelled).

Each response gets its own smoothing parameter, the minimiser of
:math:`\mathrm{GCV}(\lambda) = n\,\mathrm{RSS}(\lambda) / (n - \mathrm{tr}\,H_\lambda)^2`
(Craven & Wahba 1979) over a grid of 61 values, computed once from one SVD of the design
matrix (through the eigendecomposition of :math:`X^\top X`) and one eigendecomposition of
the penalty in its coordinates, so that every
:math:`\lambda` costs :math:`O(n r)` for the :math:`r` kept columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["Smoother", "basis"]

#: Basis functions per parameter: one parameter, each of two (tensor), each of three or more.
BASIS_SIZES = {1: 20, 2: 8, 3: 8}
#: log10 grid of the smoothing parameter, relative to the scale of X'X over the penalty's.
LOG_LAMBDA = np.linspace(-6.0, 9.0, 61)


def _marginal(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cubic B-spline basis of standardised ``x`` with ``size`` functions; and its penalty."""
    k = 3
    n_inner = max(size - k - 1, 0)
    probs = np.linspace(0, 1, n_inner + 2)[1:-1]
    inner = np.unique(np.quantile(x, probs)) if n_inner else np.empty(0)
    lo, hi = float(x.min()), float(x.max())
    inner = inner[(inner > lo) & (inner < hi)]
    knots = np.concatenate([[lo] * (k + 1), inner, [hi] * (k + 1)])
    B = BSpline.design_matrix(np.clip(x, lo, hi), knots, k).toarray()
    q = B.shape[1]
    grev = np.array([knots[j + 1:j + k + 1].mean() for j in range(q)])
    if q < 3:
        return B, np.zeros((q, q))
    d1 = np.diff(np.eye(q), axis=0) / np.diff(grev)[:, None]            # first divided diffs
    mid = (grev[2:] - grev[:-2]) / 2.0
    d2 = np.diff(d1, axis=0) / mid[:, None]                             # second divided diffs
    return B, d2.T @ d2


def basis(phi: np.ndarray, sizes: dict[int, int] | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix and penalty for the columns of ``phi`` (``(n, d)``, standardised here).

    One column: a B-spline; two: their tensor product; three or more: an additive model (one
    B-spline each and an intercept; the spline columns centred).
    """
    sizes = BASIS_SIZES if sizes is None else sizes
    phi = np.asarray(phi, dtype=float)
    z = (phi - phi.mean(axis=0)) / phi.std(axis=0)
    d = z.shape[1]
    if d == 1:
        return _marginal(z[:, 0], sizes[1])
    if d == 2:
        B1, P1 = _marginal(z[:, 0], sizes[2])
        B2, P2 = _marginal(z[:, 1], sizes[2])
        X = (B1[:, :, None] * B2[:, None, :]).reshape(z.shape[0], -1)
        P = np.kron(P1, np.eye(B2.shape[1])) + np.kron(np.eye(B1.shape[1]), P2)
        return X, P
    blocks, pens = [np.ones((z.shape[0], 1))], [np.zeros((1, 1))]
    for j in range(d):
        B, P = _marginal(z[:, j], sizes[3])
        blocks.append(B - B.mean(axis=0))
        pens.append(P)
    X = np.hstack(blocks)
    P = np.zeros((X.shape[1], X.shape[1]))
    at = 0
    for pen in pens:
        m = pen.shape[0]
        P[at:at + m, at:at + m] = pen
        at += m
    return X, P


@dataclass
class Smoother:
    r"""Penalised least squares of many responses on one basis, each with its GCV smoothing.

    ``Smoother(X, P).fit(Y)`` returns the fitted values ``(n, m)`` and each column's effective
    degrees of freedom ``tr H``. Rank-deficient ``X`` (the additive model) is handled by dropping
    the null directions of :math:`X^\top X`.
    """

    X: np.ndarray
    P: np.ndarray

    def __post_init__(self) -> None:
        s2, V = np.linalg.eigh(self.X.T @ self.X)        # X'X = V diag(s^2) V'
        keep = s2 > s2.max() * 1e-11                     # drops the additive model's aliases
        T = V[:, keep] / np.sqrt(s2[keep])               # X T has orthonormal columns
        M = T.T @ self.P @ T                             # the penalty in those coordinates
        ev, W = np.linalg.eigh((M + M.T) / 2.0)
        self.eig = np.clip(ev, 0.0, None)
        self.A = self.X @ (T @ W)                        # orthonormal columns, (n, r)
        scale = self.eig.max() if self.eig.max() > 0 else 1.0
        self.lambdas = 10.0 ** LOG_LAMBDA / scale

    def fit(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fitted values of each column of ``Y`` at its GCV-best smoothing, and the edf."""
        Y = np.asarray(Y, dtype=float)
        Y = Y[:, None] if Y.ndim == 1 else Y
        n = Y.shape[0]
        z = self.A.T @ Y                                             # (r, m)
        outside = (Y**2).sum(axis=0) - (z**2).sum(axis=0)           # RSS of the projection
        shrink = 1.0 / (1.0 + self.lambdas[:, None] * self.eig[None, :])   # (L, r)
        edf = shrink.sum(axis=1)                                     # (L,)
        resid = ((1.0 - shrink)[:, :, None] * z[None, :, :]) ** 2   # (L, r, m)
        rss = np.clip(outside[None, :] + resid.sum(axis=1), 0.0, None)
        gcv = n * rss / np.clip(n - edf[:, None], 1e-12, None) ** 2
        # the smoothest lambda within rounding of the minimum (an exactly linear response
        # has RSS ~ 0 at every lambda: take the straight line, edf 2, not the wiggliest fit)
        low = gcv.min(axis=0)
        near = gcv <= low * (1 + 1e-9) + 1e-12 * (Y**2).mean(axis=0)
        best = gcv.shape[0] - 1 - np.argmax(near[::-1], axis=0)     # (m,)
        fitted = self.A @ (shrink[best].T * z)
        return fitted, edf[best]
