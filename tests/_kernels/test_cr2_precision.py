"""Precision of the batched CR2 kernel with widely spread weights (issue 14).

References: a dense evaluation of clubSandwich's CR2 algebra (n_j x n_j blocks, ``eigh``), the
invariance of CR2 to rescaling the weights, and clubSandwich 0.5.8 on its ``dropoutPrevention``
meta-regression (weights 1 / varLOR from 0.046 to 3,001, 152 clusters), frozen by
tests/fixtures/cr2_weighted_reference.R.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sosstats._kernels import cluster_cr2
from sosstats._kernels.cluster import cluster_vcov, satterthwaite_df
from sosstats._kernels.cluster_cr2 import group_r_factor

FIX = Path(__file__).resolve().parents[1] / "fixtures"


# ----------------------------------------------------------------------------- references

def _inv_sqrt(a, tol=1e-12):
    """Return clubSandwich's ``matrix_power(x, -1/2)``: eigenvalues <= 1e-12 set to 0."""
    lam, v = np.linalg.eigh(0.5 * (a + a.T))
    f = np.where(lam > tol, 1 / np.sqrt(np.where(lam > tol, lam, 1)), 0)
    return (v * f) @ v.T


def dense_cr2(X, e, cl, w, contrasts=None):
    """CR2 vcov and Satterthwaite df, densely, as clubSandwich's ``CR2`` for a weighted ``lm``.

    inverse_var = FALSE, target Theta = I: ``G_j = I - H_jj - H_jj' + X_j M (X'W^2X) M X_j'``
    with ``H_jj = X_j M X_j' W_j``, evaluated here as the equal ``((I - H)(I - H)')_jj``,
    which avoids that sum's cancellation (about 3e-10 relative in the df of the
    dropoutPrevention fit); ``A_j = G_j^{-1/2}`` (generalised),
    ``V = M sum_j X_j'W_j A_j e_j e_j' A_j W_j X_j M``; df ``tr(Omega)^2 / tr(Omega^2)`` with
    ``Omega = P'P``, ``P_j = (I - H)_{j.}' A_j W_j X_j M c`` (coef_test, Satterthwaite).
    """
    n, p = X.shape
    wx = X * w[:, None]
    M = np.linalg.inv(X.T @ wx)
    ih = np.eye(n) - X @ M @ wx.T
    labels = np.unique(cl)
    V = np.zeros((p, p))
    blocks = []
    for g in labels:
        i = np.flatnonzero(cl == g)
        a = _inv_sqrt(ih[i] @ ih[i].T)
        mu = M @ (wx[i].T @ (a @ e[i]))
        V += np.outer(mu, mu)
        blocks.append((i, a))
    C = np.eye(p) if contrasts is None else contrasts
    df = []
    for c in C.T:
        P = np.column_stack([ih[i].T @ (a @ (wx[i] @ (M @ c))) for i, a in blocks])
        om = P.T @ P
        df.append(np.trace(om) ** 2 / np.trace(om @ om))
    return V, np.array(df)


def wls_resid(X, y, w):
    rw = np.sqrt(w)
    b = np.linalg.lstsq(X * rw[:, None], y * rw, rcond=None)[0]
    return b, y - X @ b


def spread_data(seed=0, n=260, g=14):
    """Simulate a fit with weights log-uniform over 1e-2..1e3.

    A spread of 1e5, as 1 / varLOR in meta-analysis; regressors in different units,
    singleton and two-row clusters (fewer rows than 2p), a cluster with constant weights
    (X_j and W_j X_j collinear) and a cluster-level regressor.
    """
    rng = np.random.default_rng(seed)
    sizes = np.concatenate([[1, 2, 3], rng.integers(8, 40, g - 3)])
    cl = np.repeat(np.arange(g), sizes)[:n]
    cl = np.concatenate([cl, rng.integers(3, g, n - cl.size)]) if cl.size < n else cl
    n = cl.size
    X = np.column_stack([np.ones(n), rng.normal(50, 10, n), rng.normal(size=g)[cl],
                         rng.binomial(1, 0.3, n), rng.normal(0.2, 0.01, n)])
    w = 10 ** rng.uniform(-2, 3, n)
    w[cl == 5] = 7.0
    y = X @ np.array([1, 0.05, 0.5, -0.3, 2.0]) + rng.normal(size=g)[cl] + rng.normal(size=n)
    perm = rng.permutation(n)
    return X[perm], y[perm], cl[perm], w[perm]


