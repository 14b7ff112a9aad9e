"""Bell-McCaffrey (CR2) adjustment and Satterthwaite degrees of freedom, batched over clusters.

Internal to :mod:`sosstats._kernels.cluster`: inputs are already validated (finite float arrays,
positive weights, cluster codes ``0..G-1`` with every cluster present, ``M`` the bread).

The residual-maker of a WLS fit with weights ``W`` is ``I - H`` with ``H = X M X' W`` and
``M = (X' W X)^{-1}``. Under the working model ``Var(y) = sigma^2 I`` (clubSandwich's default
target for ``lm``, with or without weights)

    (I - H)(I - H)' = I + L K L',   L = [X, W X],   K = [[M Q M, -M], [-M, 0]],  Q = X' W^2 X,

and without weights ``L = X``, ``K = -M``. The CR2 adjustment of cluster ``j`` is
``A_j = G_j^{-1/2}`` with ``G_j = I + L_j K L_j'``, the ``(j, j)`` block. With a thin QR
factorisation ``L_j = Q_j R_j`` (``Q_j`` orthonormal ``n_j x m``, ``R_j`` ``m x m``, singular
or not), ``G_j = I + Q_j T_j Q_j'`` with ``T_j = R_j K R_j'``, so

    G_j^{-1/2} = (I - Q_j Q_j') + Q_j C_j^{-1/2} Q_j',   C_j = I + R_j K R_j'   (m x m),

exactly, whatever the rank of ``L_j``: no rank decision is taken (a direction of ``Q_j`` outside
the column space of ``L_j`` has a zero row and column in ``T_j`` and contributes 1). Everything
needed follows from ``R_j`` and ``Q_j' e_j``, read off the R factor of ``[L_j, e_j]``; no
``n_j x n_j`` matrix is formed, the cost is ``O(n m^2 + G m^3)``. Householder QR is backward
stable column by column (Higham 2002, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
Thm 19.4), so the result does not depend on the scale of the weights and keeps the accuracy
of a dense evaluation when ``X_j`` and ``W_j X_j`` are nearly collinear or the weights span
many orders of magnitude (forming ``L_j' L_j`` instead squares the condition number; the
eigenvalue cut that a Gram-matrix basis needs drops real directions: issue 14).

Clusters are factorised in batches of similar size, zero-padded to a common row count (zero rows
change neither ``R_j`` nor ``Q_j' e_j``): a loop over at most ``4 log2(n)`` size classes and
over clusters of 4,096 rows or more, never over rows.

The algebra runs in the basis ``X T`` with ``T' X' W X T = I`` (``T`` from the R factor of
``W^{1/2} X``), where ``M = I`` and ``K`` is well scaled whatever the units of the regressors;
CR2 and its df do not depend on the parametrisation. Before issue 14 the basis came from an
eigendecomposition of ``L_j' L_j`` with a relative cut at 1e-10: on clubSandwich's
``dropoutPrevention`` meta-regression (weights 1 / varLOR, 0.046 to 3,001) the SEs were off
by 5e-5 relative and rescaling the weights by 1e3 moved them by 2e-3; now 2e-11 and 4e-11.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.linalg import solve_triangular
from scipy.linalg.lapack import dgeqrf

__all__ = ["group_sum", "group_r_factor", "Cr2Pieces", "cr2_pieces", "cr2_scores",
           "satterthwaite_from_pieces"]

#: eigenvalues of G_j at or below this are treated as zero (generalised inverse square root),
#: the threshold of clubSandwich's ``matrix_power``
EIG_TOL = 1e-12
#: largest ``G^2 m q`` for which the Satterthwaite traces are taken from the explicit
#: ``G x G`` matrix Omega (see :func:`satterthwaite_from_pieces`)
EXPLICIT_OMEGA = 30_000_000
#: clusters with at least this many rows are factorised one at a time (no padding)
BIG_CLUSTER = 4096


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


def group_r_factor(codes: np.ndarray, n_groups: int, cols_t: np.ndarray) -> np.ndarray:
    """Per-group R factors of the QR decomposition of ``cols_j`` (n_j, k) -> (n_groups, k, k).

    ``cols_t`` is the (k, n) transpose of the columns (row ``i`` of it is column ``i``), so
    that a group's rows, gathered, are already in LAPACK's column-major order. ``R_j`` is
    upper triangular with ``R_j' R_j = cols_j' cols_j`` (zero rows below ``n_j`` when
    ``n_j < k``; the signs of its rows are LAPACK's), by Householder QR (LAPACK ``dgeqrf``).
    Groups of fewer than :data:`BIG_CLUSTER` rows are padded with zero rows to a size class
    (four classes per power of two, so padding adds at most a quarter) and factorised by one
    stacked :func:`numpy.linalg.qr` per class; larger groups one at a time.
    """
    k, n = cols_t.shape
    sizes = np.bincount(codes, minlength=n_groups)
    step = 2 ** np.maximum(np.floor(np.log2(np.maximum(sizes, 1))) - 2, 0)
    padded = (np.ceil(sizes / step) * step).astype(np.int64)
    padded[sizes >= BIG_CLUSTER] = -1                               # one at a time
    gorder = np.lexsort((np.arange(n_groups), padded))              # by size class, then code
    pos = np.empty(n_groups, dtype=np.int16 if n_groups < 2 ** 15 else np.int64)
    pos[gorder] = np.arange(n_groups)
    order = np.argsort(pos[codes], kind="stable")                   # radix sort for int16
    gstart = np.zeros(n_groups, dtype=np.int64)
    gstart[gorder] = np.concatenate([[0], np.cumsum(sizes[gorder])[:-1]])
    out = np.zeros((n_groups, k, k))
    classes, first = np.unique(padded[gorder], return_index=True)
    bounds = np.append(first, n_groups)
    for c, a, b in zip(classes, bounds[:-1], bounds[1:]):
        groups = gorder[a:b]
        if c < 0:                                                   # large groups
            for g in groups:
                blk = cols_t[:, order[gstart[g]:gstart[g] + sizes[g]]]  # (k, n_j) C order
                qr, _, _, _ = dgeqrf(blk.T, overwrite_a=1)         # = (n_j, k) Fortran order
                out[g, :min(k, qr.shape[0])] = np.triu(qr[:k])
            continue
        lo = gstart[groups[0]]
        hi = gstart[groups[-1]] + sizes[groups[-1]]
        local = np.empty(n_groups, dtype=np.int64)
        local[groups] = np.arange(groups.size)
        rows = codes[order[lo:hi]]
        rank = np.arange(lo, hi) - gstart[rows]
        block = np.zeros((groups.size, int(c), k))
        block[local[rows], rank] = cols_t[:, order[lo:hi]].T
        r = np.linalg.qr(block, mode="r")                           # (len, min(c, k), k)
        out[groups, :r.shape[1]] = r
    return out


class Cr2Pieces(NamedTuple):
    """Per-cluster quantities shared by the CR2 variance and its Satterthwaite df."""

    m_bread: np.ndarray   # (p, p) T^{-1} M: contrasts of the coefficients -> basis of t_wx
    k_mat: np.ndarray     # (m, m) K
    v_dh: np.ndarray      # (G, m, m) L_j' Q_j = R_j'
    c_mh: np.ndarray      # (G, m, m) C_j^{-1/2} (generalised)
    t_wx: np.ndarray      # (G, m, p) Q_j' W_j X_j (the W X columns of R_j)
    z_e: np.ndarray | None  # (G, m) Q_j' e_j, when residuals were given


def cr2_pieces(x: np.ndarray, codes: np.ndarray, n_groups: int, m_bread: np.ndarray,
               weights: np.ndarray | None, resid: np.ndarray | None = None) -> Cr2Pieces:
    """Build the batched CR2 quantities (see the module docstring for the algebra).

    The algebra is run in the basis of the reparametrised design ``X T``, ``T = R0^{-1}`` with
    ``R0`` the R factor of ``W^{1/2} X``, so that ``T' X' W X T = I`` (``M~ = I``): the hat
    matrix, and with it CR2 and its df, do not depend on the parametrisation, and in this basis
    ``K`` is well scaled whatever the units of the regressors or the scale of the weights. The
    cluster factors of ``[X T, W X T]`` are ``R_j diag(T, T)`` (same ``Q_j``). ``m_bread``
    (the caller's ``M``) is used only when ``X`` is numerically rank deficient (then
    ``T = I``). The returned ``m_bread`` is ``T^{-1} M`` (``= T'``), so that
    ``t_wx @ (m_bread @ c)`` is ``Q_j' W_j X_j M c`` for a contrast ``c`` of the original
    coefficients, and :func:`cr2_scores` gives ``T' u_j``:
    ``V = m_bread' (sum_j u~_j u~_j') m_bread``.
    """
    p = x.shape[1]
    rw = x if weights is None else x * np.sqrt(weights)[:, None]
    r0 = np.linalg.qr(rw, mode="r")
    dr = np.abs(np.diag(r0))
    if p and dr.min() > 1e-13 * dr.max():
        t_mat = solve_triangular(r0, np.eye(p))                     # T = R0^{-1}
        m_t = np.eye(p)                                             # M~ = T' X'WX T
        out_bread = t_mat.T                                         # T^{-1} M = T'
    else:
        t_mat = np.eye(p)
        m_t = out_bread = m_bread
    m = p if weights is None else 2 * p
    cols_t = np.empty((m + (resid is not None), x.shape[0]))        # [X, W X, e]'
    cols_t[:p] = x.T
    if weights is None:
        wx_cols = slice(0, p)
        t_big = t_mat
    else:
        np.multiply(x.T, weights, out=cols_t[p:m])
        wx_cols = slice(p, 2 * p)
        t_big = np.zeros((2 * p, 2 * p))
        t_big[:p, :p] = t_big[p:, p:] = t_mat
    if resid is not None:
        cols_t[m] = resid
    r_aug = group_r_factor(codes, n_groups, cols_t)                # (G, m[+1], m[+1])
    r_fac = r_aug[:, :m, :m] @ t_big                                # [X T, W X T]_j = Q_j R~_j
    z_e = None if resid is None else r_aug[:, :m, m]                # Q_j' e_j
    t_wx = r_fac[:, :, wx_cols]                                     # Q_j' W_j X_j T
    if weights is None:
        k_mat = -m_t
    else:
        q_mat = np.einsum("gap,gaq->pq", t_wx, t_wx)                # T' X' W^2 X T
        mqm = m_t @ q_mat @ m_t
        k_mat = np.block([[mqm, -m_t], [-m_t, np.zeros((p, p))]])
    v_dh = np.swapaxes(r_fac, 1, 2)                                 # L_j' Q_j = R~_j'
    # C_j = I + R_j K R_j'
    c_mat = np.eye(m) + r_fac @ k_mat @ v_dh
    lam, r = np.linalg.eigh(0.5 * (c_mat + np.swapaxes(c_mat, 1, 2)))
    f = np.where(lam > EIG_TOL, 1.0 / np.sqrt(np.where(lam > EIG_TOL, lam, 1.0)), 0.0)
    c_mh = (r * f[:, None, :]) @ np.swapaxes(r, 1, 2)
    return Cr2Pieces(out_bread, k_mat, v_dh, c_mh, t_wx, z_e)


def cr2_scores(pieces: Cr2Pieces) -> np.ndarray:
    """Return the adjusted cluster scores ``T' X_j' W_j A_j e_j`` (G, p).

    They are in the basis of :func:`cr2_pieces`: ``V = m_bread' (sum_j u_j u_j') m_bread``.
    """
    adj = np.einsum("gab,gb->ga", pieces.c_mh, pieces.z_e)          # C^{-1/2} U'e
    return np.einsum("gap,ga->gp", pieces.t_wx, adj)


def satterthwaite_from_pieces(pieces: Cr2Pieces, contrasts: np.ndarray) -> np.ndarray:
    """Satterthwaite df of ``c' V c`` for each column ``c`` of ``contrasts`` (p, q) -> (q,).

    With ``g_j = A_j W_j X_j M c`` the variance estimate is ``e' P P' e`` with ``P`` having
    columns ``(I - H)_j'. g_j``; under the working model its mean and variance are ``tr(Omega)``
    and ``2 tr(Omega^2)`` with ``Omega = P' P = D + Z' K Z``, ``D = diag(g_j' g_j)`` and
    ``Z_j = L_j' g_j``, so ``df = tr(Omega)^2 / tr(Omega^2)`` (clubSandwich's ``coef_test``
    Satterthwaite).

    ``tr(Omega^2) = sum_j Omega_jj^2 + sum_{j != k} (z_j' K z_k)^2``. When a cluster's
    ``A_j`` amplifies ``g_j`` (high leverage), ``g_j' g_j`` and ``z_j' K z_j`` nearly cancel in
    ``Omega_jj``, and the ``G x G``-free trace identity
    ``sum_{j,k} (z_j' K z_k)^2 = tr((K Z'Z)^2)`` would subtract those large diagonal terms
    again (relative error ~1e-9 on the dropoutPrevention meta-regression). So the off-diagonal
    sum is taken from ``Omega`` itself, in blocks of clusters, while ``G^2 m q`` is at most
    :data:`EXPLICIT_OMEGA` (exact to rounding); beyond that the trace identity is used
    (``O(G m^2 q)``).
    """
    mc = pieces.m_bread @ contrasts                                 # (p, q)
    h = pieces.c_mh @ (pieces.t_wx @ mc)                            # (G, m, q): Q_j' g_j
    d = np.einsum("gmq,gmq->gq", h, h)                              # g_j' g_j
    z = pieces.v_dh @ h                                             # (G, m, q): L_j' g_j
    k = pieces.k_mat
    kz = np.einsum("ab,gbq->gaq", k, z)                             # K z_j
    zkz = np.einsum("gaq,gaq->gq", z, kz)                           # diagonal of Z'KZ
    diag = d + zkz                                                  # Omega_jj
    trace = diag.sum(axis=0)
    n_g, m, q = z.shape
    if n_g * n_g * m * q <= EXPLICIT_OMEGA:
        off = np.zeros(q)
        zq = np.ascontiguousarray(np.moveaxis(z, 2, 0))             # (q, G, m)
        kzq = np.ascontiguousarray(np.transpose(kz, (2, 1, 0)))     # (q, m, G)
        step = max(1, int(2_000_000 // max(n_g * q, 1)))
        for lo in range(0, n_g, step):                              # blocks of clusters
            blk = zq[:, lo:lo + step] @ kzq                         # (q, b, G) z_j' K z_k
            idx = np.arange(blk.shape[1])
            blk[:, idx, lo + idx] = 0.0                             # off-diagonal only
            off += np.einsum("qjk,qjk->q", blk, blk)
        trace_sq = (diag ** 2).sum(axis=0) + off
    else:
        zz = np.einsum("gaq,gbq->qab", z, z)                        # sum_j Z_j Z_j'
        kzz = k[None, :, :] @ zz
        trace_sq = ((d ** 2).sum(axis=0) + 2.0 * (d * zkz).sum(axis=0)
                    + np.einsum("qab,qba->q", kzz, kzz))
    with np.errstate(divide="ignore", invalid="ignore"):
        return trace ** 2 / trace_sq
