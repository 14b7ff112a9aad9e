"""Tests of the cluster-robust covariance kernel.

References: statsmodels, linearmodels, R's clubSandwich (frozen fixture), brute-force
n_j x n_j implementations, leave-one-cluster-out refits and invariances.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.cluster import (
    ClusterVcov,
    cluster_leverage,
    cluster_vcov,
    few_cluster_warning,
    satterthwaite_df,
)
from sosstats.errors import DataError, DesignError, SosstatsWarning

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TERMS = ["cohort2", "exp2", "exp2plus", "sdq_t1"]


# ----------------------------------------------------------------------------- helpers

def wls(X, y, w=None):
    w = np.ones(len(y)) if w is None else w
    b = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * y))
    return b, y - X @ b


def sim(n=150, p=3, g=9, seed=0, weighted=False):
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, g, n)
    cl[:g] = np.arange(g)                       # every cluster present
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    X[:, 1] += 0.8 * rng.normal(size=g)[cl]     # a cluster-correlated regressor
    y = X @ np.arange(1, p + 1) + rng.normal(size=g)[cl] + rng.normal(size=n)
    w = rng.uniform(0.3, 3.0, n) if weighted else None
    return X, y, cl, w


def inv_sqrt_psd(a, tol=1e-12):
    lam, v = np.linalg.eigh(a)
    f = np.where(lam > tol, 1 / np.sqrt(np.where(lam > tol, lam, 1)), 0)
    return (v * f) @ v.T


def brute_cr2(X, e, cl, w=None):
    """CR2 and Satterthwaite df with explicit n x n matrices (clubSandwich's algebra)."""
    n, p = X.shape
    w = np.ones(n) if w is None else w
    W = np.diag(w)
    M = np.linalg.inv(X.T @ W @ X)
    IH = np.eye(n) - X @ M @ X.T @ W
    F = IH @ IH.T
    labels = np.unique(cl)
    meat = np.zeros((p, p))
    A = {}
    for g in labels:
        idx = np.flatnonzero(cl == g)
        A[g] = inv_sqrt_psd(F[np.ix_(idx, idx)])
        u = X[idx].T @ W[np.ix_(idx, idx)] @ A[g] @ e[idx]
        meat += np.outer(u, u)
    V = M @ meat @ M
    df = np.empty(p)
    for k in range(p):
        c = np.eye(p)[k]
        P = np.zeros((n, len(labels)))
        for j, g in enumerate(labels):
            idx = np.flatnonzero(cl == g)
            gj = A[g] @ W[np.ix_(idx, idx)] @ X[idx] @ M @ c
            P[:, j] = IH[idx].T @ gj
        om = P.T @ P
        df[k] = np.trace(om) ** 2 / np.sum(om ** 2)
    return V, df


def brute_jackknife(X, y, cl, w=None):
    """sum_j (b_(-j) - b)(b_(-j) - b)' by refitting without each cluster."""
    w = np.ones(len(y)) if w is None else w
    b, _ = wls(X, y, w)
    rows = []
    for g in np.unique(cl):
        keep = cl != g
        rows.append(wls(X[keep], y[keep], w[keep])[0] - b)
    d = np.array(rows)
    return d.T @ d, d


@pytest.fixture(scope="module")
def ref():
    d = pd.read_csv(FIX / "cluster_reference_input.csv")
    r = pd.read_csv(FIX / "cluster_reference_r.csv", skipinitialspace=True)
    X = np.column_stack([np.ones(len(d)), d[TERMS].to_numpy(float)])
    return d, r, X, d["y"].to_numpy(float), d["la_code"].to_numpy()


def r_value(r, model, rtype, quantity, p=5):
    sub = r[(r.model == model) & (r.type == rtype) & (r.quantity == quantity)]
    if quantity == "vcov":
        V = np.zeros((p, p))
        V[sub.row - 1, sub.col - 1] = sub.value
        return V
    return sub.sort_values("row").value.to_numpy()


# ----------------------------------------------------------------------------- R clubSandwich

@pytest.mark.parametrize("model", ["ols", "wls"])
@pytest.mark.parametrize("kind,rtype", [("cr0", "CR0"), ("cr1", "CR1S"), ("cr2", "CR2"),
                                        ("cr3", "CR3")])
def test_matches_clubsandwich(ref, model, kind, rtype):
    d, r, X, y, cl = ref
    w = d["w"].to_numpy(float) if model == "wls" else None
    b, e = wls(X, y, w)
    np.testing.assert_allclose(b, r_value(r, model, "none", "coef"), rtol=1e-10)
    res = cluster_vcov(X, e, cl, kind=kind, weights=w)
    V = r_value(r, model, rtype, "vcov")
    np.testing.assert_allclose(res.vcov, V, rtol=1e-8, atol=1e-8 * np.abs(V).max())
    assert res.n_clusters == 10 and res.kind == kind and res.n_obs == 178
    if kind == "cr2":
        np.testing.assert_allclose(res.df, r_value(r, model, "CR2", "df"), rtol=1e-8)
    else:
        np.testing.assert_array_equal(res.df, np.full(5, 9.0))


@pytest.mark.parametrize("model", ["ols", "wls"])
def test_contrast_df_matches_clubsandwich(ref, model):
    d, r, X, y, cl = ref
    w = d["w"].to_numpy(float) if model == "wls" else None
    c = np.array([0, 0, 1, -1, 0.0])
    df = satterthwaite_df(X, cl, c, weights=w)
    assert isinstance(df, float)
    np.testing.assert_allclose(df, r_value(r, model, "CR2", "contrast_df")[0], rtol=1e-8)
    # the HTZ F statistic is the squared t of the contrast with the CR2 variance
    _, e = wls(X, y, w)
    V = cluster_vcov(X, e, cl, kind="cr2", weights=w).vcov
    b = wls(X, y, w)[0]
    np.testing.assert_allclose((c @ b) ** 2 / (c @ V @ c),
                               r_value(r, model, "CR2", "contrast_F")[0], rtol=1e-8)
    # rows of a (q, p) contrast matrix: unit vectors give the per-coefficient df
    np.testing.assert_allclose(satterthwaite_df(X, cl, np.eye(5), weights=w),
                               r_value(r, model, "CR2", "df"), rtol=1e-8)


# ----------------------------------------------------------------------------- statsmodels etc.

@pytest.mark.parametrize("weighted", [False, True])
def test_cr1_matches_statsmodels(weighted):
    X, y, cl, w = sim(weighted=weighted)
    model = sm.WLS(y, X, weights=w) if weighted else sm.OLS(y, X)
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": cl})
    res = cluster_vcov(X, np.asarray(fit.resid), cl, kind="cr1", weights=w)
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-10)
    g, n, p = 9, *X.shape
    cr0 = cluster_vcov(X, np.asarray(fit.resid), cl, kind="cr0", weights=w).vcov
    np.testing.assert_allclose(res.vcov, cr0 * g / (g - 1) * (n - 1) / (n - p), rtol=1e-12)


