r"""OLS with CR2 (Bell-McCaffrey) standard errors and Satterthwaite df, batched over data sets.

One call fits ``B`` independent regressions of ``y`` on ``X`` (the replicates of a simulation
study), each with its own one-way clusters, as stacked arrays: rows of every replicate in one
``(n, p)`` matrix with a replicate index and a cluster code per row. The estimator is the one of
:func:`sosstats._kernels.cluster.cluster_vcov` with ``kind="cr2"`` (clubSandwich's ``vcovCR``
``type = "CR2"`` on an ``lm`` and its ``coef_test`` Satterthwaite df), for unweighted OLS.

Algebra (unweighted; see :mod:`sosstats._kernels.cluster_cr2` for the general case). With
:math:`X'X = LL'` and :math:`T = L^{-\top}` (so :math:`T'X'XT = I`), cluster :math:`j`'s
leverage matrix in that basis is :math:`S_j = T'X_j'X_jT = U_j\Lambda_jU_j'`
(:math:`\sum_j S_j = I`, eigenvalues :math:`\lambda \in [0, 1]`). With the thin factorisation
:math:`X_jT = Q_jR_j` the CR2 adjustment :math:`A_j = (I - H_{jj})^{-1/2}` satisfies
:math:`A_jQ_j = Q_jf(I - R_jR_j')`, :math:`f(\mu) = \mu^{-1/2}` (0 for
:math:`\mu \le 10^{-12}`, clubSandwich's generalised inverse), and the push-through identity
:math:`R_j'f(R_jR_j') = f(R_j'R_j)R_j'` gives every quantity from :math:`S_j` alone:

* adjusted score :math:`u_j = T'X_j'A_je_j = U_jf(1 - \Lambda_j)U_j'\,T'X_j'e_j`,
  :math:`V = T(\sum_j u_ju_j')T'`;
* for coefficient :math:`k`, :math:`a = T'e_k`: :math:`z_j = U_j\,f\Lambda\,U_j'a` and
  :math:`\Omega_{jj} = a'U_j\,f^2\Lambda(1 - \Lambda)\,U_j'a` (:math:`= a'S_ja` where
  :math:`f > 0`), :math:`\Omega_{jk} = -z_j'z_k` (:math:`j \ne k`), and
  :math:`\mathrm{df} = (\mathrm{tr}\,\Omega)^2 / \mathrm{tr}(\Omega^2)` (Bell & McCaffrey
  2002; Pustejovsky & Tipton 2018).

So a replicate needs only its clusters' ``p x p`` cross products ``X_j'X_j`` and ``X_j'e_j``,
which are ``numpy.bincount`` sums over the rows of all replicates at once (one pass per entry,
each bin summed in row order), followed by stacked ``(B, G, p, p)`` eigendecompositions and
products: no loop over replicates, clusters or rows, and a replicate's numbers do not depend on
which other replicates share its batch (bincount bins are independent; every later step acts on
one replicate's slice), which the bit-for-bit guarantee of ``sosstats.design`` relies on.
Forming ``X_j'X_j`` squares the condition number, which the QR route of
:mod:`sosstats._kernels.cluster_cr2` avoids; callers send only designs whose equilibrated
``X'X`` is well conditioned (``ok`` is False otherwise, and the caller refits such replicates
one at a time). On the study design (0/1 regressors) it agrees with ``cluster_vcov`` to about
1e-14 relative.

References
----------
Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
with multi-stage samples. *Survey Methodology* 28(2), 169-181.
Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *Journal of Business & Economic
Statistics* 36(4), 672-683.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["BatchedCr2", "ols_cr2_batched", "EIG_TOL", "MIN_EIGEN"]

#: eigenvalues of I - S_j at or below this get a zero inverse square root (clubSandwich's and
#: :mod:`sosstats._kernels.cluster_cr2`'s threshold)
EIG_TOL = 1e-12
#: a replicate whose equilibrated X'X has its smallest eigenvalue below this is not fitted here
MIN_EIGEN = 1e-8


class BatchedCr2(NamedTuple):
    """Fits of ``B`` replicates: coefficients, CR2 covariance, Satterthwaite df, fitted flag."""

    beta: np.ndarray      # (B, p)
    vcov: np.ndarray      # (B, p, p)
    df: np.ndarray        # (B, p)
    ok: np.ndarray        # (B,) False: rank deficient, fewer than 2 clusters or n <= p
    n_clusters: np.ndarray  # (B,) clusters with at least one row


def _cross(key: np.ndarray, n_bins: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``out[b, a, c] = sum_{key == b} left[:, a] * right[:, c]`` by bincount -> (bins, a, c)."""
    out = np.empty((n_bins, left.shape[1], right.shape[1]))
    sym = left is right
    for a in range(left.shape[1]):
        for c in range(a if sym else 0, right.shape[1]):
            out[:, a, c] = np.bincount(key, weights=left[:, a] * right[:, c], minlength=n_bins)
            if sym:
                out[:, c, a] = out[:, a, c]
    return out


def _row_fit(X: np.ndarray, beta: np.ndarray, rep: np.ndarray) -> np.ndarray:
    """``X_i' beta_rep(i)`` for every row, one column at a time (row by row independent)."""
    b = beta[rep]
    out = X[:, 0] * b[:, 0]
    for k in range(1, X.shape[1]):
        out += X[:, k] * b[:, k]
    return out