@pytest.fixture(scope="module")
def spread():
    X, y, cl, w = spread_data()
    _, e = wls_resid(X, y, w)
    return X, e, cl, w, dense_cr2(X, e, cl, w)


# ----------------------------------------------------------------------------- (a) dense

def test_spread_weights_match_dense_reference(spread):
    X, e, cl, w, (V, df) = spread
    assert w.max() / w.min() > 5e4
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    se = np.sqrt(np.diag(V))
    np.testing.assert_allclose(res.std_errors, se, rtol=1e-10)
    np.testing.assert_allclose(res.vcov, V, rtol=1e-10, atol=1e-10 * np.abs(V).max())
    np.testing.assert_allclose(res.df, df, rtol=1e-10)


def test_spread_weights_contrast_df_matches_dense(spread):
    X, e, cl, w, _ = spread
    C = np.array([[0, 1, -1, 0, 0], [0, 0, 1, 1, 1.0]]).T
    _, df = dense_cr2(X, e, cl, w, C)
    np.testing.assert_allclose(satterthwaite_df(X, cl, C.T, weights=w), df, rtol=1e-10)


def test_unweighted_matches_dense_reference(spread):
    X, e, cl, _, _ = spread
    V, df = dense_cr2(X, e, cl, np.ones(len(e)))
    res = cluster_vcov(X, e, cl, kind="cr2")
    np.testing.assert_allclose(res.vcov, V, rtol=1e-10, atol=1e-10 * np.abs(V).max())
    np.testing.assert_allclose(res.df, df, rtol=1e-10)


# ----------------------------------------------------------------------------- (b) invariance

@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_invariant_to_rescaling_weights(spread, scale):
    X, e, cl, w, _ = spread
    base = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w * scale)
    np.testing.assert_allclose(res.vcov, base.vcov, rtol=1e-10,
                               atol=1e-10 * np.abs(base.vcov).max())
    np.testing.assert_allclose(res.df, base.df, rtol=1e-10)


def test_invariant_to_regressor_units(spread):
    """CR2 depends on X only through its column space.

    Rescaling a column rescales its row and column of V, and leaves the df unchanged.
    """
    X, e, cl, w, _ = spread
    s = np.array([1, 1e-2, 10, 1, 1e2])
    base = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    res = cluster_vcov(X * s, e, cl, kind="cr2", weights=w)
    np.testing.assert_allclose(res.vcov * np.outer(s, s), base.vcov, rtol=1e-10,
                               atol=1e-10 * np.abs(base.vcov).max())
    np.testing.assert_allclose(res.df, base.df, rtol=1e-10)


# ----------------------------------------------------------------------------- algorithm paths

def test_big_cluster_path_equals_padded_path(spread, monkeypatch):
    X, e, cl, w, _ = spread
    base = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    monkeypatch.setattr(cluster_cr2, "BIG_CLUSTER", 4)   # every cluster of 4+ rows alone
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    np.testing.assert_allclose(res.vcov, base.vcov, rtol=1e-12,
                               atol=1e-12 * np.abs(base.vcov).max())
    np.testing.assert_allclose(res.df, base.df, rtol=1e-12)