def test_two_way_matches_statsmodels_and_brute_force():
    X, y, cl, _ = sim(n=200, seed=3)
    cl2 = np.random.default_rng(9).integers(0, 6, len(y))
    both = np.column_stack([cl, cl2])
    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": both})
    e = np.asarray(fit.resid)
    res = cluster_vcov(X, e, both, kind="cr1")
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-10)
    assert res.n_clusters == 6 and res.cluster_counts[:2] == (9, 6)
    np.testing.assert_array_equal(res.df, np.full(3, 5.0))
    # brute force V1 + V2 - V12 (CR0, no factors)
    inter = np.array([f"{a}-{b}" for a, b in both])
    brute = (cluster_vcov(X, e, cl, kind="cr0").vcov + cluster_vcov(X, e, cl2, kind="cr0").vcov
             - cluster_vcov(X, e, inter, kind="cr0").vcov)
    np.testing.assert_allclose(cluster_vcov(X, e, both, kind="cr0").vcov, brute, rtol=1e-12)
    # nested second dimension: V12 = V2 and the result is the one-way variance
    nested = np.column_stack([cl, cl * 2 + (np.arange(len(y)) % 2)])
    np.testing.assert_allclose(cluster_vcov(X, e, nested, kind="cr0").vcov,
                               cluster_vcov(X, e, cl, kind="cr0").vcov, rtol=1e-10)


