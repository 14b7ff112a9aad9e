"""Joint cluster-robust Wald tests (sosstats._kernels.cluster_wald): clubSandwich, a dense
reference, the one-restriction identities, properties and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats._kernels.cluster import cluster_vcov, satterthwaite_df
from sosstats._kernels.cluster_wald import cluster_wald_test
from sosstats.errors import DataError, DesignError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TERMS = ["cohort2", "exp2", "exp2plus", "sdq_t1"]
HYPOTHESES = {"experience": ([2, 3], [0.0, 0.0]), "three": ([1, 2, 3], [0.0, 0.0, 0.0]),
              "sdq": ([4], [0.0]), "shifted": ([2, 3], [0.5, -0.25])}
KINDS = {"CR1S": "cr1", "CR2": "cr2", "CR3": "cr3"}
TESTS = {"chi-sq": "chi2", "Naive-F": "f", "HTZ": "htz"}


def wls(X, y, w=None):
    w = np.ones(len(y)) if w is None else w
    b = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * y))
    return b, y - X @ b


def sim(n=120, p=4, g=9, seed=0, weighted=False, spread=3.0):
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, g, n)
    cl[:g] = np.arange(g)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    X[:, 1] += 0.8 * rng.normal(size=g)[cl]
    X[:, 2] = (np.arange(g) % 2)[cl]                  # a cluster-level dummy
    y = X @ np.linspace(1, 0, p) + rng.normal(size=g)[cl] + rng.normal(size=n)
    w = np.exp(rng.uniform(-spread, spread, n)) if weighted else None
    return X, y, cl, w


def inv_sqrt_psd(a, tol=1e-12):
    lam, v = np.linalg.eigh(a)
    f = np.where(lam > tol, 1 / np.sqrt(np.where(lam > tol, lam, 1)), 0)
    return (v * f) @ v.T


def dense_htz_nu(X, cl, R, w=None):
    """nu of the HTZ test with n x n matrices, transcribing clubSandwich's total_variance_mat."""
    n, _ = X.shape
    w = np.ones(n) if w is None else w
    W = np.diag(w)
    M = np.linalg.inv(X.T @ W @ X)
    IH = np.eye(n) - X @ M @ X.T @ W
    F = IH @ IH.T
    labels = np.unique(cl)
    q = R.shape[0]
    P = np.zeros((q, n, len(labels)))                 # P[s][:, j] = (I - H)_j' g_sj
    for j, g in enumerate(labels):
        idx = np.flatnonzero(cl == g)
        A = inv_sqrt_psd(F[np.ix_(idx, idx)])
        for s in range(q):
            P[s][:, j] = IH[idx].T @ (A @ W[np.ix_(idx, idx)] @ X[idx] @ M @ R[s])
    arr = np.einsum("snj,tnh->stjh", P, P)            # P[s,t,j,h] = h_sj' h_th
    omega = np.einsum("stjj->st", arr)
    root = inv_sqrt_psd(omega)
    B = np.einsum("sa,abjh,bt->stjh", root, arr, root)
    var = np.zeros((q, q))
    for s in range(q):
        for t in range(q):
            var[s, t] = np.sum(B[s, t] * B[t, s]) + np.sum(B[s, s] * B[t, t])
    return q * (q + 1) / var.sum()


@pytest.fixture(scope="module")
def ref():
    d = pd.read_csv(FIX / "cluster_reference_input.csv")
    r = pd.read_csv(FIX / "wald_reference_r.csv")
    X = np.column_stack([np.ones(len(d)), d[TERMS].to_numpy(float)])
    return d, r, X, d["y"].to_numpy(float), d["la_code"].to_numpy()


def test_matches_clubsandwich_wald_test(ref):
    d, r, X, y, cl = ref
    assert len(r) == 2 * 4 * (3 + 2 + 2)             # every (model, type, hypothesis, test)
    for row in r.itertuples():
        w = None if row.model == "ols" else d["w"].to_numpy(float)
        b, e = wls(X, y, w)
        kind = KINDS[row.type]
        V = cluster_vcov(X, e, cl, kind=kind, weights=w).vcov
        idx, rv = HYPOTHESES[row.hypothesis]
        res = cluster_wald_test(X, e, cl, b, np.eye(5)[idx], rv, vcov=V, kind=kind,
                                test=TESTS[row.test], weights=w)
        assert res.statistic == pytest.approx(row.Fstat, rel=1e-10), row
        assert res.df_num == row.df_num
        if np.isfinite(row.df_denom):
            assert res.df_denom == pytest.approx(row.df_denom, rel=1e-10), row
        else:
            assert res.df_denom == np.inf
        assert res.p_value == pytest.approx(row.p_val, rel=1e-9), row


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rows", [[1], [1, 2], [1, 2, 3]])
def test_htz_df_matches_dense_reference(weighted, rows):
    X, y, cl, w = sim(seed=3, weighted=weighted)
    b, e = wls(X, y, w)
    R = np.eye(X.shape[1])[rows]
    V = cluster_vcov(X, e, cl, kind="cr2", weights=w).vcov
    res = cluster_wald_test(X, e, cl, b, R, vcov=V, kind="cr2", test="htz", weights=w)
    nu = dense_htz_nu(X, cl, R, w)
    q = len(rows)
    assert res.df_denom == pytest.approx(nu - q + 1, rel=1e-9)


