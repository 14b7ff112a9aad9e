"""Bell-McCaffrey (CR2) adjustment and Satterthwaite degrees of freedom, batched over clusters.

Internal to :mod:`sosstats._kernels.cluster`: inputs are already validated (finite float arrays,
positive weights, cluster codes ``0..G-1`` with every cluster present, ``M`` the bread).

The residual-maker of a WLS fit with weights ``W`` is ``I - H`` with ``H = X M X' W`` and
``M = (X' W X)^{-1}``. Under the working model ``Var(y) = sigma^2 I`` (clubSandwich's default
target for ``lm``, with or without weights)

    (I - H)(I - H)' = I + L K L',   L = [X, W X],   K = [[M Q M, -M], [-M, 0]],  Q = X' W^2 X,

and without weights ``L = X``, ``K = -M``. The CR2 adjustment of cluster ``j`` is
``A_j = G_j^{-1/2}`` with ``G_j = I + L_j K L_j'``, the ``(j, j)`` block. ``G_j`` differs from the
identity only on the column space of ``L_j`` (dimension at most ``2p``), so with an orthonormal
basis ``U_j`` of that space, ``G_j^{-1/2} = (I - U_j U_j') + U_j C_j^{-1/2} U_j'`` where
``C_j = U_j' G_j U_j`` is ``m x m``. Everything needed (``U_j' L_j``, ``U_j' e_j``) follows from
the cluster Gram matrices ``L_j' L_j`` and sums ``L_j' e_j``: no ``n_j x n_j`` matrix is ever
formed, so the cost is ``O(n m^2 + G m^3)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse

__all__ = ["group_sum", "Cr2Pieces", "cr2_pieces", "cr2_scores", "satterthwaite_from_pieces"]

#: eigenvalues of G_j at or below this are treated as zero (generalised inverse square root),
#: the threshold of clubSandwich's ``matrix_power``
EIG_TOL = 1e-12
#: relative threshold below which a direction of a cluster's L_j is treated as absent
RANK_RTOL = 1e-10


def group_sum(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Sum the rows of ``values`` (n, k) within groups ``codes`` (n,) -> (n_groups, k).

    One sparse product with the (n_groups, n) indicator matrix, built in CSC form directly
    (one entry per column, no sorting): ``O(n k)``.
    """
    n = codes.shape[0]
    ind = sparse.csc_array((np.ones(n), codes, np.arange(n + 1)), shape=(n_groups, n))
    return np.asarray(ind @ values)


def group_gram(codes: np.ndarray, n_groups: int, left: np.ndarray,
               right: np.ndarray | None = None) -> np.ndarray:
    """Per-group cross products ``left_j' right_j`` -> (n_groups, k, l).

    Rows are sorted by group once. With large groups (at least 64 rows on average) each group's
    product is one BLAS call on a contiguous slice (a loop over the few groups, not over rows);
    otherwise the products are summed one column of ``right`` at a time with
    :func:`numpy.add.reduceat`, keeping memory at ``O(n k)``.
    """
    same = right is None
    right = left if same else right
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_groups))
    lo = left[order]
    ro = lo if same else right[order]
    out = np.empty((n_groups, left.shape[1], right.shape[1]))
    if codes.shape[0] >= 64 * n_groups:
        ends = np.append(starts[1:], codes.shape[0])
        for j, (a, b) in enumerate(zip(starts, ends)):
            out[j] = lo[a:b].T @ ro[a:b]
        return out
    for b in range(right.shape[1]):
        out[:, :, b] = np.add.reduceat(lo * ro[:, b:b + 1], starts, axis=0)
    return out


class Cr2Pieces(NamedTuple):
    """Per-cluster quantities shared by the CR2 variance and its Satterthwaite df."""

    m_bread: np.ndarray   # (p, p) M
    k_mat: np.ndarray     # (m, m) K
    v_dh: np.ndarray      # (G, m, m) V_j diag(sqrt(D_j)): L_j' U_j (zero columns where dropped)
    c_mh: np.ndarray      # (G, m, m) C_j^{-1/2} (generalised)
    t_wx: np.ndarray      # (G, m, p) U_j' W_j X_j
    z_e: np.ndarray | None  # (G, m) U_j' e_j, when residuals were given