def test_cr1_matches_linearmodels():
    from linearmodels.iv import IV2SLS

    X, y, cl, w = sim(seed=5, weighted=True)
    for weights in (None, w):
        fit = IV2SLS(y, X, None, None, weights=weights).fit(cov_type="clustered", clusters=cl,
                                                           debiased=True)
        e = np.asarray(fit.resids)
        np.testing.assert_allclose(cluster_vcov(X, e, cl, kind="cr1", weights=weights).vcov,
                                   np.asarray(fit.cov), rtol=1e-10)


# ----------------------------------------------------------------------------- brute force

@pytest.mark.parametrize("weighted", [False, True])
def test_cr2_matches_brute_force(weighted):
    X, y, cl, w = sim(n=90, p=4, g=7, seed=11, weighted=weighted)
    _, e = wls(X, y, w)
    V, df = brute_cr2(X, e, cl, w)
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    np.testing.assert_allclose(res.vcov, V, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.df, df, rtol=1e-9)


def test_cr2_singular_block_uses_generalised_inverse():
    # a dummy for cluster 0 makes I - H_00 singular: clubSandwich zeroes that eigenvalue
    X, y, cl, w = sim(n=80, p=3, g=6, seed=2, weighted=True)
    X = np.column_stack([X, (cl == 0).astype(float)])
    _, e = wls(X, y, w)
    V, df = brute_cr2(X, e, cl, w)
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    np.testing.assert_allclose(res.vcov, V, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(res.df, df, rtol=1e-7)


def test_cr2_is_cr0_scale_for_balanced_intercept_only():
    # intercept only, equal clusters of size m: I - H_jj has eigenvalues 1 and 1 - 1/G
    g, m = 6, 5
    cl = np.repeat(np.arange(g), m)
    e = np.random.default_rng(0).normal(size=g * m)
    e -= e.mean()
    X = np.ones((g * m, 1))
    cr0 = cluster_vcov(X, e, cl, kind="cr0").vcov
    cr2 = cluster_vcov(X, e, cl, kind="cr2")
    np.testing.assert_allclose(cr2.vcov, cr0 * g / (g - 1), rtol=1e-12)
    np.testing.assert_allclose(cr2.df, [g - 1], rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_cr3_and_leverage_equal_leave_one_cluster_out(weighted):
    X, y, cl, w = sim(seed=4, weighted=weighted)
    _, e = wls(X, y, w)
    V, d = brute_jackknife(X, y, cl, w)
    np.testing.assert_allclose(cluster_vcov(X, e, cl, kind="cr3", weights=w).vcov, V,
                               rtol=1e-9)
    lev = cluster_leverage(X, e, cl, weights=w)
    np.testing.assert_allclose(lev.dfbeta, d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lev.meat_share.sum(axis=0), 1.0)
    np.testing.assert_allclose(lev.hat_trace.sum(), X.shape[1])
    np.testing.assert_array_equal(lev.size, np.bincount(cl))
    cr0 = cluster_vcov(X, e, cl, kind="cr0", weights=w).vcov
    ww = np.ones(len(y)) if w is None else w
    s = np.array([X[cl == g].T @ (ww[cl == g] * e[cl == g]) for g in range(9)])
    s = s @ np.linalg.inv(X.T @ (X * ww[:, None]))
    np.testing.assert_allclose(lev.meat_share, s ** 2 / np.diag(cr0), rtol=1e-9)


def test_leverage_flags_cluster_that_identifies_a_regressor():
    X, y, cl, _ = sim(n=80, g=6, seed=8)
    X = np.column_stack([X, (cl == 2).astype(float)])
    _, e = wls(X, y)
    lev = cluster_leverage(X, e, cl)
    assert np.isnan(lev.dfbeta[2]).all() and np.isfinite(np.delete(lev.dfbeta, 2, 0)).all()
    with pytest.raises(DesignError, match="code 2"):
        cluster_vcov(X, e, cl, kind="cr3")


def test_multiple_membership_one_hot_equals_clustering():
    X, y, cl, w = sim(seed=6, weighted=True)
    _, e = wls(X, y, w)
    onehot = np.eye(9)[cl]
    for kind in ("cr0", "cr1"):
        ref = cluster_vcov(X, e, cl, kind=kind, weights=w)
        for mem in (onehot, sp.csr_matrix(onehot)):
            res = cluster_vcov(X, e, None, kind=kind, weights=w, membership=mem)
            np.testing.assert_allclose(res.vcov, ref.vcov, rtol=1e-12)
            assert res.n_clusters == 9


def test_multiple_membership_shares_brute_force():
    rng = np.random.default_rng(7)
    X, y, _, _ = sim(n=60, seed=7)
    _, e = wls(X, y)
    shares = rng.dirichlet(np.ones(5), size=60) * (rng.random((60, 5)) < 0.6)
    shares[shares.sum(axis=1) == 0, 0] = 1.0
    shares /= shares.sum(axis=1, keepdims=True)
    M = np.linalg.inv(X.T @ X)
    meat = np.zeros((3, 3))
    for g in range(5):   # cluster score: sum_i m_ig x_i e_i
        s = (shares[:, g:g + 1] * X * e[:, None]).sum(axis=0)
        meat += np.outer(s, s)
    res = cluster_vcov(X, e, None, kind="cr0", membership=shares)
    np.testing.assert_allclose(res.vcov, M @ meat @ M, rtol=1e-12)
    # an unused worker column does not count as a cluster
    padded = np.column_stack([shares, np.zeros(60)])
    assert cluster_vcov(X, e, None, kind="cr1", membership=padded).n_clusters == 5


# ----------------------------------------------------------------------------- properties

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["cr0", "cr1", "cr2", "cr3"]),
       weighted=st.booleans(), scale=st.floats(0.1, 10.0))