def test_htz_df_with_weights_spread_over_1e5_matches_dense_reference():
    X, y, cl, w = sim(n=90, seed=5, weighted=True, spread=np.log(1e5) / 2)
    assert w.max() / w.min() > 1e4
    b, e = wls(X, y, w)
    R = np.eye(X.shape[1])[[1, 3]]
    V = cluster_vcov(X, e, cl, kind="cr2", weights=w).vcov
    res = cluster_wald_test(X, e, cl, b, R, vcov=V, kind="cr2", test="htz", weights=w)
    assert res.df_denom == pytest.approx(dense_htz_nu(X, cl, R, w) - 1, rel=1e-7)


@pytest.mark.parametrize("weighted", [False, True])
def test_one_restriction_is_the_squared_cr2_t_test(weighted):
    X, y, cl, w = sim(seed=8, weighted=weighted)
    b, e = wls(X, y, w)
    cv = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    c = np.array([0.0, 1.0, -1.0, 0.5])
    res = cluster_wald_test(X, e, cl, b, c, vcov=cv.vcov, kind="cr2", test="htz", weights=w)
    t = c @ b / np.sqrt(c @ cv.vcov @ c)
    df = satterthwaite_df(X, cl, c, weights=w)
    assert res.statistic == pytest.approx(t ** 2, rel=1e-12)
    assert res.df_denom == pytest.approx(df, rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3), weighted=st.booleans())
def test_invariant_to_row_order_and_outcome_scale(seed, scale, weighted):
    X, y, cl, w = sim(n=60, seed=seed, g=7, weighted=weighted)
    R = np.eye(X.shape[1])[[1, 2]]

    def run(Xa, ya, cla, wa):
        b, e = wls(Xa, ya, wa)
        V = cluster_vcov(Xa, e, cla, kind="cr2", weights=wa).vcov
        return cluster_wald_test(Xa, e, cla, b, R, vcov=V, kind="cr2", test="htz", weights=wa)

    base = run(X, y, cl, w)
    perm = np.random.default_rng(seed).permutation(len(y))
    shuffled = run(X[perm], y[perm], cl[perm], None if w is None else w[perm])
    scaled = run(X, scale * y, cl, w)
    for other in (shuffled, scaled):
        assert other.statistic == pytest.approx(base.statistic, rel=1e-7)
        assert other.df_denom == pytest.approx(base.df_denom, rel=1e-7)


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_invariant_to_rescaling_the_weights(scale):
    X, y, cl, w = sim(seed=11, weighted=True)
    R = np.eye(X.shape[1])[[1, 2]]
    out = []
    for wa in (w, w * scale):
        b, e = wls(X, y, wa)
        V = cluster_vcov(X, e, cl, kind="cr2", weights=wa).vcov
        out.append(cluster_wald_test(X, e, cl, b, R, vcov=V, kind="cr2", test="htz",
                                     weights=wa))
    assert out[1].statistic == pytest.approx(out[0].statistic, rel=1e-9)
    assert out[1].df_denom == pytest.approx(out[0].df_denom, rel=1e-9)


def _fit():
    X, y, cl, w = sim(seed=1)
    b, e = wls(X, y, w)
    return X, e, cl, b, cluster_vcov(X, e, cl, kind="cr2").vcov


def test_bad_restrictions_are_named():
    X, e, cl, b, V = _fit()
    with pytest.raises(DesignError, match=r"`R` must have shape \(q, 4\)"):
        cluster_wald_test(X, e, cl, b, np.eye(3), vcov=V, kind="cr2", test="htz")
    with pytest.raises(DesignError, match="rank 1"):
        cluster_wald_test(X, e, cl, b, [[0, 1, 0, 0], [0, 2, 0, 0]], vcov=V, kind="cr2",
                          test="htz")
    with pytest.raises(DesignError, match="one value per row of `R`"):
        cluster_wald_test(X, e, cl, b, np.eye(4)[[1, 2]], [0.0], vcov=V, kind="cr2",
                          test="htz")
    with pytest.raises(DataError, match="`R` must be a numeric"):
        cluster_wald_test(X, e, cl, b, [["a", 1, 0, 0]], vcov=V, kind="cr2", test="htz")
    with pytest.raises(DataError, match="`test` must be one of"):
        cluster_wald_test(X, e, cl, b, np.eye(4)[[1]], vcov=V, kind="cr2", test="wild?")
    with pytest.raises(DesignError, match="HTZ test is defined for the CR2"):
        cluster_wald_test(X, e, cl, b, np.eye(4)[[1]], vcov=V, kind="cr1", test="htz")


def test_more_restrictions_than_clusters_allow():
    rng = np.random.default_rng(0)
    n, g = 40, 3
    cl = np.arange(n) % g
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.normal(size=n)
    b, e = wls(X, y)
    V = cluster_vcov(X, e, cl, kind="cr1").vcov
    with pytest.raises(DesignError, match="3 restrictions but only 3 clusters"):
        cluster_wald_test(X, e, cl, b, np.eye(4)[1:], vcov=V, kind="cr1", test="f")
