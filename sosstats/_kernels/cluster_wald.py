r"""Cluster-robust Wald tests of linear restrictions ``R b = r``, with few-cluster corrections.

Plain numpy arrays in and out. For ``q`` restrictions (rows of ``R``, shape ``(q, p)``) and a
cluster-robust covariance ``V`` of the estimates ``b``, the Wald statistic is

.. math:: Q = (R b - r)' (R V R')^{-1} (R b - r).

Three reference distributions (the names of clubSandwich's ``Wald_test``):

* ``"chi2"``: :math:`Q \sim \chi^2_q`, reported as ``F = Q / q`` with denominator df ``inf``;
* ``"f"`` (clubSandwich "Naive-F"): :math:`Q / q \sim F(q, G - 1)`;
* ``"htz"`` (CR2 only): Hotelling's :math:`T^2` approximation with the degrees of freedom
  estimated by matching the total variance of the CR2 estimator under the working model
  (Tipton & Pustejovsky 2015; Pustejovsky & Tipton 2018, section 3.2):
  :math:`F = \frac{\nu - q + 1}{\nu q} Q \sim F(q, \nu - q + 1)` with

  .. math:: \nu = \frac{q (q + 1)}{\sum_{s, t} \operatorname{Var}(d_{st})},

  where :math:`D = \Omega^{-1/2} R V R' \Omega^{-1/2}` and :math:`\Omega = E(R V R')` under the
  working model ``Var(y) = sigma^2 I``. With one restriction :math:`\nu` is the Satterthwaite df
  of the CR2 t test and :math:`F = t^2`.

The variances come from the batched CR2 pieces of :mod:`sosstats._kernels.cluster_cr2`: with
``g_sj = A_j W_j X_j M R_s'`` the estimate is :math:`R_s V R_t' = \sum_j (g_sj' e_j)(g_tj' e_j)`
and, writing ``(I - H)(I - H)' = I + L K L'``, the covariance of the cluster terms is the
``G x G`` matrix :math:`P^{st} = \operatorname{diag}_j(g_{sj}' g_{tj}) + Z_s K Z_t'` with rows
``z_sj = L_j' g_sj``. Under normality (Isserlis),
:math:`\operatorname{Var}(d_{st}) = \operatorname{tr}(B^{st} B^{st}) +
\operatorname{tr}(B^{ss} B^{tt})` for :math:`B` the :math:`\Omega^{-1/2}`-transformed
:math:`P`; every trace is taken from ``m x m`` cluster sums, never a ``G x G`` matrix, so the
cost is ``O(G m^2 q^2 + n m^2)``.

References
----------
Tipton, E. and Pustejovsky, J. E. (2015). Small-sample adjustments for tests of moderators and
model fit using robust variance estimation in meta-regression. *J. Educational and Behavioral
Statistics* 40(6), 604-634.
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *JBES* 36(4), 672-683.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from sosstats._kernels.cluster_cr2 import Cr2Pieces, cr2_pieces
from sosstats._kernels.cluster_inputs import as_float, bread_matrix, cluster_codes, prepare
from sosstats.errors import DataError, DesignError

__all__ = ["WaldTest", "WALD_TESTS", "restriction_matrix", "wald_statistic", "htz_df",
           "cluster_wald_test"]

#: Reference distributions of :func:`cluster_wald_test`.
WALD_TESTS = ("htz", "f", "chi2")


class WaldTest(NamedTuple):
    """One Wald test: ``statistic`` is the F form (``Q / q``, or HTZ's scaled ``Q``)."""

    statistic: float
    df_num: int
    df_denom: float
    p_value: float
    wald: float          # Q, the unscaled Wald statistic
    test: str


def restriction_matrix(R: Any, r: Any, p: int, n_clusters: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Check ``R`` (q, p) of full row rank and ``r`` (q,) (default zeros): the one validator.

    Used by every joint test kernel (HTZ / F / chi-square here, the wild joint bootstrap, the
    glm and score-form HTZ). With ``n_clusters`` also refuses ``q > G - 1`` (a cluster-robust
    covariance has rank at most ``G - 1``).
    """
    try:
        Ra = np.asarray(R, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`R` must be a numeric matrix (one row per restriction): {exc}"
                        ) from exc
    Ra = Ra[None, :] if Ra.ndim == 1 else Ra
    if Ra.ndim != 2 or Ra.shape[1] != p or Ra.shape[0] < 1:
        raise DesignError(f"`R` must have shape (q, {p}) (one row per restriction, one column "
                          f"per coefficient); got shape {np.shape(R)}.")
    if not np.isfinite(Ra).all():
        raise DataError("`R` has NaN or infinite entries.")
    q = Ra.shape[0]
    rank = np.linalg.matrix_rank(Ra)
    if rank < q:
        raise DesignError(f"`R` ({q} x {p}) must have full row rank {q}; got rank {rank} (a "
                          "restriction repeats or combines others: drop the redundant ones).")
    if n_clusters is not None and q > n_clusters - 1:
        raise DesignError(f"{q} restrictions but only {n_clusters} clusters: a cluster-robust "
                          f"covariance has rank at most G - 1, so at most {n_clusters - 1} "
                          "restrictions can be tested jointly.")
    if r is None:
        return Ra, np.zeros(q)
    try:
        ra = np.asarray(r, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`r` must be numeric: {exc}") from exc
    if ra.shape != (q,):
        raise DesignError(f"`r` must have one value per row of `R` ({q}); got {ra.size}.")
    if not np.isfinite(ra).all():
        raise DataError("`r` has NaN or infinite values.")
    return Ra, ra


def wald_statistic(beta: np.ndarray, vcov: np.ndarray, R: np.ndarray, r: np.ndarray) -> float:
    """Return ``Q = (R b - r)' (R V R')^{-1} (R b - r)`` (DesignError if ``R V R'`` is singular)."""
    d = R @ beta - r
    rvr = R @ vcov @ R.T
    rvr = 0.5 * (rvr + rvr.T)
    eig = np.linalg.eigvalsh(rvr)
    if not eig[0] > 1e-12 * max(abs(eig[-1]), np.finfo(float).tiny):
        raise DesignError("the covariance of the restrictions R V R' is singular: with few "
                          "clusters a cluster-robust V has rank at most G - 1, so at most "
                          "G - 1 restrictions can be tested jointly (or a restriction involves "
                          "a coefficient the clustering cannot estimate).")
    return float(d @ np.linalg.solve(rvr, d))


def _inverse_sqrt(a: np.ndarray) -> np.ndarray:
    lam, vec = np.linalg.eigh(0.5 * (a + a.T))
    if not lam[0] > 1e-12 * max(lam[-1], np.finfo(float).tiny):
        raise DesignError("the working-model covariance of the restrictions is singular; the "
                          "HTZ degrees of freedom are undefined.")
    return (vec / np.sqrt(lam)) @ vec.T


def htz_df(pieces: Cr2Pieces, contrasts: np.ndarray) -> float:
    r"""Total-variance degrees of freedom :math:`\nu` of the CR2 estimate of ``R V R'``.

    ``contrasts`` is ``R'`` (p, q). See the module docstring for the algebra.
    """
    q = contrasts.shape[1]
    k = pieces.k_mat
    mc = pieces.m_bread @ contrasts                                 # (p, q)
    h = pieces.c_mh @ (pieces.t_wx @ mc)                            # (G, m, q): U_j' g_sj
    z = pieces.v_dh @ h                                             # (G, m, q): L_j' g_sj
    omega = (np.einsum("gms,gmt->st", h, h)
             + np.einsum("gas,ab,gbt->st", z, k, z))
    root = _inverse_sqrt(omega)
    h = h @ root                                                    # Omega^{-1/2} transform
    z = z @ root
    d = np.einsum("gms,gmt->gst", h, h)                             # (G, q, q) diag part
    e = np.einsum("gas,ab,gbt->gst", z, k, z)                       # (G, q, q) z_s' K z_t
    cross = np.einsum("gat,gbs->tsab", z, z)                        # (q, q, m, m) Z_t' Z_s
    kc = np.einsum("ab,tsbc->tsac", k, cross)                       # K Z_t' Z_s
    # sum_{s,t} tr(B^st B^st): diagonal, mixed and low-rank parts
    part1 = ((d ** 2).sum() + 2.0 * (d * e).sum()
             + np.einsum("tsab,tsba->", kc, kc))
    # tr(S^2), S = sum_s B^ss
    a = np.einsum("gss->g", d)
    b = np.einsum("gss->g", e)
    part2 = (a ** 2).sum() + 2.0 * (a * b).sum() + np.einsum("suab,usba->", kc, kc)
    return float(q * (q + 1) / (part1 + part2))


def _reference(q_stat: float, q: int, test: str, g: int, nu: float | None) -> WaldTest:
    if test == "chi2":
        return WaldTest(q_stat / q, q, np.inf, float(stats.chi2.sf(q_stat, q)), q_stat, test)
    if test == "f":
        return WaldTest(q_stat / q, q, float(g - 1), float(stats.f.sf(q_stat / q, q, g - 1)),
                        q_stat, test)
    df2 = nu - q + 1
    fstat = df2 / (nu * q) * q_stat
    p = float(stats.f.sf(fstat, q, df2)) if df2 > 0 else np.nan
    return WaldTest(fstat, q, df2, p, q_stat, test)


def cluster_wald_test(X: Any, resid: Any, clusters: Any, beta: Any, R: Any, r: Any = None, *,
                      vcov: Any, kind: str, test: str, weights: Any = None,
                      bread: Any = None) -> WaldTest:
    """Wald test of ``R b = r`` with the cluster-robust ``vcov`` of kind ``kind``.

    Parameters
    ----------
    X, resid, clusters, weights, bread
        The fit, as :func:`sosstats._kernels.cluster.cluster_vcov` takes them (one-way
        clusters; ``resid`` is only checked here).
    beta : array_like
        (p,) estimates.
    R, r : array_like
        Restrictions (q, p) and their values (q,), default zeros.
    vcov : array_like
        (p, p) the covariance the test uses (computed by the caller, of kind ``kind``).
    kind : {"cr0", "cr1", "cr2", "cr3"}
        The kind of ``vcov`` (``"htz"`` needs ``"cr2"``).
    test : {"htz", "f", "chi2"}
        Reference distribution (module docstring).
    """
    if test not in WALD_TESTS:
        raise DataError(f"`test` must be one of {', '.join(map(repr, WALD_TESTS))}; got "
                        f"{test!r}.")
    if test == "htz" and kind != "cr2":
        raise DesignError(f"the HTZ test is defined for the CR2 covariance; got {kind!r} (use "
                          "test='f' or 'chi2').")
    xa, _, wa, keep = prepare(X, resid, weights)
    p = xa.shape[1]
    Ra, ra = restriction_matrix(R, r, p)
    b = as_float(beta, "beta", (1,))
    va = as_float(vcov, "vcov", (2,))
    if b.shape != (p,) or va.shape != (p, p):
        raise DesignError(f"`beta` must be ({p},) and `vcov` ({p}, {p}); got {b.shape} and "
                          f"{va.shape}.")
    codes, g = cluster_codes(clusters, len(keep), keep)
    restriction_matrix(Ra, ra, p, g)                  # q <= G - 1
    q = Ra.shape[0]
    q_stat = wald_statistic(b, va, Ra, ra)
    nu = None
    if test == "htz":
        m = bread_matrix(xa, wa, bread)
        nu = htz_df(cr2_pieces(xa, codes, g, m, wa, None), Ra.T)
    return _reference(q_stat, q, test, g, nu)