def test_invariances(seed, kind, weighted, scale):
    X, y, cl, w = sim(n=60, g=6, seed=seed, weighted=weighted)
    _, e = wls(X, y, w)
    base = cluster_vcov(X, e, cl, kind=kind, weights=w)
    rng = np.random.default_rng(seed + 1)
    perm = rng.permutation(len(y))
    wp = None if w is None else w[perm]
    tol = dict(rtol=1e-8, atol=1e-12)
    # permuting rows and relabelling clusters (to strings, in another order)
    relabel = np.array([f"la{v}" for v in rng.permutation(6)])[cl]
    res = cluster_vcov(X[perm], e[perm], relabel[perm], kind=kind, weights=wp)
    np.testing.assert_allclose(res.vcov, base.vcov, **tol)
    np.testing.assert_allclose(res.df, base.df, **tol)
    # scaling y scales the residuals and the variance by the square; df unchanged
    res = cluster_vcov(X, scale * e, cl, kind=kind, weights=w)
    np.testing.assert_allclose(res.vcov, scale ** 2 * base.vcov, **tol)
    np.testing.assert_allclose(res.df, base.df, **tol)
    # rescaling the weights changes nothing
    if weighted:
        res = cluster_vcov(X, e, cl, kind=kind, weights=scale * w)
        np.testing.assert_allclose(res.vcov, base.vcov, **tol)
        np.testing.assert_allclose(res.df, base.df, **tol)
    assert np.all(np.linalg.eigvalsh(base.vcov) > -1e-10 * np.abs(base.vcov).max())


def test_zero_weight_rows_are_dropped():
    X, y, cl, w = sim(seed=12, weighted=True)
    w[:20] = 0.0
    _, e = wls(X, y, w)
    for kind in ("cr1", "cr2"):
        full = cluster_vcov(X, e, cl, kind=kind, weights=w)
        sub = cluster_vcov(X[20:], e[20:], cl[20:], kind=kind, weights=w[20:])
        np.testing.assert_allclose(full.vcov, sub.vcov, rtol=1e-10)
        assert full.n_obs == len(y) - 20


def test_bread_argument_and_std_errors():
    X, y, cl, _ = sim(seed=13)
    _, e = wls(X, y)
    M = np.linalg.inv(X.T @ X)
    for kind in ("cr1", "cr2", "cr3"):
        a = cluster_vcov(X, e, cl, kind=kind)
        b = cluster_vcov(X, e, cl, kind=kind, bread=M)
        np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-10)
    np.testing.assert_allclose(a.std_errors, np.sqrt(np.diag(a.vcov)))
    assert isinstance(a, ClusterVcov)
    with pytest.raises(Exception):
        a.kind = "cr0"   # frozen


