"""Wild cluster restricted bootstrap of a joint Wald statistic (sosstats._kernels.wild_joint).

A plain-loop reference over every weight vector, the one-restriction identity with the
one-coefficient kernel, weight types, the floor, size under H0, invariances, bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.wild import (
    WILD_WEIGHTS,
    rademacher_enumeration,
    webb_enumeration,
    wild_cluster_bootstrap,
)
from sosstats._kernels.wild_joint import WildJointTest, wild_joint_test
from sosstats.errors import DataError, DesignError


def sim(n=60, g=7, seed=0, beta=(1.0, 0.3, 0.0, 0.2)):
    rng = np.random.default_rng(seed)
    cl = rng.permutation(np.arange(n) % g)                  # unequal, shuffled clusters
    cl = np.r_[cl[: n - g], np.arange(g)]                   # every cluster present
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    X[:, 2] = (np.arange(g) % 3 == 0)[cl]                   # a cluster-level dummy
    y = X @ np.asarray(beta) + rng.normal(size=g)[cl] + rng.normal(size=n)
    return X, y, cl


def cr1_wald(X, y, cl, R, r, w):
    """Compute the CR1 Wald statistic of R b = r from a WLS fit, written out."""
    A = np.linalg.inv(X.T @ (X * w[:, None]))
    b = A @ X.T @ (w * y)
    e = y - X @ b
    labels = np.unique(cl)
    meat = np.zeros((X.shape[1], X.shape[1]))
    for g in labels:
        s = X[cl == g].T @ (w * e)[cl == g]
        meat += np.outer(s, s)
    n, p, G = len(y), X.shape[1], len(labels)
    V = G / (G - 1) * (n - 1) / (n - p) * A @ meat @ A
    d = R @ b - r
    return float(d @ np.linalg.solve(R @ V @ R.T, d))


def brute_force(X, y, cl, R, r, V, w=None):
    """For every weight vector: restricted fit, y* = X b~ + v_g u~_g, refit, CR1 Wald."""
    w = np.ones(len(y)) if w is None else w
    A = np.linalg.inv(X.T @ (X * w[:, None]))
    b = A @ X.T @ (w * y)
    b_r = b - A @ R.T @ np.linalg.solve(R @ A @ R.T, R @ b - r)
    u = y - X @ b_r
    idx = np.searchsorted(np.unique(cl), cl)
    W = cr1_wald(X, y, cl, R, r, w)
    W_star = np.array([cr1_wald(X, X @ b_r + v[idx] * u, cl, R, r, w) for v in V])
    p = np.count_nonzero(np.sqrt(W_star) > np.sqrt(W) * (1 + 1e-10) + 1e-10) / len(V)
    return W, W_star, p


# ------------------------------------------------------------------ the reference


@pytest.mark.parametrize("g", [6, 7, 8])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_a_plain_loop_over_all_sign_vectors(g, weighted):
    X, y, cl = sim(g=g, seed=g)
    w = np.random.default_rng(1).uniform(0.3, 3, len(y)) if weighted else None
    R = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, -1.0]])
    r = np.array([0.3, 0.1])
    W, W_star, p = brute_force(X, y, cl, R, r, rademacher_enumeration(g), w)
    res = wild_joint_test(X, y, cl, R=R, r=r, weights=w, n_resamples=2 ** g, return_draws=True)
    assert isinstance(res, WildJointTest)
    assert res.enumerated and res.n_draws == 2 ** g and res.floor == 1 / 2 ** g
    assert res.n_clusters == g and res.n_restrictions == 2
    assert res.statistic == pytest.approx(W, rel=1e-10)
    np.testing.assert_allclose(res.w_star, W_star, rtol=1e-10, atol=1e-10)
    assert res.p_value == p


def test_equals_a_plain_loop_over_all_webb_vectors():
    X, y, cl = sim(n=30, g=4, seed=11)
    R = np.eye(4)[[1, 3]]
    W, W_star, p = brute_force(X, y, cl, R, np.zeros(2), webb_enumeration(4))
    res = wild_joint_test(X, y, cl, R=R, weight_type="webb", return_draws=True)
    assert res.enumerated and res.n_draws == 6 ** 4
    np.testing.assert_allclose(res.w_star, W_star, rtol=1e-10, atol=1e-10)
    assert res.p_value == p


@pytest.mark.parametrize("kind", ["webb", "mammen", "normal"])
def test_drawn_weights_equal_the_loop_on_the_same_draws(kind):
    from sosstats._kernels.wild import wild_weights

    X, y, cl = sim(n=50, g=9, seed=4)
    R = np.eye(4)[[1, 2]]
    res = wild_joint_test(X, y, cl, R=R, weight_type=kind, n_resamples=200, rng=3,
                          return_draws=True)
    V = wild_weights(np.random.default_rng(3), 200, 9, kind)
    W, W_star, p = brute_force(X, y, cl, R, np.zeros(2), V)
    assert not res.enumerated and res.n_draws == 200 and res.weight_type == kind
    np.testing.assert_allclose(res.w_star, W_star, rtol=1e-9, atol=1e-10)
    assert res.p_value == p


# ------------------------------------------------------------------ one restriction


@pytest.mark.parametrize("kind,B", [("rademacher", 9999), ("rademacher", 500), ("webb", 999),
                                    ("mammen", 999), ("normal", 999)])
def test_one_restriction_is_the_square_of_the_one_coefficient_bootstrap(kind, B):
    X, y, cl = sim(n=80, g=10, seed=3)
    w = np.random.default_rng(2).uniform(0.5, 2, len(y))
    joint = wild_joint_test(X, y, cl, R=np.eye(4)[1], r=[0.1], weights=w, weight_type=kind,
                            n_resamples=B, rng=5, return_draws=True)
    single = wild_cluster_bootstrap(X, y, cl, term=1, null=0.1, weights=w, weight_type=kind,
                                    n_resamples=B, rng=5, ci=False)
    assert joint.enumerated == single.enumerated and joint.n_draws == single.n_resamples
    assert joint.statistic == pytest.approx(single.statistic ** 2, rel=1e-10)
    np.testing.assert_allclose(joint.w_star, single.t_star ** 2, rtol=1e-9, atol=1e-12)
    assert joint.p_value == single.p_value


def test_p_value_at_the_floor_is_reported_below_one_over_b():
    X, y, cl = sim(n=100, g=10, seed=1, beta=(1.0, 3.0, 2.0, 0.0))   # H0 far from the truth
    res = wild_joint_test(X, y, cl, R=np.eye(4)[[1, 2]])
    assert res.enumerated and res.n_draws == 1024 and res.p_value == 0.0
    assert res.floor == 1 / 1024
    assert res.p_value_text() == "< 1/1,024 (all 1,024 sign vectors)"
    assert res.p_value_text(fraction=False) == "< 0.001 (all 1,024 sign vectors)"
    note = res.note()
    assert "all 1,024 Rademacher sign vectors (enumerated; exact)" in note
    assert "W* > W" in note and "not counted" in note
    webb = wild_joint_test(X, y, cl, R=np.eye(4)[[1, 2]], weight_type="webb", n_resamples=999,
                           rng=0)
    assert webb.p_value == 0.0 and webb.p_value_text() == "< 1/999 (999 draws)"
    # away from the floor the number prints
    null = wild_joint_test(X, y, cl, R=np.eye(4)[[1, 2]], r=[3.0, 2.0])
    assert null.p_value > 0 and not null.p_value_text().startswith("<")


def test_enumerated_counts_come_in_sign_pairs_and_ignore_the_seed():
    X, y, cl = sim(n=70, g=8, seed=9)
    R = np.eye(4)[[1, 3]]
    ps = {wild_joint_test(X, y, cl, R=R, rng=s).p_value for s in range(3)}
    assert len(ps) == 1
    k = ps.pop() * 256
    assert k == round(k) and round(k) % 2 == 0                 # W*(v) = W*(-v)
    res = wild_joint_test(X, y, cl, R=R, return_draws=True)
    np.testing.assert_allclose(res.w_star, res.w_star[::-1], rtol=1e-10)
    # one vector short of the support: drawn
    assert not wild_joint_test(X, y, cl, R=R, n_resamples=255, rng=0).enumerated
    assert not wild_joint_test(X, y, cl, R=R, full_enumeration=False, rng=0).enumerated
    forced = wild_joint_test(X, y, cl, R=R, n_resamples=10, full_enumeration=True)
    assert forced.enumerated and forced.n_draws == 256


def test_batches_do_not_change_the_draws():
    X, y, cl = sim(n=70, g=8, seed=2)
    R = np.eye(4)[[1, 2]]
    a = wild_joint_test(X, y, cl, R=R, return_draws=True)
    b = wild_joint_test(X, y, cl, R=R, batch=7, return_draws=True)
    np.testing.assert_allclose(a.w_star, b.w_star, rtol=1e-12)
    assert a.p_value == b.p_value


# ------------------------------------------------------------------ size under H0


def test_size_under_the_null_with_ten_unequal_clusters():
    # 10 clusters of 5..50 rows, a cluster-level and a row-level regressor tested jointly
    rng = np.random.default_rng(2024)
    sizes = np.array([5, 8, 12, 15, 20, 25, 30, 35, 40, 50])
    cl = np.repeat(np.arange(10), sizes)
    n = cl.size
    R = np.eye(3)[[1, 2]]
    reps, rejected = 1000, 0
    for _ in range(reps):
        X = np.column_stack([np.ones(n), rng.normal(size=10)[cl], rng.normal(size=n)])
        y = 1.0 + rng.normal(size=10)[cl] + rng.normal(size=n)
        rejected += wild_joint_test(X, y, cl, R=R).p_value < 0.05
    rate = rejected / reps
    # nominal 5%; the WCR bootstrap is close to exact here (MC SE 0.7%): 3 SEs either side
    assert 0.029 < rate < 0.071, rate


# ------------------------------------------------------------------ invariances


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_invariant_to_row_order_and_to_scaling_y_when_r_is_zero(seed, scale):
    X, y, cl = sim(n=40, g=6, seed=seed)
    R = np.eye(4)[[1, 2]]
    base = wild_joint_test(X, y, cl, R=R, return_draws=True)
    perm = np.random.default_rng(seed).permutation(len(y))
    shuffled = wild_joint_test(X[perm], y[perm], cl[perm], R=R, return_draws=True)
    scaled = wild_joint_test(X, scale * y, cl, R=R, return_draws=True)
    assert shuffled.p_value == base.p_value == scaled.p_value
    assert shuffled.statistic == pytest.approx(base.statistic, rel=1e-8)
    assert scaled.statistic == pytest.approx(base.statistic, rel=1e-8)
    np.testing.assert_allclose(scaled.w_star, base.w_star, rtol=1e-7)
    # relabelling clusters changes nothing either
    relabelled = wild_joint_test(X, y, np.array(["c%d" % (9 - c) for c in cl]), R=R)
    assert relabelled.p_value == base.p_value


def test_weights_scale_free_and_zero_weight_rows_dropped():
    X, y, cl = sim(n=60, g=7, seed=6)
    R = np.eye(4)[[1, 2]]
    w = np.random.default_rng(0).uniform(0.2, 5, len(y))
    a = wild_joint_test(X, y, cl, R=R, weights=w)
    b = wild_joint_test(X, y, cl, R=R, weights=1e4 * w)
    assert a.p_value == b.p_value and a.statistic == pytest.approx(b.statistic, rel=1e-9)
    w0 = w.copy()
    w0[:5] = 0.0
    keep = w0 > 0
    c = wild_joint_test(X, y, cl, R=R, weights=w0)
    d = wild_joint_test(X[keep], y[keep], cl[keep], R=R, weights=w0[keep])
    assert c == d


# ------------------------------------------------------------------ bad input


def test_bad_input_is_an_error_naming_the_argument():
    X, y, cl = sim()
    with pytest.raises(DesignError, match=r"`R` must have shape \(q, 4\)"):
        wild_joint_test(X, y, cl, R=np.eye(3))
    with pytest.raises(DesignError, match="`R`.*full row rank"):
        wild_joint_test(X, y, cl, R=[[0, 1, 0, 0], [0, 2, 0, 0]])
    big = np.column_stack([X, np.random.default_rng(0).normal(size=(60, 6))])
    with pytest.raises(DesignError, match="9 restrictions but only 7 clusters"):
        wild_joint_test(big, y, cl, R=np.eye(10)[1:])
    with pytest.raises(DesignError, match="`r` must have one value per row"):
        wild_joint_test(X, y, cl, R=np.eye(4)[[1, 2]], r=[0.0])
    with pytest.raises(DataError, match="`R` has NaN"):
        wild_joint_test(X, y, cl, R=[[0, np.nan, 0, 0]])
    with pytest.raises(DataError, match="`R` must be a numeric"):
        wild_joint_test(X, y, cl, R=[["a", "b", "c", "d"]])
    with pytest.raises(DataError, match="weight_type"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], weight_type="gauss")
    with pytest.raises(DataError, match="full_enumeration"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], full_enumeration="yes")
    with pytest.raises(DesignError, match="full_enumeration=True"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], weight_type="mammen", full_enumeration=True)
    for bad in (0, 2.5, True):
        with pytest.raises(DataError, match="n_resamples"):
            wild_joint_test(X, y, cl, R=np.eye(4)[1], n_resamples=bad)
    with pytest.raises(DataError, match="batch"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], batch=0)
    with pytest.raises(DataError, match="rng"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], rng="seed")
    with pytest.raises(DesignError, match="at least 2 clusters"):
        wild_joint_test(X, y, np.zeros(60), R=np.eye(4)[1])
    with pytest.raises(DesignError, match="collinear"):
        wild_joint_test(np.column_stack([X, X[:, 1]]), y, cl, R=np.eye(5)[1])
    with pytest.raises(DataError, match="`clusters` must be"):
        wild_joint_test(X, y, cl[:-1], R=np.eye(4)[1])
    with pytest.raises(DataError, match="`y` has 1 NaN"):
        wild_joint_test(X, np.r_[np.nan, y[1:]], cl, R=np.eye(4)[1])
    w = np.ones(60)
    w[cl == 3] = 0.0
    with pytest.raises(DataError, match=r"`weights` are zero in every row of cluster\(s\) \[3\]"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], weights=w)
    with pytest.raises(DataError, match="`weights` must be finite and non-negative"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], weights=np.r_[-1.0, np.ones(59)])
    with pytest.raises(DataError, match=r"`weights` must have shape \(60,\)"):
        wild_joint_test(X, y, cl, R=np.eye(4)[1], weights=np.ones(3))


@pytest.mark.parametrize("kind", WILD_WEIGHTS)
def test_reproducible_with_a_generator(kind):
    X, y, cl = sim(n=60, g=12, seed=8)
    R = np.eye(4)[[1, 2]]
    a = wild_joint_test(X, y, cl, R=R, weight_type=kind, n_resamples=999,
                        rng=np.random.default_rng(4))
    b = wild_joint_test(X, y, cl, R=R, weight_type=kind, n_resamples=999,
                        rng=np.random.default_rng(4))
    assert a == b and not a.enumerated


def test_a_linear_combination_agrees_with_wildboottest_when_installed():
    """Check against the ``wildboottest`` port (one restriction only).

    Skipped when the package is absent; it is not a test dependency of this kernel.
    """
    import warnings

    wbt = pytest.importorskip("wildboottest.wildboottest")
    X, y, cl = sim(n=90, g=7, seed=12)
    R = np.array([0.0, 1.0, -1.0, 0.5])                      # b1 - b2 + b3/2 = 0
    boot = wbt.WildboottestCL(X=X, Y=y, cluster=cl, R=R, B=9999, seed=1, parallel=False)
    boot.get_scores(bootstrap_type="11", impose_null=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot.get_weights(weights_type="rademacher")
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    t_boot = np.asarray(boot.t_boot, float).ravel()
    t_stat = float(np.ravel(boot.t_stat)[0])
    res = wild_joint_test(X, y, cl, R=R, return_draws=True)
    assert res.enumerated and res.n_draws == t_boot.size == 128
    assert res.statistic == pytest.approx(t_stat ** 2, rel=1e-10)
    np.testing.assert_allclose(np.sort(res.w_star), np.sort(t_boot ** 2), rtol=1e-9)
