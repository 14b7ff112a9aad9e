r"""Cluster-robust covariance of GLM / M-estimator coefficients for few clusters (CR0-CR3).

Plain numpy arrays in and out. Two forms:

* :func:`glm_cluster_vcov` (and :func:`glm_satterthwaite_df`, :func:`glm_wald_htz`): a
  generalised linear model fitted by IRLS, exactly as clubSandwich (0.5.8) defines
  ``vcovCR`` / ``coef_test`` / ``Wald_test`` for a ``glm`` object;
* :func:`score_cluster_vcov`: any M-estimator given its per-cluster score sums and information
  matrices (the ordered logit), the same bias reduction written in the ``p x p`` score form.

GLM notation (clubSandwich's ``R/glm.R``): design ``X`` (n, p), fitted means ``mu``, response
residuals ``e = y - mu``, ``d = dmu/deta``, variance function ``v = V(mu)``, prior weights
``w``. The "model matrix" is ``Xt = d X``, the weight matrix ``W = diag(w / v)`` (so
``Xt' W Xt`` is the Fisher information and ``Xt' W e`` the score), the working (target)
variance ``Theta = W^{-1} = diag(v / w)`` (inverse-variance weighting), the bread
``M = (Xt' W Xt)^{-1}`` (``sandwich::bread(fit) / n``). Cluster ``j`` holds the rows
``Xt_j, e_j, W_j, Theta_j``. Every estimator is ``V = c M (sum_j u_j u_j') M``:

* CR0: ``u_j = Xt_j' W_j e_j`` (the cluster's score), ``c = 1``;
* CR1: CR0 with ``c = G / (G - 1)`` (clubSandwich "CR1"; Stata's ``vce(cluster)`` for maximum
  likelihood models; ``sandwich::vcovCL(type = "HC0", cadjust = TRUE)``);
* CR1S: CR0 with ``c = G (n - 1) / ((G - 1)(n - p))`` (clubSandwich "CR1S";
  ``vcovCL(type = "HC1", cadjust = TRUE)``);
* CR2: ``u_j = Xt_j' W_j A_j e_j`` with the Bell-McCaffrey adjustment for the working model
  ``Var(e) = Theta``. Under it ``Var(e_j) ~ B_j = Theta_j - Xt_j M Xt_j'`` (the ``(j, j)`` block of
  ``(I - H) Theta (I - H)'``, ``H = Xt M Xt' W``), and clubSandwich's ``CR2`` takes
  ``A_j = R_j' (R_j B_j R_j')^{-1/2} R_j`` with ``R_j = Theta_j^{1/2}`` the (diagonal) Cholesky
  factor of the target (Pustejovsky & Tipton 2018, eq. 7), so that ``A_j B_j A_j' = Theta_j``.
  The inverse square root is the symmetric eigen one, eigenvalues at or below ``1e-12`` times
  the cluster's largest set to 0 (a generalised inverse; clubSandwich's ``matrix_power`` uses
  an absolute ``1e-12``, the same wherever the block is not near singular; the relative cut
  keeps the result invariant to rescaling the weights);
* CR3: ``u_j = Xt_j' W_j (I - H_jj)^{-1} e_j = (I - S_j M)^{-1} s_j`` (push-through), with
  ``S_j = Xt_j' W_j Xt_j`` and ``s_j`` the score, ``c = 1`` (clubSandwich "CR3").

Satterthwaite df of ``c' V c`` (CR2): with ``g_j = A_j W_j Xt_j M c`` the estimate is a
quadratic form in ``e`` whose working-model mean and variance give
``df = tr(Omega)^2 / tr(Omega^2)``, ``Omega_jk = g_j' (Theta_j delta_jk - Xt_j M Xt_k') g_k``
(``coef_test(..., test = "Satterthwaite")``); for ``q`` restrictions at once the HTZ test
(Hotelling T^2 with estimated df; ``Wald_test(..., test = "HTZ")``) uses the same blocks.

The blocks ``R_j B_j R_j' = diag(theta_j^2) - V_j M V_j'`` (``V_j = R_j Xt_j``) are
``n_j x n_j`` and, ``Theta_j`` not being a multiple of the identity, their inverse square root
does not reduce to the column space of ``V_j`` (the low-rank shortcut of
:mod:`sosstats._kernels.cluster_cr2`). Clusters up to :data:`DENSE_ROWS` rows are decomposed
exactly: padded to a common size and batched (``numpy.linalg.eigh`` on a stack), in chunks of
about ``2**22`` numbers (``O(sum_j n_j^3)``). A larger cluster gets ``C^{-1/2} b`` by the
trapezoid rule on ``C^{-1/2} = (2 / pi) int_0^inf (C + t^2 I)^{-1} dt`` in ``log t`` (about 250
nodes from the cluster's eigenvalue bounds; error ~1e-14), each resolvent applied exactly by the
Woodbury identity in ``O(n_j p^2)``: no ``n_j x n_j`` matrix (about 1.4 s for ten clusters of
3,000 rows against 25 s dense, equal to 2e-13). A large block that is (nearly) singular (a
regressor almost determined by the cluster, where the generalised inverse matters) falls back
to the dense decomposition up to :data:`MAX_CLUSTER_ROWS` rows and is refused beyond.

References
----------
Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. *Survey Methodology* 28(2), 169-181.
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *JBES* 36(4), 672-683.
Trefethen, L. N. and Weideman, J. A. C. (2014). The exponentially convergent trapezoidal
rule. *SIAM Review* 56(3), 385-458.
Kauermann, G. and Carroll, R. J. (2001). A note on the efficiency of sandwich covariance matrix
estimation. *JASA* 96(456), 1387-1396.
Mancl, L. A. and DeRouen, T. A. (2001). A covariance estimator for GEE with improved
small-sample properties. *Biometrics* 57(1), 126-134.
Pustejovsky, J. E. (2024). clubSandwich 0.5.8, ``R/glm.R``, ``R/clubSandwich.R``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from sosstats._kernels.cluster_cr2 import group_gram, group_sum
from sosstats._kernels.cluster_inputs import as_float, cluster_codes, prepare
from sosstats._kernels.cluster_wald import restriction_matrix
from sosstats._validate import check_option
from sosstats.errors import DataError, DesignError

__all__ = [
    "GLM_KINDS",
    "GlmClusterVcov",
    "GlmWaldTest",
    "DENSE_ROWS",
    "MAX_CLUSTER_ROWS",
    "glm_cluster_vcov",
    "glm_satterthwaite_df",
    "glm_wald_htz",
    "score_cluster_vcov",
]

GLM_KINDS = ("cr0", "cr1", "cr1s", "cr2", "cr3")
#: relative eigenvalue cut of the generalised inverse square roots
EIG_RTOL = 1e-12
#: clusters above this many rows take the quadrature path of the CR2 adjustment
DENSE_ROWS = 600
#: largest cluster (rows) a near-singular CR2 block can fall back to the dense eigh for
MAX_CLUSTER_ROWS = 5000
_BATCH_NUMBERS = 2 ** 22
#: trapezoid step and half-width (in log t) of the inverse-square-root quadrature: the
#: integrand is a sech in log t, so the error is ~exp(-pi^2 / step) + exp(-tail) ~ 1e-14
_QUAD_STEP = 0.3
_QUAD_TAIL = 32.0
#: a block whose smallest eigenvalue bound is below this share of its largest is near
#: singular: dense generalised inverse square root instead of the quadrature
_QUAD_RCOND = 1e-8


@dataclass(frozen=True)
class GlmClusterVcov:
    """Cluster-robust covariance of GLM (or M-estimator) coefficients.

    Attributes
    ----------
    vcov : numpy.ndarray
        (p, p) covariance matrix.
    df : numpy.ndarray
        (p,) t reference df: Satterthwaite for cr2, ``G - 1`` otherwise.
    n_clusters : int
        ``G`` (clusters with a positive total weight).
    kind : str
        One of :data:`GLM_KINDS`.
    n_obs : int
        Rows used (positive weight).
    """

    vcov: np.ndarray
    df: np.ndarray
    n_clusters: int
    kind: str
    n_obs: int

    @property
    def std_errors(self) -> np.ndarray:
        """Square roots of the diagonal."""
        return np.sqrt(np.clip(np.diag(self.vcov), 0.0, None))


@dataclass(frozen=True)
class GlmWaldTest:
    """HTZ Wald test of ``R b = r`` (clubSandwich ``Wald_test(test = "HTZ")`` columns)."""

    statistic: float      # Fstat = delta * Q / q
    delta: float
    df_num: int
    df_denom: float
    p_value: float
    q_stat: float         # Q = (Rb - r)' (R V R')^{-1} (Rb - r), the chi-square form


# ----------------------------------------------------------------------------- inputs

class _Glm:
    """Checked GLM inputs over the rows with a positive weight, and the shared pieces."""

    def __init__(self, X: Any, resid: Any, clusters: Any, variance: Any, mu_eta: Any,
                 weights: Any, need_resid: bool = True) -> None:
        xa, ra, wa, keep = prepare(X, resid if need_resid else None, weights)
        n_all = keep.size
        if need_resid and ra is None:
            raise DataError("`resid` is required.")
        codes_all, g_all = cluster_codes(clusters, n_all, np.ones(n_all, bool))
        if not keep.all():
            tot = np.bincount(codes_all, weights=keep.astype(float), minlength=g_all)
            empty = np.flatnonzero(tot == 0)
            if empty.size:
                raise DataError(f"`weights` are zero in every row of {empty.size} cluster(s) "
                                f"(cluster codes {', '.join(map(str, empty[:10]))} in sorted "
                                "label order): such a cluster has no data; drop it, or give "
                                "its rows positive weights.")
        codes, g = cluster_codes(clusters, n_all, keep)
        v = self._positive(variance, "variance", n_all, keep)
        d = v if mu_eta is None else self._finite(mu_eta, "mu_eta", n_all, keep)
        w = np.ones(xa.shape[0]) if wa is None else wa
        n, p = xa.shape
        if n <= p:
            raise DesignError(f"need more rows with a positive weight than coefficients; got "
                              f"n={n}, p={p}.")
        self.x = xa
        self.xt = xa * d[:, None]                        # clubSandwich's model matrix d X
        self.ww = w / v                                  # W
        self.theta = v / w                               # Theta = W^{-1}
        self.e = ra
        self.codes, self.g, self.n, self.p = codes, g, n, p
        info = (self.xt * self.ww[:, None]).T @ self.xt
        scale = np.sqrt(np.diag(info))
        if not (scale > 0).all():
            raise DesignError("a column of `X` carries no information (all zero, or zero "
                              "`mu_eta` where it is non-zero).")
        eig = np.linalg.eigvalsh(info / np.outer(scale, scale))
        if not eig[0] > 1e-12 * eig[-1]:
            raise DesignError(f"`X` is rank deficient in the weighted fit (p={p}): its columns "
                              "are collinear; drop one.")
        m = np.linalg.inv(info)
        self.m = 0.5 * (m + m.T)
        self._factors: tuple[list[tuple[np.ndarray, ...]], list[np.ndarray]] | None = None

    @staticmethod
    def _finite(a: Any, name: str, n: int, keep: np.ndarray) -> np.ndarray:
        arr = as_float(a, name, (1,))
        if arr.shape[0] != n:
            raise DesignError(f"`{name}` has {arr.shape[0]} values but `X` has {n} rows.")
        return arr[keep]

    @classmethod
    def _positive(cls, a: Any, name: str, n: int, keep: np.ndarray) -> np.ndarray:
        arr = cls._finite(a, name, n, keep)
        if not (arr > 0).all():
            raise DataError(f"`{name}` must be positive in every row with a positive weight; "
                            f"{int((arr <= 0).sum())} are not (a fitted probability of 0 or "
                            "1: separation).")
        return arr

    def scores(self) -> np.ndarray:
        """(G, p) cluster score sums ``Xt_j' W_j e_j``."""
        return group_sum(self.codes, self.g, self.xt * (self.ww * self.e)[:, None])

    def cr3_scores(self) -> np.ndarray:
        s_mat = group_gram(self.codes, self.g, self.xt * self.ww[:, None], self.xt)
        a = np.eye(self.p) - s_mat @ self.m
        bad = np.linalg.cond(a) > 1e12
        if bad.any():
            raise DesignError(f"cr3 is undefined: leaving out cluster(s) with code "
                              f"{', '.join(map(str, np.flatnonzero(bad)[:10]))} makes the "
                              "information singular (a regressor varies only within them).")
        return np.linalg.solve(a, self.scores()[:, :, None])[:, :, 0]

    def _cr2_factors(self) -> tuple[list[tuple[np.ndarray, ...]], list[np.ndarray]]:
        """Per-cluster pieces of ``A_j`` (cached): dense eigen decompositions, big clusters.

        Returns ``(dense, big)``. ``dense``: for clusters up to :data:`DENSE_ROWS` rows (and
        near-singular bigger ones up to :data:`MAX_CLUSTER_ROWS`), the eigen decompositions of
        ``R_j B_j R_j'``, sorted by size and cut into chunks of about ``2**22`` numbers, each
        chunk padded to its largest cluster with identity rows (zero ``R``) so that one
        ``numpy.linalg.eigh`` call decomposes it. ``big``: the rows of each larger cluster,
        whose ``(R_j B_j R_j')^{-1/2}`` is applied by quadrature (:meth:`_quadrature`).
        """
        if self._factors is not None:
            return self._factors
        sizes = np.bincount(self.codes, minlength=self.g)
        order = np.argsort(self.codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pos = np.empty(self.n, dtype=np.intp)            # each row's place in its cluster
        pos[order] = np.arange(self.n) - starts[self.codes[order]]
        rt = np.sqrt(self.theta)
        vx = self.xt * rt[:, None]                       # R Xt (R diagonal)
        big = []
        small = np.ones(self.g, bool)
        for j in np.flatnonzero(sizes > DENSE_ROWS):     # loop over the few large clusters
            rows = order[starts[j]:starts[j] + sizes[j]]
            if self._well_conditioned(rows):
                big.append(rows)
                small[j] = False
            elif sizes[j] > MAX_CLUSTER_ROWS:
                raise DesignError(f"cluster code {j} ({int(sizes[j])} rows) has a CR2 block "
                                  "that is (nearly) singular (a regressor almost determined "
                                  "by that cluster) and is too large for the dense "
                                  f"generalised inverse ({MAX_CLUSTER_ROWS} rows); use cr1 or "
                                  "cr3 (or the wild score bootstrap).")
        dense_ids = np.flatnonzero(small)
        by_size = dense_ids[np.argsort(sizes[dense_ids], kind="stable")]
        factors = []
        lo = 0
        while lo < by_size.size:                         # chunks of clusters, not rows
            hi = lo + 1
            while (hi < by_size.size
                   and (hi - lo + 1) * int(sizes[by_size[hi]]) ** 2 <= _BATCH_NUMBERS):
                hi += 1
            chunk = by_size[lo:hi]
            nmax = int(sizes[chunk[-1]])
            slot = np.full(self.g, -1)
            slot[chunk] = np.arange(chunk.size)
            rows = np.flatnonzero(slot[self.codes] >= 0)
            b_idx, p_idx = slot[self.codes[rows]], pos[rows]
            vxp = np.zeros((chunk.size, nmax, self.p))
            vxp[b_idx, p_idx] = vx[rows]
            th2 = np.ones((chunk.size, nmax))
            th2[b_idx, p_idx] = self.theta[rows] ** 2
            rp = np.zeros((chunk.size, nmax))
            rp[b_idx, p_idx] = rt[rows]
            mat = -(vxp @ self.m @ np.swapaxes(vxp, 1, 2))   # R B R' = diag(theta^2) - ...
            mat[:, np.arange(nmax), np.arange(nmax)] += th2
            lam, q = np.linalg.eigh(0.5 * (mat + np.swapaxes(mat, 1, 2)))
            cut = EIG_RTOL * np.maximum(lam[:, -1:], np.finfo(float).tiny)
            f = np.where(lam > cut, 1.0 / np.sqrt(np.where(lam > cut, lam, 1.0)), 0.0)
            factors.append((rows, b_idx, p_idx, q, f, rp))
            lo = hi
        self._factors = (factors, big)
        return self._factors

    def _block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``d = diag(theta^2)`` and ``V = R Xt`` of one cluster: its block is ``d - V M V'``."""
        return self.theta[rows] ** 2, self.xt[rows] * np.sqrt(self.theta[rows])[:, None]

    def _well_conditioned(self, rows: np.ndarray) -> bool:
        d, v = self._block(rows)
        return self._bounds(d, v)[0] > _QUAD_RCOND * d.max()

    def _bounds(self, d: np.ndarray, v: np.ndarray) -> tuple[float, float]:
        """Eigenvalue bounds of ``C = d - V M V'``: ``[min(d) (1 - rho), max(d)]``.

        ``C = d^{1/2} (I - Q) d^{1/2}`` with ``Q = d^{-1/2} V M V' d^{-1/2}``, whose non-zero
        eigenvalues are those of the ``p x p`` ``M^{1/2} V' d^{-1} V M^{1/2}``; ``rho`` is the
        largest, so ``lambda_min(C) >= min(d) (1 - rho)``; ``C <= diag(d)``.
        """
        lam, vec = np.linalg.eigh(self.m)
        mh = (vec * np.sqrt(np.clip(lam, 0.0, None))) @ vec.T
        rho = float(np.linalg.eigvalsh(mh @ ((v / d[:, None]).T @ v) @ mh)[-1])
        return float(d.min()) * max(1.0 - rho, 0.0), float(d.max())

    def _quadrature(self, rows: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        r"""``C^{-1/2} rhs`` for a large cluster's ``C = d - V M V'`` (SPD), by quadrature.

        :math:`C^{-1/2} = \frac{2}{\pi} \int_0^\infty (C + t^2 I)^{-1} dt`; with
        :math:`t = e^s` each eigenvalue's integrand is :math:`\frac{1}{\pi\sqrt\lambda}
        \operatorname{sech}(s - \tfrac12 \log\lambda)`, analytic in a strip of half-width
        :math:`\pi/2`, so the trapezoid rule in :math:`s` converges like
        :math:`e^{-\pi^2/h}` (Trefethen and Weideman 2014, SIAM Review 56(3)); the nodes span
        the eigenvalue bounds plus :data:`_QUAD_TAIL` either side. Each resolvent is applied
        exactly by the Woodbury identity, :math:`(E - V M V')^{-1} = E^{-1} + E^{-1} V
        (M^{-1} - V' E^{-1} V)^{-1} V' E^{-1}`, :math:`E = d + t^2`: ``O(n_j p^2)`` per node,
        no ``n_j x n_j`` matrix.
        """
        d, v = self._block(rows)
        lo, hi = self._bounds(d, v)
        s_nodes = np.arange(0.5 * np.log(lo) - _QUAD_TAIL, 0.5 * np.log(hi) + _QUAD_TAIL,
                            _QUAD_STEP)
        info = np.linalg.inv(self.m)
        out = np.zeros_like(rhs)
        for start in range(0, s_nodes.size, 32):         # nodes in blocks: memory cap
            t2 = np.exp(2.0 * s_nodes[start:start + 32])
            einv = 1.0 / (d[None, :] + t2[:, None])                       # (N, n_j)
            eb = einv[:, :, None] * rhs[None]                              # (N, n_j, k)
            ev = einv[:, :, None] * v[None]                                # (N, n_j, p)
            small = info[None] - np.matmul(v.T, ev)                        # (N, p, p)
            y = np.linalg.solve(small, np.matmul(v.T, eb))                # (N, p, k)
            wts = (2.0 / np.pi) * _QUAD_STEP * np.sqrt(t2)
            out += np.tensordot(wts, eb + ev @ y, axes=1)
        return out

    def cr2_blocks(self, rhs: np.ndarray) -> np.ndarray:
        """``A_j`` applied to the row blocks of ``rhs`` (n, k): ``A rhs`` in the rows' order."""
        out = np.empty((self.n, rhs.shape[1]))
        dense, big = self._cr2_factors()
        for rows, b_idx, p_idx, q, f, rp in dense:
            yp = np.zeros(rp.shape + (rhs.shape[1],))
            yp[b_idx, p_idx] = rhs[rows]
            yp = rp[:, :, None] * yp                     # R y
            yp = q @ (f[:, :, None] * (np.swapaxes(q, 1, 2) @ yp))
            out[rows] = (rp[:, :, None] * yp)[b_idx, p_idx]
        for rows in big:
            rt = np.sqrt(self.theta[rows])[:, None]
            out[rows] = rt * self._quadrature(rows, rt * rhs[rows])
        return out

    def cr2_scores(self) -> np.ndarray:
        ae = self.cr2_blocks(self.e[:, None])
        return group_sum(self.codes, self.g, self.xt * (self.ww * ae[:, 0])[:, None])

    def omega_blocks(self, contrasts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster and contrast: ``Theta``-products ``g_j' Theta_j g_j`` pieces and ``z_j``.

        Returns ``gtg`` (G, q, q) with ``g_js' Theta_j g_jt`` and ``z`` (G, p, q) with
        ``Xt_j' g_j``, where ``g_j = A_j W_j Xt_j M C`` (``C`` is (p, q)).
        """
        rhs = (self.xt * self.ww[:, None]) @ (self.m @ contrasts)      # W Xt M C, (n, q)
        gmat = self.cr2_blocks(rhs)
        gtg = group_gram(self.codes, self.g, gmat * self.theta[:, None], gmat)
        z = group_gram(self.codes, self.g, self.xt, gmat)
        return gtg, z


def _sandwich(m: np.ndarray, u: np.ndarray) -> np.ndarray:
    mu = u @ m
    vc = mu.T @ mu
    return 0.5 * (vc + vc.T)


def _satterthwaite(glm: _Glm, contrasts: np.ndarray) -> np.ndarray:
    """Satterthwaite df of ``c' V c`` for each column ``c`` of ``contrasts`` (p, q) -> (q,)."""
    gtg, z = glm.omega_blocks(contrasts)
    d = np.einsum("gqq->gq", gtg)                                     # (G, q)
    mz = np.einsum("ab,gbq->gaq", glm.m, z)                           # M z_j
    zmz = np.einsum("gaq,gaq->gq", z, mz)                             # z_j' M z_j
    zz = np.einsum("gaq,gbq->qab", z, z)                              # sum_j z_j z_j'
    mzz = glm.m[None] @ zz                                            # M Z Z'
    trace = d.sum(axis=0) - zmz.sum(axis=0)
    trace_sq = ((d ** 2).sum(axis=0) - 2.0 * (d * zmz).sum(axis=0)
                + np.einsum("qab,qba->q", mzz, mzz))
    with np.errstate(divide="ignore", invalid="ignore"):
        return trace ** 2 / trace_sq


# ----------------------------------------------------------------------------- public API

def glm_cluster_vcov(X: Any, resid: Any, clusters: Any, *, variance: Any, mu_eta: Any = None,
                     weights: Any = None, kind: str = "cr2") -> GlmClusterVcov:
    r"""Cluster-robust covariance of GLM coefficients (clubSandwich's ``vcovCR.glm``).

    Parameters
    ----------
    X : array_like
        (n, p) design of the linear predictor.
    resid : array_like
        (n,) response residuals ``y - mu`` at the fit.
    clusters : array_like
        (n,) cluster labels.
    variance : array_like
        (n,) the family's variance function at the fit, ``V(mu)`` (logit: ``mu (1 - mu)``).
    mu_eta : array_like, optional
        (n,) ``dmu/deta`` at the fit; default ``variance`` (the canonical link: logit,
        Poisson log).
    weights : array_like, optional
        (n,) prior weights (R's ``glm(weights = )``); rows with weight 0 are dropped; a cluster
        whose weights are all 0 raises :class:`~sosstats.errors.DataError`.
    kind : {"cr0", "cr1", "cr1s", "cr2", "cr3"}
        See the module docstring.

    Returns
    -------
    GlmClusterVcov
        With Satterthwaite df per coefficient for cr2, ``G - 1`` otherwise.

    Notes
    -----
    The IRLS working weights ``w d^2 / v`` are ``Xt' W Xt``'s; the CR2 adjustment matrices come
    from the weighted hat matrix ``H = Xt M Xt' W`` under the inverse-variance working model
    (module docstring). The coefficients must be the maximum likelihood fit (score ~ 0).
    """
    kind = check_option(kind, GLM_KINDS, "kind")
    glm = _Glm(X, resid, clusters, variance, mu_eta, weights)
    g, n, p = glm.g, glm.n, glm.p
    if kind == "cr2":
        vc = _sandwich(glm.m, glm.cr2_scores())
        df = _satterthwaite(glm, np.eye(p))
        return GlmClusterVcov(vc, df, g, kind, n)
    u = glm.cr3_scores() if kind == "cr3" else glm.scores()
    factor = {"cr0": 1.0, "cr3": 1.0, "cr1": g / (g - 1),
              "cr1s": g / (g - 1) * (n - 1) / (n - p)}[kind]
    return GlmClusterVcov(_sandwich(glm.m, u) * factor, np.full(p, float(g - 1)), g, kind, n)


def glm_satterthwaite_df(X: Any, clusters: Any, contrast: Any, *, variance: Any,
                         mu_eta: Any = None, weights: Any = None) -> float | np.ndarray:
    """Satterthwaite df of the CR2 variance of ``c' b`` for a GLM (``linear_contrast``).

    ``contrast`` is (p,) or (q, p) (one contrast per row); returns a float or (q,). The other
    arguments are as in :func:`glm_cluster_vcov` (residuals are not needed).
    """
    glm = _Glm(X, None, clusters, variance, mu_eta, weights, need_resid=False)
    c = as_float(contrast, "contrast", (1, 2))
    single = c.ndim == 1
    c = np.atleast_2d(c)
    if c.shape[1] != glm.p:
        raise DesignError(f"`contrast` must have {glm.p} columns (one per coefficient); got "
                          f"shape {c.shape}.")
    df = _satterthwaite(glm, c.T)
    return float(df[0]) if single else df


def glm_wald_htz(X: Any, resid: Any, clusters: Any, beta: Any, R: Any, r: Any = None, *,
                 variance: Any, mu_eta: Any = None, weights: Any = None) -> GlmWaldTest:
    r"""HTZ Wald test of ``R b = r`` with the GLM CR2 variance (clubSandwich ``Wald_test``).

    ``Q = (R b - r)' (R V R')^{-1} (R b - r)``; with ``q`` restrictions the Hotelling
    approximation refers ``F = delta Q / q``, ``delta = (nu - q + 1) / nu``, to
    ``F(q, nu - q + 1)``, where ``nu = q (q + 1) / sum_st Var_st`` and ``Var_st`` are the
    working-model variances of the entries of ``Omega^{-1/2} R V R' Omega^{-1/2}``, ``Omega``
    the working-model mean of ``R V R'`` (Pustejovsky & Tipton 2018, section 3.2; Tipton &
    Pustejovsky 2015). For ``q = 1`` this is the Satterthwaite t test squared.
    """
    glm = _Glm(X, resid, clusters, variance, mu_eta, weights)
    b = as_float(beta, "beta", (1,))
    if b.shape[0] != glm.p:
        raise DesignError(f"`beta` must have length {glm.p}; got {b.shape[0]}.")
    rm, rv = restriction_matrix(R, r, glm.p)
    q = rm.shape[0]
    vc = _sandwich(glm.m, glm.cr2_scores())
    diff = rm @ b - rv
    q_stat = float(diff @ np.linalg.solve(rm @ vc @ rm.T, diff))
    gtg, z = glm.omega_blocks(rm.T)                                   # (G,q,q), (G,p,q)
    # P[s, t] is the G x G matrix diag_j(g_js' Theta g_jt) - z_s' M z_t
    zmz = np.einsum("jas,ab,ktb->stjk", z, glm.m, np.swapaxes(z, 1, 2))
    parr = -zmz
    idx = np.arange(glm.g)
    parr[:, :, idx, idx] += np.moveaxis(gtg, 0, -1)
    omega = np.einsum("stjj->st", parr)
    lam, vec = np.linalg.eigh(0.5 * (omega + omega.T))
    f = np.where(lam > 1e-12, lam ** -0.5, 0.0)
    onh = (vec * f) @ vec.T
    bjk = np.einsum("sa,abjk,bt->stjk", onh, parr, onh)
    var = (np.einsum("stjk,tsjk->st", bjk, bjk)
           + np.einsum("ssjk,ttjk->st", bjk, bjk))
    nu = q * (q + 1) / var.sum()
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    fstat = delta * q_stat / q
    pval = float(stats.f.sf(fstat, q, df2)) if df2 > 0 else float("nan")
    return GlmWaldTest(float(fstat), float(delta), int(q), float(df2), pval, q_stat)


def score_cr2_adjustment(info: np.ndarray, lam: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """``T_j = M^{-1/2} (I - M^{1/2} S_j M^{1/2})^{-1/2} M^{1/2}`` (G, p, p) of the score-form CR2.

    ``info`` (G, p, p) are the clusters' information shares ``S_j``; ``lam, vec`` the
    eigen-decomposition of their sum ``M^{-1}``. Used by :func:`score_cluster_vcov` and
    :func:`sosstats._kernels.score_wald.score_wald_htz`.
    """
    p = info.shape[1]
    mh = (vec / np.sqrt(lam)) @ vec.T                                               # M^1/2
    mhi = (vec * np.sqrt(lam)) @ vec.T                                              # M^-1/2
    inner = np.eye(p) - mh @ info @ mh                                              # (G,p,p)
    mu, r = np.linalg.eigh(0.5 * (inner + np.swapaxes(inner, 1, 2)))
    cut = EIG_RTOL * np.maximum(mu[:, -1:], np.finfo(float).tiny)
    f = np.where(mu > cut, 1.0 / np.sqrt(np.where(mu > cut, mu, 1.0)), 0.0)
    return mhi @ ((r * f[:, None, :]) @ np.swapaxes(r, 1, 2)) @ mh


def score_cluster_vcov(scores: Any, information: Any, *, kind: str = "cr2"
                       ) -> GlmClusterVcov:
    r"""Few-cluster covariance of an M-estimator from cluster scores and information.

    Parameters
    ----------
    scores : array_like
        (G, p) score sums ``s_j`` of each cluster at the estimate (they sum to ~0).
    information : array_like
        (G, p, p) each cluster's share ``S_j`` of the (observed) information, minus the
        Hessian of its log-likelihood contribution; ``sum_j S_j = M^{-1}``.
    kind : {"cr0", "cr1", "cr2", "cr3"}
        CR1 uses ``G / (G - 1)``.

    Returns
    -------
    GlmClusterVcov
        ``n_obs`` is 0 (unknown here); df: Satterthwaite for cr2, ``G - 1`` otherwise.

    Notes
    -----
    The generalised Bell-McCaffrey (Kauermann & Carroll 2001; Mancl & DeRouen 2001 for CR3)
    adjustment in score form: ``u_j = T_j s_j`` with ``T_j = (I - S_j M)^{-1/2}`` (cr2),
    computed as ``M^{-1/2} (I - M^{1/2} S_j M^{1/2})^{-1/2} M^{1/2}``, and
    ``T_j = (I - S_j M)^{-1}`` (cr3). The working model: cluster scores at the truth are
    independent with ``Var(s_j) = S_j`` (the information equality), so the fitted scores
    ``s_j - S_j M sum_k s_k`` have covariance ``S_j delta_jk - S_j M S_k``. For a GLM with the
    canonical link this is the symmetric (whitened) square-root choice, ``A_j = W_j^{-1/2}
    (I - H_jj^z)^{-1/2} W_j^{1/2}`` with ``H^z = W^{1/2} Xt M Xt' W^{1/2}``, which is not
    clubSandwich's Cholesky choice (:func:`glm_cluster_vcov`); the two agree to first order in
    the leverages and coincide when the cluster's working weights are equal. Satterthwaite df of
    ``c' V c``: ``Omega_jk = h_j' (S_j delta_jk - S_j M S_k) h_k``, ``h_j = T_j' M c``,
    ``df = tr(Omega)^2 / tr(Omega^2)``.
    """
    kind = check_option(kind, ("cr0", "cr1", "cr2", "cr3"), "kind")
    s = as_float(scores, "scores", (2,))
    info = as_float(information, "information", (3,))
    g, p = s.shape
    if info.shape != (g, p, p):
        raise DesignError(f"`information` must be ({g}, {p}, {p}); got {info.shape}.")
    if g < 2:
        raise DesignError("cluster-robust variance needs at least two clusters.")
    info = 0.5 * (info + np.swapaxes(info, 1, 2))
    total = info.sum(axis=0)
    lam, vec = np.linalg.eigh(total)
    if not lam[0] > 1e-12 * lam[-1]:
        raise DesignError("the total information is singular: the parameters are not "
                          "identified.")
    m = (vec / lam) @ vec.T
    if kind in ("cr0", "cr1"):
        factor = g / (g - 1) if kind == "cr1" else 1.0
        return GlmClusterVcov(_sandwich(m, s) * factor, np.full(p, float(g - 1)), g, kind, 0)
    if kind == "cr3":
        a = np.eye(p) - info @ m
        if (np.linalg.cond(a) > 1e12).any():
            raise DesignError("cr3 is undefined: leaving out a cluster makes the information "
                              "singular.")
        u = np.linalg.solve(a, s[:, :, None])[:, :, 0]
        return GlmClusterVcov(_sandwich(m, u), np.full(p, float(g - 1)), g, kind, 0)
    t_mat = score_cr2_adjustment(info, lam, vec)                                    # T_j
    u = np.einsum("gab,gb->ga", t_mat, s)
    vc = _sandwich(m, u)
    h = np.swapaxes(t_mat, 1, 2) @ m                                                # (G,p,p)
    # columns of h[j] are h_j for the unit contrasts e_1..e_p
    d = np.einsum("gak,gab,gbk->gk", h, info, h)                                    # h'S h
    sh = info @ h                                                                   # S_j h_j
    ss = np.einsum("gak,ab,gbk->gk", sh, m, sh)                                     # diag
    zz = np.einsum("gak,gbk->kab", sh, sh)
    mzz = m[None] @ zz
    trace = d.sum(axis=0) - ss.sum(axis=0)
    trace_sq = ((d ** 2).sum(axis=0) - 2.0 * (d * ss).sum(axis=0)
                + np.einsum("kab,kba->k", mzz, mzz))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = trace ** 2 / trace_sq
    return GlmClusterVcov(vc, df, g, kind, 0)