def test_inputs_not_modified():
    X, y, cl, w = sim(seed=14, weighted=True)
    _, e = wls(X, y, w)
    copies = [a.copy() for a in (X, e, cl, w)]
    cluster_vcov(X, e, cl, kind="cr2", weights=w)
    cluster_leverage(X, e, cl, weights=w)
    for a, c in zip((X, e, cl, w), copies):
        np.testing.assert_array_equal(a, c)


# ----------------------------------------------------------------------------- warnings, errors

def test_few_cluster_warning():
    with pytest.warns(SosstatsWarning, match="cr2.*wild"):
        assert few_cluster_warning(10, "cr1")
    with pytest.warns(SosstatsWarning, match="Only 41 clusters"):
        few_cluster_warning(41, "cr0")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not few_cluster_warning(42, "cr1")
        assert not few_cluster_warning(10, "cr2")
        assert not few_cluster_warning(10, "cr3")


def test_bad_input():
    X, y, cl, w = sim(n=40, g=5, seed=15, weighted=True)
    _, e = wls(X, y)
    with pytest.raises(DesignError, match="`resid` has 39 values"):
        cluster_vcov(X, e[:-1], cl)
    with pytest.raises(DesignError, match="`clusters` has 39 values"):
        cluster_vcov(X, e, cl[:-1])
    with pytest.raises(DesignError, match="`weights` has 39 values"):
        cluster_vcov(X, e, cl, weights=w[:-1])
    with pytest.raises(DesignError, match="single cluster"):
        cluster_vcov(X, e, np.zeros(40, int))
    with pytest.raises(DesignError, match="single cluster"):
        satterthwaite_df(X, np.zeros(40, int), [0, 1, 0])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="`X` has NaN.*rows 3"):
        cluster_vcov(bad, e, cl)
    with pytest.raises(DataError, match="`resid` has NaN"):
        cluster_vcov(X, np.where(np.arange(40) == 5, np.nan, e), cl)
    with pytest.raises(DataError, match="`clusters` has 1 missing"):
        cluster_vcov(X, e, np.where(np.arange(40) == 5, np.nan, cl.astype(float)))
    wn = w.copy()
    wn[[2, 7]] = -1.0
    with pytest.raises(DataError, match="2 negative value.*rows 2, 7"):
        cluster_vcov(X, e, cl, weights=wn)
    with pytest.raises(DataError, match="`weights` has NaN"):
        cluster_vcov(X, e, cl, weights=np.where(np.arange(40) == 1, np.nan, w))
    with pytest.raises(DataError, match="all zero"):
        cluster_vcov(X, e, cl, weights=np.zeros(40))
    with pytest.raises(DataError, match="`kind` must be one of"):
        cluster_vcov(X, e, cl, kind="hc1")
    with pytest.raises(DesignError, match="rank deficient"):
        cluster_vcov(np.column_stack([X, X[:, 1]]), e, cl)
    with pytest.raises(DesignError, match="two-way"):
        cluster_vcov(X, e, np.column_stack([cl, cl]), kind="cr2")
    with pytest.raises(DesignError, match="2 columns"):
        cluster_vcov(X, e, np.column_stack([cl, cl, cl]))
    with pytest.raises(DesignError, match="not both"):
        cluster_vcov(X, e, cl, membership=np.eye(5)[cl])
    with pytest.raises(DesignError, match="multiple-membership"):
        cluster_vcov(X, e, None, kind="cr2", membership=np.eye(5)[cl])
    with pytest.raises(DesignError, match="required"):
        cluster_vcov(X, e, None)
    with pytest.raises(DataError, match="sum to 1"):
        cluster_vcov(X, e, None, membership=np.eye(5)[cl] * 0.5)
    with pytest.raises(DataError, match="negative shares"):
        cluster_vcov(X, e, None, membership=np.eye(5)[cl] * 2 - np.eye(5)[(cl + 1) % 5])
    with pytest.raises(DesignError, match="single cluster"):
        cluster_vcov(X, e, None, membership=np.ones((40, 1)))
    with pytest.raises(DesignError, match="`bread` must be"):
        cluster_vcov(X, e, cl, bread=np.eye(2))
    with pytest.raises(DesignError, match="`contrast` must have 3 columns"):
        satterthwaite_df(X, cl, [1.0, 0.0])
    with pytest.raises(DesignError, match="more observations"):
        cluster_vcov(X[:3], e[:3], [0, 1, 1], kind="cr1")