def ols_cr2_batched(X: np.ndarray, y: np.ndarray, rep: np.ndarray, cluster: np.ndarray,
                    n_reps: int, n_clusters: int) -> BatchedCr2:
    """OLS coefficients, CR2 covariance and Satterthwaite df of ``B`` replicates at once.

    Parameters
    ----------
    X : numpy.ndarray
        (n, p) regressors of every replicate's rows (finite).
    y : numpy.ndarray
        (n,) outcome (finite).
    rep : numpy.ndarray
        (n,) replicate index ``0..n_reps-1`` of each row.
    cluster : numpy.ndarray
        (n,) cluster code ``0..n_clusters-1`` within its replicate (empty clusters are fine:
        they contribute nothing, as a cluster absent from the data).
    n_reps, n_clusters : int
        ``B`` and the number of cluster codes ``G``.

    Returns
    -------
    BatchedCr2
        Where ``ok`` is False the other fields hold NaN.
    """
    X = np.ascontiguousarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    rep = np.asarray(rep, dtype=np.int64)
    B, G, p = int(n_reps), int(n_clusters), X.shape[1]
    key = rep * G + np.asarray(cluster, dtype=np.int64)
    sxx = _cross(key, B * G, X, X).reshape(B, G, p, p)
    xtx = sxx.sum(axis=1)                                           # (B, p, p)
    xty = np.stack([np.bincount(rep, weights=X[:, a] * y, minlength=B) for a in range(p)],
                   axis=1)
    rows = np.bincount(rep, minlength=B)
    present = (np.bincount(key, minlength=B * G).reshape(B, G) > 0).sum(axis=1)

    scale = np.sqrt(np.einsum("bii->bi", xtx))
    ok = (scale > 0).all(axis=1) & (present >= 2) & (rows > p)
    safe = np.where(scale > 0, scale, 1.0)
    corr = xtx / (safe[:, :, None] * safe[:, None, :])
    corr[~ok] = np.eye(p)
    ok &= np.linalg.eigvalsh(corr)[:, 0] > MIN_EIGEN
    xtx_ok = np.where(ok[:, None, None], xtx, np.eye(p))

    # coefficients: normal equations, one step of iterative refinement
    beta = np.linalg.solve(xtx_ok, xty[:, :, None])[:, :, 0]
    resid = y - _row_fit(X, beta, rep)
    xtr = np.stack([np.bincount(rep, weights=X[:, a] * resid, minlength=B) for a in range(p)],
                   axis=1)
    beta = beta + np.linalg.solve(xtx_ok, xtr[:, :, None])[:, :, 0]
    resid = y - _row_fit(X, beta, rep)
    sxe = np.stack([np.bincount(key, weights=X[:, a] * resid, minlength=B * G)
                    for a in range(p)], axis=1).reshape(B, G, p, 1)

    # basis with T'X'XT = I: X'X = L L', T = L^{-T}
    t_mat = np.swapaxes(np.linalg.inv(np.linalg.cholesky(xtx_ok)), 1, 2)      # (B, p, p)
    t_tr = np.swapaxes(t_mat, 1, 2)
    s_mat = t_tr[:, None] @ sxx @ t_mat[:, None]                    # (B, G, p, p)
    lam, u = np.linalg.eigh(0.5 * (s_mat + np.swapaxes(s_mat, 2, 3)))
    mu = 1.0 - lam
    f = np.where(mu > EIG_TOL, 1.0 / np.sqrt(np.where(mu > EIG_TOL, mu, 1.0)), 0.0)
    u_tr = np.swapaxes(u, 2, 3)

    # adjusted scores and the covariance
    score = u @ (f[..., None] * (u_tr @ (t_tr[:, None] @ sxe)))     # (B, G, p, 1)
    sc = score[..., 0]                                              # (B, G, p)
    meat = np.swapaxes(sc, 1, 2) @ sc                               # (B, p, p)
    vcov = t_mat @ meat @ t_tr
    vcov = 0.5 * (vcov + np.swapaxes(vcov, 1, 2))

    # Satterthwaite df of every coefficient (columns of T' are the contrasts a_k)
    uta = u_tr @ t_tr[:, None]                                      # (B, G, p, q)
    z = u @ ((f * lam)[..., None] * uta)                            # (B, G, p, q)
    om_diag = ((f * f * lam * mu)[..., None] * uta * uta).sum(axis=2)   # (B, G, q)
    zq = np.transpose(z, (0, 3, 1, 2))                              # (B, q, G, p)
    cross = zq @ np.swapaxes(zq, 2, 3)                              # (B, q, G, G)
    idx = np.arange(G)
    cross[:, :, idx, idx] = 0.0
    trace = om_diag.sum(axis=1)                                     # (B, q)
    trace_sq = (om_diag * om_diag).sum(axis=1) + (cross * cross).sum(axis=(2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = trace * trace / trace_sq

    nan = ~ok
    beta[nan] = np.nan
    vcov[nan] = np.nan
    df[nan] = np.nan
    return BatchedCr2(beta, vcov, df, ok, present)