def cr2_pieces(x: np.ndarray, codes: np.ndarray, n_groups: int, m_bread: np.ndarray,
               weights: np.ndarray | None, resid: np.ndarray | None = None) -> Cr2Pieces:
    """Build the batched CR2 quantities (see the module docstring for the algebra)."""
    p = x.shape[1]
    if weights is None:
        big_l = x
        k_mat = -m_bread
        wx_cols = slice(0, p)
    else:
        wx = x * weights[:, None]
        big_l = np.concatenate([x, wx], axis=1)
        q_mat = wx.T @ wx
        mqm = m_bread @ q_mat @ m_bread
        k_mat = np.block([[mqm, -m_bread], [-m_bread, np.zeros((p, p))]])
        wx_cols = slice(p, 2 * p)
    gram = group_gram(codes, n_groups, big_l)                       # (G, m, m)
    gram = 0.5 * (gram + np.swapaxes(gram, 1, 2))
    d, v = np.linalg.eigh(gram)                                     # ascending eigenvalues
    keep = d > RANK_RTOL * np.maximum(d[:, -1:], np.finfo(float).tiny)
    dh = np.where(keep, np.sqrt(np.where(keep, d, 1.0)), 0.0)
    dinvh = np.where(keep, 1.0 / np.where(keep, dh, 1.0), 0.0)
    v_dh = v * dh[:, None, :]                                       # L_j' U_j
    # C_j = I + (U_j' L_j) K (L_j' U_j)
    c_mat = np.eye(big_l.shape[1]) + np.swapaxes(v_dh, 1, 2) @ k_mat @ v_dh
    lam, r = np.linalg.eigh(0.5 * (c_mat + np.swapaxes(c_mat, 1, 2)))
    f = np.where(lam > EIG_TOL, 1.0 / np.sqrt(np.where(lam > EIG_TOL, lam, 1.0)), 0.0)
    c_mh = (r * f[:, None, :]) @ np.swapaxes(r, 1, 2)
    # U_j' Y_j = diag(dinvh) V_j' (L_j' Y_j)
    t_wx = dinvh[:, :, None] * (np.swapaxes(v, 1, 2) @ gram[:, :, wx_cols])
    z_e = None
    if resid is not None:
        le = group_sum(codes, n_groups, big_l * resid[:, None])    # (G, m)
        z_e = dinvh * np.einsum("gab,ga->gb", v, le)
    return Cr2Pieces(m_bread, k_mat, v_dh, c_mh, t_wx, z_e)


def cr2_scores(pieces: Cr2Pieces) -> np.ndarray:
    """Return the adjusted cluster scores ``u_j = X_j' W_j A_j e_j`` (G, p)."""
    adj = np.einsum("gab,gb->ga", pieces.c_mh, pieces.z_e)          # C^{-1/2} U'e
    return np.einsum("gap,ga->gp", pieces.t_wx, adj)


def satterthwaite_from_pieces(pieces: Cr2Pieces, contrasts: np.ndarray) -> np.ndarray:
    """Satterthwaite df of ``c' V c`` for each column ``c`` of ``contrasts`` (p, q) -> (q,).

    With ``g_j = A_j W_j X_j M c`` the variance estimate is ``e' P P' e`` with ``P`` having
    columns ``(I - H)_j'. g_j``; under the working model its mean and variance are ``tr(Omega)``
    and ``2 tr(Omega^2)`` with ``Omega = P' P = D + Z' K Z``, ``D = diag(g_j' g_j)`` and
    ``Z_j = L_j' g_j``, so ``df = tr(Omega)^2 / tr(Omega^2)`` (clubSandwich's ``coef_test``
    Satterthwaite). Traces are taken without forming the ``G x G`` matrix ``Omega``.
    """
    mc = pieces.m_bread @ contrasts                                 # (p, q)
    h = pieces.c_mh @ (pieces.t_wx @ mc)                            # (G, m, q): U_j' g_j
    d = np.einsum("gmq,gmq->gq", h, h)                              # g_j' g_j
    z = pieces.v_dh @ h                                             # (G, m, q): L_j' g_j
    k = pieces.k_mat
    zkz = np.einsum("gaq,ab,gbq->gq", z, k, z)                      # diagonal of Z'KZ
    zz = np.einsum("gaq,gbq->qab", z, z)                            # sum_j Z_j Z_j'
    kzz = k[None, :, :] @ zz
    trace = d.sum(axis=0) + np.einsum("qaa->q", kzz)
    trace_sq = ((d ** 2).sum(axis=0) + 2.0 * (d * zkz).sum(axis=0)
                + np.einsum("qab,qba->q", kzz, kzz))
    with np.errstate(divide="ignore", invalid="ignore"):
        return trace ** 2 / trace_sq
