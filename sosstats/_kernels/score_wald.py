"""HTZ joint test for an M-estimator with the score-form CR2 covariance (ordered logit).

:func:`sosstats._kernels.cluster_glm.score_cluster_vcov` computes the generalised
Bell-McCaffrey covariance ``V = M (sum_j u_j u_j') M`` with ``u_j = T_j s_j`` from the clusters'
score sums ``s_j`` and information shares ``S_j`` (``M^{-1} = sum_j S_j``). Its working model:
the fitted cluster scores have covariance ``Sigma_jk = S_j delta_jk - S_j M S_k``. For
restrictions ``R`` (q x p), ``(R V R')_st = sum_j (g_js' s_j)(s_j' g_jt)`` with
``g_j = T_j' M R'`` (p x q), so under the working model (Gaussian scores)

    P_st[j, k] = g_js' Sigma_jk g_kt,       Omega = E[R V R'] = sum_j P[:, :, j, j],

and after the transform ``B = Omega^{-1/2} P Omega^{-1/2}`` (over s, t) the total variance of
``R V R'`` is ``sum_{s,t} sum_{j,k} (B_st[j,k] B_ts[j,k] + B_ss[j,k] B_tt[j,k])``; the
Hotelling T^2 approximation takes ``nu = q (q + 1) / total`` and refers
``F = (nu - q + 1) / (nu q) Q`` to ``F(q, nu - q + 1)``, ``Q`` the Wald statistic
(Pustejovsky & Tipton 2018, JBES 36(4), section 3.2; Tipton & Pustejovsky 2015, JEBS 40(6)).
For ``q = 1``, ``nu`` is the Satterthwaite df of :func:`score_cluster_vcov`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats._kernels.cluster_glm import score_cr2_adjustment
from sosstats._kernels.cluster_inputs import as_float
from sosstats._kernels.cluster_wald import (
    WaldTest,
    _inverse_sqrt,
    _reference,
    restriction_matrix,
    wald_statistic,
)
from sosstats.errors import DesignError

__all__ = ["score_wald_htz", "score_htz_nu"]


def _parts(information: Any, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    info = as_float(information, "information", (3,))
    info = 0.5 * (info + np.swapaxes(info, 1, 2))
    lam, vec = np.linalg.eigh(info.sum(axis=0))
    if not lam[0] > 1e-12 * lam[-1]:
        raise DesignError("the total information is singular: the parameters are not "
                          "identified.")
    m = (vec / lam) @ vec.T
    t_mat = score_cr2_adjustment(info, lam, vec)
    g = np.swapaxes(t_mat, 1, 2) @ (m @ R.T)                       # (G, p, q): g_j
    return info, m, g


def score_htz_nu(information: Any, R: Any) -> float:
    """Total-variance df ``nu`` of the score-form CR2 estimate of ``R V R'`` (module docstring)."""
    Ra = np.atleast_2d(as_float(R, "R", (1, 2)))
    info, m, g = _parts(information, Ra)
    sg = info @ g                                                   # (G, p, q): S_j g_j
    diag = np.einsum("jas,jat->stj", g, sg)                        # g_js' S_j g_jt
    cross = np.einsum("jas,ab,kbt->stjk", sg, m, sg)               # (S_j g_js)' M (S_k g_kt)
    p_arr = -cross
    idx = np.arange(g.shape[0])
    p_arr[:, :, idx, idx] += diag
    omega = np.einsum("stjj->st", p_arr)
    root = _inverse_sqrt(omega)
    b = np.einsum("sa,abjk,bt->stjk", root, p_arr, root)
    total = (np.einsum("stjk,tsjk->", b, b)
             + np.einsum("ssjk,ttjk->", b, b))
    q = Ra.shape[0]
    return float(q * (q + 1) / total)


def score_wald_htz(scores: Any, information: Any, beta: Any, vcov: Any, R: Any,
                   r: Any = None) -> WaldTest:
    """HTZ test of ``R b = r`` with the score-form CR2 ``vcov`` (module docstring).

    ``scores`` (G, p) are the cluster score sums (only their shape is used: ``G``), ``vcov``
    the CR2 covariance of :func:`~sosstats._kernels.cluster_glm.score_cluster_vcov`.
    """
    g, p = as_float(scores, "scores", (2,)).shape
    Ra, ra = restriction_matrix(R, r, p, g)
    q = Ra.shape[0]
    q_stat = wald_statistic(as_float(beta, "beta", (1,)), as_float(vcov, "vcov", (2,)), Ra, ra)
    return _reference(q_stat, q, "htz", g, score_htz_nu(information, Ra))
