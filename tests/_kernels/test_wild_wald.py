"""Wild cluster restricted bootstrap of a joint hypothesis (sosstats._kernels.wild_wald):
a brute-force enumeration, the one-restriction identity, weights, weight types, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.wild import WILD_WEIGHTS, wild_cluster_bootstrap, wild_weights
from sosstats._kernels.wild_wald import wild_wald_test
from sosstats.errors import DataError, DesignError


def sim(n=60, g=7, seed=0, beta=(1.0, 0.3, 0.0, 0.2)):
    rng = np.random.default_rng(seed)
    cl = np.arange(n) % g
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    X[:, 2] = (np.arange(g) % 3 == 0)[cl]                   # a cluster-level dummy
    y = X @ np.asarray(beta) + rng.normal(size=g)[cl] + rng.normal(size=n)
    return X, y, cl


def cr1_wald(X, y, cl, R, r, w=None):
    w = np.ones(len(y)) if w is None else w
    A = np.linalg.inv(X.T @ (X * w[:, None]))
    b = A @ X.T @ (w * y)
    e = y - X @ b
    labels = np.unique(cl)
    meat = sum(np.outer(u, u) for u in (X[cl == g].T @ (w * e)[cl == g] for g in labels))
    n, p, G = len(y), X.shape[1], len(labels)
    V = G / (G - 1) * (n - 1) / (n - p) * A @ meat @ A
    d = R @ b - r
    return float(d @ np.linalg.solve(R @ V @ R.T, d))


def brute_p(X, y, cl, R, r, w=None):
    """Loop over every sign vector: restricted fit, y*, refit, CR1 Wald (obviously right)."""
    ww = np.ones(len(y)) if w is None else w
    A = np.linalg.inv(X.T @ (X * ww[:, None]))
    b = A @ X.T @ (ww * y)
    br = b - A @ R.T @ np.linalg.solve(R @ A @ R.T, R @ b - r)
    u = y - X @ br
    q = cr1_wald(X, y, cl, R, r, w)
    labels = np.unique(cl)
    G = len(labels)
    count = 0
    for code in range(2 ** G):
        v = np.array([1.0 if (code >> k) & 1 else -1.0 for k in range(G)])
        vi = v[np.searchsorted(labels, cl)]
        ystar = X @ br + vi * u
        count += cr1_wald(X, ystar, cl, R, r, w) > q * (1 + 1e-10) + 1e-10
    return q, count / 2 ** G


@pytest.mark.parametrize("g", [6, 7, 8])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_brute_force_enumeration(g, weighted):
    X, y, cl = sim(g=g, seed=g)
    w = np.random.default_rng(1).uniform(0.3, 3, len(y)) if weighted else None
    R = np.eye(4)[[1, 2]]
    r = np.array([0.3, 0.0])
    q, p = brute_p(X, y, cl, R, r, w)
    res = wild_wald_test(X, y, cl, R=R, r=r, weights=w, n_resamples=2 ** g)
    assert res.enumerated and res.n_resamples == 2 ** g
    assert res.wald == pytest.approx(q, rel=1e-10)
    assert res.p_value == p


@pytest.mark.parametrize("g", [7, 10])
def test_one_restriction_is_the_one_coefficient_bootstrap(g):
    X, y, cl = sim(n=80, g=g, seed=3)
    joint = wild_wald_test(X, y, cl, R=np.eye(4)[[1]], r=[0.1], n_resamples=9999)
    single = wild_cluster_bootstrap(X, y, cl, term=1, null=0.1, n_resamples=9999, ci=False)
    assert joint.p_value == pytest.approx(single.p_value, abs=1e-12)
    assert joint.wald == pytest.approx(single.statistic ** 2, rel=1e-10)


def test_sampled_weights_give_a_reproducible_p_value_near_the_enumerated_one():
    X, y, cl = sim(n=120, g=12, seed=5, beta=(1, 0, 0, 0))
    R = np.eye(4)[[1, 3]]
    exact = wild_wald_test(X, y, cl, R=R, n_resamples=2 ** 12)
    for kind in WILD_WEIGHTS:
        a = wild_wald_test(X, y, cl, R=R, weight_type=kind, n_resamples=4000, rng=7)
        b = wild_wald_test(X, y, cl, R=R, weight_type=kind, n_resamples=4000, rng=7)
        assert a == b and not a.enumerated
        assert abs(a.p_value - exact.p_value) < 0.08, kind


@pytest.mark.parametrize("kind", WILD_WEIGHTS)
def test_weight_distributions_have_mean_zero_and_unit_variance(kind):
    v = wild_weights(np.random.default_rng(0), 200_000, 5, kind)
    assert abs(v.mean()) < 0.01 and abs(v.var() - 1) < 0.01
    if kind == "mammen":
        assert abs((v ** 3).mean() - 1) < 0.05                 # Mammen's third moment
        assert np.unique(v).size == 2
    if kind == "webb":
        assert np.unique(v).size == 6


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 5000), scale=st.floats(1e-3, 1e3))
def test_invariant_to_row_order_and_outcome_scale(seed, scale):
    X, y, cl = sim(n=50, g=6, seed=seed)
    R = np.eye(4)[[1, 2]]
    base = wild_wald_test(X, y, cl, R=R, n_resamples=64)
    perm = np.random.default_rng(seed).permutation(len(y))
    shuffled = wild_wald_test(X[perm], y[perm], cl[perm], R=R, n_resamples=64)
    scaled = wild_wald_test(X, scale * y, cl, R=R, n_resamples=64)
    assert shuffled.p_value == base.p_value == scaled.p_value
    assert scaled.wald == pytest.approx(base.wald, rel=1e-8)


def test_bad_input_is_named():
    X, y, cl = sim()
    with pytest.raises(DesignError, match="full row rank"):
        wild_wald_test(X, y, cl, R=[[0, 1, 0, 0], [0, 2, 0, 0]])
    with pytest.raises(DesignError, match=r"\(q, 4\)"):
        wild_wald_test(X, y, cl, R=np.eye(3))
    with pytest.raises(DesignError, match="only 7 clusters"):
        wild_wald_test(np.column_stack([X, np.random.default_rng(0).normal(size=(60, 6))]), y,
                       cl, R=np.eye(10)[1:])
    with pytest.raises(DataError, match="weight_type"):
        wild_wald_test(X, y, cl, R=np.eye(4)[[1]], weight_type="gauss")
    with pytest.raises(DataError, match="n_resamples"):
        wild_wald_test(X, y, cl, R=np.eye(4)[[1]], n_resamples=0)
    with pytest.raises(DesignError, match="at least two clusters"):
        wild_wald_test(X, y, np.zeros(60), R=np.eye(4)[[1]])
