"""Cluster-robust covariance of OLS / WLS coefficients (CR0-CR3, two-way, multiple membership).

Also Satterthwaite degrees of freedom for CR2, cluster leverage and the few-cluster warning.

Plain numpy arrays in and out; sums over observations are grouped sums (no Python loop over
rows); the CR2 adjustment is batched over clusters (see :mod:`sosstats._kernels.cluster_cr2`);
inputs are checked by :mod:`sosstats._kernels.cluster_inputs`.

Notation: ``X`` (n, p), WLS weights ``w`` (``W = diag(w)``, ``W = I`` without weights),
residuals ``e = y - X b`` (unweighted), ``M = (X' W X)^{-1}`` the bread, cluster ``j`` holding
the rows ``X_j``, ``e_j``, ``W_j``. Every estimator is ``V = M (sum_j u_j u_j') M`` for some
cluster score ``u_j``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sosstats._kernels.cluster_cr2 import (
    cr2_pieces,
    cr2_scores,
    group_gram,
    group_sum,
    satterthwaite_from_pieces,
)
from sosstats._kernels.cluster_inputs import (
    as_float,
    bread_matrix,
    cluster_codes,
    membership_shares,
    prepare,
)
from sosstats._validate import check_option
from sosstats.errors import DataError, DesignError, SosstatsWarning

__all__ = [
    "ClusterVcov",
    "ClusterLeverage",
    "cluster_vcov",
    "satterthwaite_df",
    "cluster_leverage",
    "few_cluster_warning",
    "FEW_CLUSTERS",
    "default_kind",
]

KINDS = ("cr0", "cr1", "cr2", "cr3")
#: below this many clusters, CR0 / CR1 inference is flagged as unreliable
FEW_CLUSTERS = 42


def default_kind(n_clusters: int) -> str:
    """Return the cluster-robust kind used when the caller names none.

    ``"cr2"`` (Bell-McCaffrey with Satterthwaite df) below :data:`FEW_CLUSTERS` clusters,
    ``"cr1"`` from there on. One rule for every entry point (``change_model``, ``matched_effect``, the logits), so the
    default never depends on which capability a user called.
    """
    return "cr2" if n_clusters < FEW_CLUSTERS else "cr1"


@dataclass(frozen=True)
class ClusterVcov:
    """Cluster-robust covariance matrix of the coefficients.

    Attributes
    ----------
    vcov : numpy.ndarray
        (p, p) covariance matrix.
    df : numpy.ndarray
        (p,) degrees of freedom for a t reference distribution, one per coefficient:
        ``G - 1`` for cr0 / cr1 / cr3 (``min(G1, G2) - 1`` two-way), Satterthwaite for cr2.
    n_clusters : int
        Number of clusters ``G`` (the smaller dimension for two-way clustering).
    kind : str
        "cr0", "cr1", "cr2" or "cr3".
    cluster_counts : tuple of int
        ``(G,)``; ``(G1, G2, G12)`` for two-way clustering (G12: non-empty intersections).
    n_obs : int
        Observations used (rows with a positive weight).
    """

    vcov: np.ndarray
    df: np.ndarray
    n_clusters: int
    kind: str
    cluster_counts: tuple[int, ...] = field(default=())
    n_obs: int = 0

    @property
    def std_errors(self) -> np.ndarray:
        """Square roots of the diagonal (NaN where a two-way variance is not positive)."""
        diag = np.diag(self.vcov)
        with np.errstate(invalid="ignore"):
            return np.where(diag >= 0, np.sqrt(np.abs(diag)), np.nan)


@dataclass(frozen=True)
class ClusterLeverage:
    """Per-cluster influence on an OLS / WLS fit (clusters in code order ``0..G-1``).

    Attributes
    ----------
    dfbeta : numpy.ndarray
        (G, p) change in the coefficients when the cluster is left out,
        ``b_(-j) - b = -M (I - X_j' W_j X_j M)^{-1} X_j' W_j e_j``; a row is NaN when leaving
        the cluster out makes ``X' W X`` singular (a regressor observed only in that cluster).
    meat_share : numpy.ndarray
        (G, p) the cluster's share of each coefficient's CR0 variance,
        ``(M s_j)_k^2 / sum_l (M s_l)_k^2`` with ``s_j = X_j' W_j e_j`` (columns sum to 1).
    hat_trace : numpy.ndarray
        (G,) ``tr(H_jj) = tr(X_j' W_j X_j M)`` (sums to p): the cluster's leverage.
    size : numpy.ndarray
        (G,) number of observations in each cluster.
    """

    dfbeta: np.ndarray
    meat_share: np.ndarray
    hat_trace: np.ndarray
    size: np.ndarray


# ----------------------------------------------------------------------------- public API

def cluster_vcov(X: Any, resid: Any, clusters: Any, *, kind: str = "cr1",
                 weights: Any = None, membership: Any = None, bread: Any = None
                 ) -> ClusterVcov:
    r"""Cluster-robust covariance of OLS / WLS coefficients.

    Parameters
    ----------
    X : array_like
        (n, p) design matrix (a 1-D array is one column).
    resid : array_like
        (n,) residuals ``y - X b`` (unweighted, also for WLS).
    clusters : array_like or None
        (n,) cluster labels (integer codes or any sortable labels), (n, 2) for two-way
        clustering, or None when ``membership`` is given.
    kind : {"cr0", "cr1", "cr2", "cr3"}
        Small-sample correction (see Notes).
    weights : array_like, optional
        (n,) non-negative WLS weights; rows with weight 0 are dropped (they count neither in
        ``n`` nor, if a cluster has no positive weight, in ``G``).
    membership : array_like or scipy.sparse matrix, optional
        (n, G) shares (rows sum to 1): unit ``i``'s score loads on cluster ``g`` with share
        ``m_ig`` (multiple-membership clustering). Only with ``clusters=None`` and cr0 / cr1.
    bread : array_like, optional
        (p, p) ``M``; default ``(X' W X)^{-1}``. Give it to reuse a factorisation, or for an
        M-estimator whose scores are ``X_i resid_i`` (cr0 / cr1). cr3 uses it in the hat
        matrix too, so it must then be ``(X' W X)^{-1}``; cr2 factorises ``W^{1/2} X`` itself
        (for accuracy) and uses ``bread`` only when ``X`` is numerically rank deficient.

    Returns
    -------
    ClusterVcov

    Notes
    -----
    ``V = c M (sum_j u_j u_j') M`` with

    * cr0: ``u_j = X_j' W_j e_j``, ``c = 1``;
    * cr1: cr0 scores, ``c = G/(G-1) (n-1)/(n-p)`` (Stata, statsmodels ``cov_type="cluster"``,
      clubSandwich "CR1S");
    * cr2: ``u_j = X_j' W_j A_j e_j`` with ``A_j = G_j^{-1/2}``, ``G_j`` the ``(j, j)`` block of
      ``(I - H)(I - H)'``, ``H = X M X' W`` (Bell & McCaffrey 2002; clubSandwich "CR2" for
      ``lm``, whose working model is ``Var(y) = sigma^2 I`` with or without weights; generalised
      inverse square root, eigenvalues <= 1e-12 set to 0), batched through per-cluster
      Householder QR factors (no rank cut; exact to rounding and invariant to the scale of the
      weights, see :mod:`sosstats._kernels.cluster_cr2`). df: Satterthwaite
      (Pustejovsky & Tipton 2018), see :func:`satterthwaite_df`;
    * cr3: ``u_j = X_j' W_j (I - H_jj)^{-1} e_j``, ``c = 1``: clubSandwich "CR3", which equals
      ``sum_j (b_(-j) - b)(b_(-j) - b)'``, the leave-one-cluster-out jackknife *without* the
      ``(G-1)/G`` factor of MacKinnon, Nielsen & Webb's (2023) CV3.

    Two-way (Cameron, Gelbach & Miller 2011): ``V = V_1 + V_2 - V_12``, each term with its own
    ``G``-based cr1 factor (as statsmodels); it may fail to be positive semi-definite.

    References
    ----------
    Bell, R. M. and McCaffrey, D. F. (2002). Survey Methodology 28(2), 169-181.
    Pustejovsky, J. E. and Tipton, E. (2018). JBES 36(4), 672-683.
    Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2011). JBES 29(2), 238-249.
    MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2023). J. Econometrics 232(2), 272-299.
    """
    kind = check_option(kind, KINDS, "kind")
    xa, ra, wa, keep = prepare(X, resid, weights)
    if ra is None:
        raise DataError("`resid` is required.")
    n, p = xa.shape
    m = bread_matrix(xa, wa, bread)
    if kind == "cr1" and n <= p:
        raise DesignError(f"cr1 needs more observations than coefficients; got n={n}, p={p}.")
    wx = xa if wa is None else xa * wa[:, None]
    scores = wx * ra[:, None]                                       # (n, p) x_i w_i e_i

    if membership is not None:
        if clusters is not None:
            raise DesignError("Give either `clusters` or `membership`, not both.")
        if kind not in ("cr0", "cr1"):
            raise DesignError(f"kind={kind!r} is not defined for multiple-membership "
                              "clustering; use 'cr0' or 'cr1' (or the wild bootstrap).")
        mat = membership_shares(membership, len(keep), keep)
        g = mat.shape[1]
        u = np.asarray(mat.T @ scores)                              # (G, p)
        vc = _sandwich(m, u) * _factor(kind, g, n, p)
        return _result(vc, g - 1, p, g, kind, (g,), n)
    if clusters is None:
        raise DesignError("`clusters` is required unless `membership` is given.")

    carr = np.asarray(clusters)
    if carr.ndim == 2:
        if carr.shape[1] != 2:
            raise DesignError(f"Two-way `clusters` must have 2 columns; got {carr.shape[1]}.")
        if kind not in ("cr0", "cr1"):
            raise DesignError(f"kind={kind!r} is not available for two-way clustering; use "
                              "'cr0' or 'cr1' (or cluster on one dimension with 'cr2').")
        c1, g1 = cluster_codes(carr[:, 0], len(keep), keep, "clusters[:, 0]")
        c2, g2 = cluster_codes(carr[:, 1], len(keep), keep, "clusters[:, 1]")
        c12 = c1 * g2 + c2
        _, c12 = np.unique(c12, return_inverse=True)
        g12 = int(c12.max()) + 1
        vc = np.zeros((p, p))
        for codes, g, sign in ((c1, g1, 1.0), (c2, g2, 1.0), (c12, g12, -1.0)):
            u = group_sum(codes, g, scores)
            vc += sign * _sandwich(m, u) * _factor(kind, g, n, p)
        gmin = min(g1, g2)
        return _result(vc, gmin - 1, p, gmin, kind, (g1, g2, g12), n)

    codes, g = cluster_codes(carr, len(keep), keep)
    if kind in ("cr0", "cr1"):
        u = group_sum(codes, g, scores)
        return _result(_sandwich(m, u) * _factor(kind, g, n, p), g - 1, p, g, kind, (g,), n)
    if kind == "cr3":
        u, bad = _cr3_scores(xa, wa, ra, codes, g, m)
        if bad.any():
            raise DesignError(f"cr3 is undefined: leaving out cluster(s) with code "
                              f"{', '.join(map(str, np.flatnonzero(bad)[:10]))} makes X'WX "
                              "singular (a regressor varies only within them).")
        return _result(_sandwich(m, u), g - 1, p, g, kind, (g,), n)
    pieces = cr2_pieces(xa, codes, g, m, wa, ra)
    u = cr2_scores(pieces)
    df = satterthwaite_from_pieces(pieces, np.eye(p))
    vc = _sandwich(pieces.m_bread, u)
    return ClusterVcov(vc, df, g, kind, (g,), n)


def satterthwaite_df(X: Any, clusters: Any, contrast: Any, *, weights: Any = None,
                     bread: Any = None) -> float | np.ndarray:
    r"""Satterthwaite degrees of freedom of the CR2 variance of a contrast ``c' b``.

    Parameters
    ----------
    X : array_like
        (n, p) design matrix.
    clusters : array_like
        (n,) cluster labels.
    contrast : array_like
        (p,) one contrast, or (q, p) one contrast per row.
    weights, bread : array_like, optional
        As in :func:`cluster_vcov`.

    Returns
    -------
    float or numpy.ndarray
        The df (a float for one contrast, (q,) otherwise).

    Notes
    -----
    Under the working model ``e = (I - H) eps``, ``eps ~ N(0, sigma^2 I)``, the CR2 estimate
    ``c' V c = eps' P P' eps`` where ``P`` has columns ``p_j = (I - H)_{j.}' A_j W_j X_j M c``.
    Matching its first two moments, ``sigma^2 tr(Omega)`` and ``2 sigma^4 tr(Omega^2)`` with
    ``Omega = P' P`` (G x G), to a scaled chi-square gives
    ``df = tr(Omega)^2 / tr(Omega^2)`` (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018), as
    clubSandwich's ``coef_test(..., test = "Satterthwaite")`` and, for one contrast, the
    denominator df of its ``Wald_test(..., test = "HTZ")``. Residuals are not needed.
    """
    xa, _, wa, keep = prepare(X, None, weights)
    p = xa.shape[1]
    c = as_float(contrast, "contrast", (1, 2))
    single = c.ndim == 1
    c = np.atleast_2d(c)
    if c.shape[1] != p:
        raise DesignError(f"`contrast` must have {p} columns (one per coefficient); "
                          f"got shape {c.shape}.")
    codes, g = cluster_codes(clusters, len(keep), keep)
    m = bread_matrix(xa, wa, bread)
    df = satterthwaite_from_pieces(cr2_pieces(xa, codes, g, m, wa), c.T)
    return float(df[0]) if single else df


def cluster_leverage(X: Any, resid: Any, clusters: Any, *, weights: Any = None
                     ) -> ClusterLeverage:
    """Leave-one-cluster-out influence of each cluster on an OLS / WLS fit.

    Parameters
    ----------
    X, resid, clusters, weights
        As in :func:`cluster_vcov` (one-way clusters).

    Returns
    -------
    ClusterLeverage
        dfbeta (G, p), meat_share (G, p), hat_trace (G,), size (G,), clusters in the order of
        their sorted labels.

    Notes
    -----
    By the push-through identity, ``b_(-j) - b = -(X'WX - X_j'W_jX_j)^{-1} X_j'W_j e_j
    = -M (I - X_j'W_jX_j M)^{-1} X_j'W_j e_j``; ``sum_j dfbeta_j dfbeta_j'`` is the cr3
    covariance. A large ``|dfbeta|`` relative to the standard error marks the cluster (pilot)
    that drives the estimate (Cameron & Miller 2015, section VI; MacKinnon, Nielsen & Webb
    2023).
    """
    xa, ra, wa, keep = prepare(X, resid, weights)
    if ra is None:
        raise DataError("`resid` is required.")
    codes, g = cluster_codes(clusters, len(keep), keep)
    m = bread_matrix(xa, wa, None)
    u, bad = _cr3_scores(xa, wa, ra, codes, g, m)
    dfbeta = -(u @ m)
    dfbeta[bad] = np.nan
    wx = xa if wa is None else xa * wa[:, None]
    ms = group_sum(codes, g, wx * ra[:, None]) @ m                  # (G, p) M s_j
    tot = (ms ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tot > 0, ms ** 2 / tot, np.nan)
    hat = np.einsum("gab,ba->g", group_gram(codes, g, xa, wx), m)
    size = np.bincount(codes, minlength=g)
    return ClusterLeverage(dfbeta, share, hat, size)


#: The few-cluster advice of functions that choose inference with ``inference=`` (the panel).
INFERENCE_ADVICE = ("use inference='cr2' (Bell-McCaffrey with Satterthwaite df) or 'wild' "
                    "(wild cluster restricted bootstrap).")


def few_cluster_warning(G: int, kind: str, *, stacklevel: int = 2,
                        advice: str = INFERENCE_ADVICE) -> bool:
    """Warn (:class:`SosstatsWarning`) when ``G < 42`` clusters and ``kind`` is cr0 / cr1.

    ``advice`` ends the message with what the caller's function offers instead (its own
    argument names). Returns True when it warned. With few clusters CR0 / CR1 standard
    errors are biased down and t(G-1) tests over-reject (Cameron & Miller 2015; MacKinnon,
    Nielsen & Webb 2023); CR2 with Satterthwaite df or the wild cluster restricted bootstrap
    hold their size far better.
    """
    if kind in ("cr0", "cr1") and G < FEW_CLUSTERS:
        warnings.warn(f"Only {G} clusters: {kind.upper()} standard errors are biased down and "
                      f"its tests over-reject with fewer than about {FEW_CLUSTERS} clusters; "
                      f"{advice}", SosstatsWarning,
                      stacklevel=stacklevel + 1)
        return True
    return False


# ----------------------------------------------------------------------------- helpers

def _factor(kind: str, g: int, n: int, p: int) -> float:
    return g / (g - 1) * (n - 1) / (n - p) if kind == "cr1" else 1.0


def _sandwich(m: np.ndarray, u: np.ndarray) -> np.ndarray:
    mu = u @ m                                                      # rows (M u_j)'
    vc = mu.T @ mu
    return 0.5 * (vc + vc.T)


def _result(vc: np.ndarray, df: int, p: int, g: int, kind: str, counts: tuple[int, ...],
            n: int) -> ClusterVcov:
    return ClusterVcov(vc, np.full(p, float(df)), g, kind, counts, n)


def _cr3_scores(xa: np.ndarray, wa: np.ndarray | None, ra: np.ndarray, codes: np.ndarray,
                g: int, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u_j = (I - S_j M)^{-1} s_j`` (push-through form of ``X_j'W_j (I - H_jj)^{-1} e_j``).

    Returns the (G, p) scores and a (G,) mask of clusters whose removal leaves X'WX singular
    (their scores are NaN).
    """
    wx = xa if wa is None else xa * wa[:, None]
    s_mat = group_gram(codes, g, wx, xa)                            # X_j' W_j X_j
    s_vec = group_sum(codes, g, wx * ra[:, None])                   # X_j' W_j e_j
    a = np.eye(xa.shape[1]) - s_mat @ m
    bad = np.linalg.cond(a) > 1e12
    a[bad] = np.eye(xa.shape[1])
    u = np.linalg.solve(a, s_vec[:, :, None])[:, :, 0]
    u[bad] = np.nan
    return u, bad
