"""Score-form HTZ (ordered logit): q = 1 gives the Satterthwaite df, q > 1 a dense reference.

The reference computes the total variance of the CR2 estimate of R V R' under the working
model with (G p) x (G p) matrices.
"""

from __future__ import annotations

import numpy as np
import pytest

from sosstats._kernels.cluster_glm import score_cluster_vcov
from sosstats._kernels.score_wald import score_htz_nu, score_wald_htz
from sosstats.errors import DesignError


def _pieces(G=8, p=4, seed=0):
    rng = np.random.default_rng(seed)
    info = np.stack([(lambda a: a.T @ a)(rng.normal(size=(rng.integers(4, 30), p)))
                     for _ in range(G)])
    s = rng.normal(size=(G, p))
    return s - s.mean(axis=0), info


def _dense_nu(info, R):
    """E and Var of s'K_st s for Gaussian stacked scores s ~ N(0, Sigma), by matrices."""
    G, p, _ = info.shape
    lam, vec = np.linalg.eigh(info.sum(axis=0))
    m = (vec / lam) @ vec.T
    mh = (vec / np.sqrt(lam)) @ vec.T
    mhi = (vec * np.sqrt(lam)) @ vec.T
    sigma = np.zeros((G * p, G * p))
    T = []
    for j in range(G):
        a = np.eye(p) - mh @ info[j] @ mh
        mu, r = np.linalg.eigh(0.5 * (a + a.T))
        T.append(mhi @ (r / np.sqrt(mu)) @ r.T @ mh)
        for k in range(G):
            sigma[j * p:(j + 1) * p, k * p:(k + 1) * p] = ((info[j] if j == k else 0.0)
                                                           - info[j] @ m @ info[k])
    q = R.shape[0]
    K = np.zeros((q, q, G * p, G * p))
    for j in range(G):
        g = T[j].T @ m @ R.T                                   # p x q
        blk = slice(j * p, (j + 1) * p)
        for s in range(q):
            for t in range(q):
                K[s, t][blk, blk] = 0.5 * (np.outer(g[:, s], g[:, t])
                                           + np.outer(g[:, t], g[:, s]))
    omega = np.einsum("stab,ba->st", K, sigma)
    lam_o, vec_o = np.linalg.eigh(omega)
    root = (vec_o / np.sqrt(lam_o)) @ vec_o.T
    W = np.einsum("sa,abxy,bt->stxy", root, K, root)           # entries of the transform
    total = sum(2 * np.trace(W[s, t] @ sigma @ W[s, t] @ sigma)
                for s in range(q) for t in range(q))
    return q * (q + 1) / total


@pytest.mark.parametrize("seed", [0, 1])
def test_one_restriction_is_the_satterthwaite_df(seed):
    s, info = _pieces(seed=seed)
    cv = score_cluster_vcov(s, info, kind="cr2")
    for j in range(info.shape[1]):
        np.testing.assert_allclose(score_htz_nu(info, np.eye(info.shape[1])[[j]]), cv.df[j],
                                   rtol=1e-10)


@pytest.mark.parametrize("rows", [[0, 1], [1, 2, 3], [0, 3]])
def test_joint_nu_matches_dense_total_variance(rows):
    s, info = _pieces(G=9, seed=3)
    R = np.eye(info.shape[1])[rows]
    R[0, -1] = 0.5                                              # not only unit rows
    np.testing.assert_allclose(score_htz_nu(info, R), _dense_nu(info, R), rtol=1e-9)


def test_test_statistic_and_refusals():
    s, info = _pieces(G=4)
    cv = score_cluster_vcov(s, info, kind="cr2")
    beta = np.array([0.5, -0.2, 0.1, 0.0])
    R = np.eye(4)[:2]
    res = score_wald_htz(s, info, beta, cv.vcov, R)
    q_stat = beta[:2] @ np.linalg.solve(cv.vcov[:2, :2], beta[:2])
    nu = score_htz_nu(info, R)
    np.testing.assert_allclose(res.wald, q_stat, rtol=1e-12)
    np.testing.assert_allclose(res.statistic, (nu - 1) / (2 * nu) * q_stat, rtol=1e-12)
    assert res.df_denom == pytest.approx(nu - 1) and res.test == "htz"
    with pytest.raises(DesignError, match="at most 3"):
        score_wald_htz(s, info, beta, cv.vcov, np.eye(4))