def test_trace_identity_path_agrees(monkeypatch):
    """Above EXPLICIT_OMEGA the df come from the G x G-free trace identity.

    Same values, to the accuracy that identity keeps on moderately spread weights.
    """
    rng = np.random.default_rng(3)
    n, g = 400, 25
    cl = rng.integers(0, g, n)
    cl[:g] = np.arange(g)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    w = rng.uniform(0.5, 2, n)
    e = rng.normal(size=n)
    base = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    monkeypatch.setattr(cluster_cr2, "EXPLICIT_OMEGA", 0)
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    np.testing.assert_allclose(res.df, base.df, rtol=1e-9)
    np.testing.assert_array_equal(res.vcov, base.vcov)


def test_group_r_factor_reproduces_cluster_grams():
    rng = np.random.default_rng(1)
    sizes = np.array([1, 2, 5, 9, 17, 33, 70, 5000])            # padded classes and a big one
    codes = np.repeat(np.arange(sizes.size), sizes)
    rng.shuffle(codes)
    cols = rng.normal(size=(codes.size, 6)) * np.array([1, 1e3, 1e-3, 1, 1, 1])
    r = group_r_factor(codes, sizes.size, np.ascontiguousarray(cols.T))
    for j in range(sizes.size):
        cj = cols[codes == j]
        np.testing.assert_allclose(r[j].T @ r[j], cj.T @ cj, rtol=1e-12,
                                   atol=1e-12 * np.abs(cj).max() ** 2 * sizes[j])
        np.testing.assert_array_equal(np.tril(r[j], -1), 0)


# ----------------------------------------------------------------------------- (c) clubSandwich

@pytest.fixture(scope="module")
def dropout():
    d = pd.read_csv(FIX / "cr2_weighted_reference_input.csv")
    r = pd.read_csv(FIX / "cr2_weighted_reference_r.csv", skipinitialspace=True)
    X = d.drop(columns=["LOR1", "w", "studyID"]).to_numpy(float)
    return X, d["LOR1"].to_numpy(float), d["w"].to_numpy(float), d["studyID"].to_numpy(), r


def r_value(r, quantity, p, scale=1.0):
    sub = r[(r.quantity == quantity) & np.isclose(r.scale, scale)]
    if quantity == "vcov":
        V = np.zeros((p, p))
        V[sub.row - 1, sub.col - 1] = sub.value
        return V
    return sub.sort_values("row").value.to_numpy()


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e3])
def test_dropout_prevention_matches_clubsandwich(dropout, scale):
    X, y, w, cl, r = dropout
    p = X.shape[1]
    assert X.shape == (385, 22) and len(np.unique(cl)) == 152
    b, e = wls_resid(X, y, w * scale)
    np.testing.assert_allclose(b, r_value(r, "coef", p), rtol=1e-10)
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w * scale)
    V = r_value(r, "vcov", p, scale)
    np.testing.assert_allclose(res.std_errors, np.sqrt(np.diag(V)), rtol=1e-9)
    np.testing.assert_allclose(res.vcov, V, rtol=1e-8, atol=1e-9 * np.abs(V).max())
    assert res.n_clusters == 152


def test_dropout_prevention_df(dropout):
    """The df match a dense evaluation to 1e-10, and clubSandwich's to 1e-7.

    clubSandwich's own df differ from the dense value (which is the same to 1e-12 whether
    computed with X or an orthonormalised X) by 4e-8 relative, so the R comparison is at 1e-7.
    """
    X, y, w, cl, r = dropout
    p = X.shape[1]
    _, e = wls_resid(X, y, w)
    res = cluster_vcov(X, e, cl, kind="cr2", weights=w)
    _, df_dense = dense_cr2(X, e, cl, w)
    np.testing.assert_allclose(res.df, df_dense, rtol=1e-10)
    np.testing.assert_allclose(res.df, r_value(r, "df", p), rtol=1e-7)
    c = np.zeros(p)
    c[[3, 4]] = [1, -1]                                          # attrition - group_equivalence
    np.testing.assert_allclose(satterthwaite_df(X, cl, c, weights=w),
                               r_value(r, "contrast_df", p)[0], rtol=1e-7)
