"""Tests of the wild cluster restricted bootstrap kernel (sosstats._kernels.wild)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.wild import (
    WEBB_POINTS,
    rademacher_enumeration,
    wild_cluster_bootstrap,
    wild_weights,
)
from sosstats.errors import DataError, DesignError, SosstatsError

# ---------------------------------------------------------------- reference implementation


def brute_force_t_star(X, y, clusters, V, *, term, null=0.0, weights=None):
    """Refit OLS and recompute CR1 standard errors for every replicate, one at a time."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    if weights is not None:
        sw = np.sqrt(np.asarray(weights, float))
        X, y = X * sw[:, None], y * sw
    n, p = X.shape
    labels, codes = np.unique(clusters, return_inverse=True)
    G = len(labels)
    # restricted least squares: regress y - null * x_j on the other columns
    others = [k for k in range(p) if k != term]
    y0 = y - null * X[:, term]
    if others:
        g_r = np.linalg.lstsq(X[:, others], y0, rcond=None)[0]
        fitted_r = X[:, others] @ g_r + null * X[:, term]
    else:
        fitted_r = null * X[:, term]
    u_r = y - fitted_r
    ssc = G / (G - 1) * (n - 1) / (n - p)
    XtX_inv = np.linalg.inv(X.T @ X)
    out = np.empty(V.shape[0])
    for b in range(V.shape[0]):  # the slow way on purpose
        y_star = fitted_r + V[b, codes] * u_r
        beta = np.linalg.lstsq(X, y_star, rcond=None)[0]
        e = y_star - X @ beta
        meat = np.zeros((p, p))
        for g in range(G):
            s = X[codes == g].T @ e[codes == g]
            meat += np.outer(s, s)
        vcov = ssc * XtX_inv @ meat @ XtX_inv
        out[b] = (beta[term] - null) / np.sqrt(vcov[term, term])
    return out


def make_data(seed=0, n=120, G=10, p=3, rho=0.5, beta=None):
    r = np.random.default_rng(seed)
    clusters = r.integers(0, G, n)
    clusters[:G] = np.arange(G)  # every cluster present
    X = np.column_stack([np.ones(n), r.standard_normal((n, p - 1))])
    if beta is None:
        beta = np.zeros(p)
    y = X @ beta + rho * r.standard_normal(G)[clusters] + r.standard_normal(n)
    return X, y, clusters


# ---------------------------------------------------------------- (a) brute force


@pytest.mark.parametrize("weight_type", ["rademacher", "webb"])
@pytest.mark.parametrize("term,null", [(1, 0.0), (2, 0.3), (0, -0.2)])
def test_equals_brute_force_draw_for_draw(weight_type, term, null):
    X, y, cl = make_data(1)
    res = wild_cluster_bootstrap(X, y, cl, term=term, null=null, weight_type=weight_type,
                                 n_resamples=199, rng=7, full_enumeration=False, ci=False)
    V = wild_weights(np.random.default_rng(7), 199, 10, weight_type)
    ref = brute_force_t_star(X, y, cl, V, term=term, null=null)
    np.testing.assert_allclose(res.t_star, ref, rtol=0, atol=1e-10)
    assert res.n_resamples == 199 and not res.enumerated
    # the observed statistic and p-value from the same ingredients
    t_obs = brute_force_t_star(X, y, cl, np.ones((1, 10)), term=term, null=null)[0]
    assert res.statistic == pytest.approx(t_obs, abs=1e-10)
    assert res.p_value == np.mean(np.abs(ref) > abs(t_obs) * (1 + 1e-8))


def test_brute_force_with_weights_and_string_clusters():
    X, y, cl = make_data(2, n=80, G=6)
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    labels = np.array([f"E0{k}" for k in range(6)])[cl]
    res = wild_cluster_bootstrap(X, y, labels, term=1, weights=w, n_resamples=99, rng=11,
                                 full_enumeration=False, ci=False)
    V = wild_weights(np.random.default_rng(11), 99, 6, "rademacher")
    ref = brute_force_t_star(X, y, labels, V, term=1, weights=w)
    np.testing.assert_allclose(res.t_star, ref, atol=1e-10)
    # WLS estimate as statsmodels would give it
    sm = pytest.importorskip("statsmodels.api")
    assert res.estimate == pytest.approx(sm.WLS(y, X, weights=w).fit().params[1], rel=1e-10)


def test_intercept_only_brute_force_and_batching():
    r = np.random.default_rng(4)
    cl = np.repeat(np.arange(8), [3, 5, 8, 2, 9, 4, 6, 7])
    y = 0.4 + r.standard_normal(8)[cl] + r.standard_normal(len(cl))
    X = np.ones((len(cl), 1))
    res = wild_cluster_bootstrap(X, y, cl, term=0, null=0.1)
    assert res.enumerated and res.n_resamples == 256
    ref = brute_force_t_star(X, y, cl, rademacher_enumeration(8), term=0, null=0.1)
    np.testing.assert_allclose(res.t_star, ref, atol=1e-10)
    assert res.estimate == pytest.approx(y.mean())
    small = wild_cluster_bootstrap(X[:, 0], y, cl, term=-1, null=0.1, batch=7)
    np.testing.assert_allclose(small.t_star, res.t_star, atol=1e-12)
    assert small.p_value == res.p_value and small.ci_lower == pytest.approx(res.ci_lower)


# ---------------------------------------------------------------- (b) enumeration


def test_enumeration_exact_and_seed_free():
    X, y, cl = make_data(5, n=200)
    ps = {wild_cluster_bootstrap(X, y, cl, term=1, rng=s, ci=False).p_value for s in range(4)}
    assert len(ps) == 1
    p = ps.pop()
    assert p * 1024 == pytest.approx(round(p * 1024), abs=1e-9)
    # the sign flip v -> -v flips t*, so counts come in pairs
    assert round(p * 1024) % 2 == 0
    res = wild_cluster_bootstrap(X, y, cl, term=1, ci=False)
    assert res.enumerated and res.n_resamples == 1024
    np.testing.assert_allclose(np.sort(res.t_star), np.sort(-res.t_star), atol=1e-10)
    # too few resamples requested: sample, not enumerate; webb never enumerates
    assert not wild_cluster_bootstrap(X, y, cl, term=1, n_resamples=1023, ci=False).enumerated
    assert not wild_cluster_bootstrap(X, y, cl, term=1, weight_type="webb", rng=0,
                                      ci=False).enumerated
    forced = wild_cluster_bootstrap(X, y, cl, term=1, n_resamples=10, full_enumeration=True,
                                    ci=False)
    assert forced.enumerated and forced.p_value == p


def test_enumeration_matrix_and_weights():
    E = rademacher_enumeration(4)
    assert E.shape == (16, 4) and len({tuple(r) for r in E}) == 16
    np.testing.assert_array_equal(E[::-1], -E)
    W = wild_weights(np.random.default_rng(0), 60000, 3, "webb")
    assert set(np.unique(W)) == set(WEBB_POINTS)
    assert abs(W.mean()) < 0.02 and abs((W ** 2).mean() - 1) < 0.02
    R = wild_weights(np.random.default_rng(0), 1000, 3, "rademacher")
    assert set(np.unique(R)) == {-1.0, 1.0}


# ---------------------------------------------------------------- (c) wildboottest


def _wildboottest_tboot(X, y, cl, term, weights_type, seed):
    wbt = pytest.importorskip("wildboottest.wildboottest")
    R = np.zeros(X.shape[1])
    R[term] = 1.0
    boot = wbt.WildboottestCL(X=X, Y=y, cluster=cl, R=R, B=9999, seed=seed, parallel=False)
    boot.get_scores(bootstrap_type="11", impose_null=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot.get_weights(weights_type=weights_type)
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue(pval_type="two-tailed")
    return np.asarray(boot.t_boot, float).ravel(), float(np.ravel(boot.t_stat)[0]), boot


def test_agrees_with_wildboottest_under_enumeration():
    X, y, cl = make_data(6, n=150, beta=np.array([0.0, 0.25, 0.0]))
    t_boot, t_stat, boot = _wildboottest_tboot(X, y, cl, 1, "rademacher", 1)
    res = wild_cluster_bootstrap(X, y, cl, term=1, ci=False)
    assert res.statistic == pytest.approx(t_stat, rel=1e-10)
    assert res.enumerated and len(t_boot) == res.n_resamples == 1024
    np.testing.assert_allclose(np.sort(res.t_star), np.sort(t_boot), atol=1e-10)
    # same rule on the same t*: identical p; wildboottest's own p may also count the two
    # sign vectors +-1 (exact ties with |t|) when rounding puts them above |t|
    assert res.p_value == np.mean(np.abs(t_boot) > abs(t_stat) * (1 + 1e-8))
    assert res.p_value == pytest.approx(boot.pvalue, abs=2 / 1024 + 1e-12)


def test_agrees_with_wildboottest_webb_monte_carlo():
    X, y, cl = make_data(7, n=150, beta=np.array([0.0, 0.2, 0.0]))
    t_boot, t_stat, _ = _wildboottest_tboot(X, y, cl, 1, "webb", 3)
    res = wild_cluster_bootstrap(X, y, cl, term=1, weight_type="webb", rng=3, ci=False)
    p_wb = np.mean(np.abs(t_boot) > abs(t_stat))
    se = np.sqrt(2 * p_wb * (1 - p_wb) / 9999)
    assert abs(res.p_value - p_wb) < 4 * se + 1e-3


# ---------------------------------------------------------------- (d) size under H0


def test_rejection_rate_under_null_near_five_percent():
    """WCR size with 10 clusters is near 5%, and much nearer than CR1's.

    2,000 data sets with 10 unequal clusters and a regressor correlated within clusters: WCR
    rejects about 6.5% (a slight over-rejection with G = 10 is expected), CR1 with t(G-1)
    critical values about 10%.
    """
    from scipy import stats

    rng = np.random.default_rng(2024)
    G, reps = 10, 2000
    cl = np.repeat(np.arange(G), [10, 12, 14, 16, 18, 20, 22, 24, 26, 28])
    n = len(cl)
    reject = np.empty(reps, bool)
    reject_cr1 = np.empty(reps, bool)
    for r in range(reps):  # Monte Carlo over data sets, not over bootstrap replicates
        x = rng.standard_normal(G)[cl] + rng.standard_normal(n)
        y = 1.0 + rng.standard_normal(G)[cl] + rng.standard_normal(n)
        X = np.column_stack([np.ones(n), x])
        res = wild_cluster_bootstrap(X, y, cl, term=1, ci=False)
        reject[r] = res.p_value <= 0.05
        reject_cr1[r] = 2 * stats.t.sf(abs(res.statistic), G - 1) <= 0.05
    assert 0.035 <= reject.mean() <= 0.08
    assert reject.mean() < reject_cr1.mean() - 0.02


# ---------------------------------------------------------------- (e) test inversion


@pytest.mark.parametrize("weight_type,rng", [("rademacher", None), ("webb", 5)])
def test_ci_bounds_are_where_p_crosses_alpha(weight_type, rng):
    X, y, cl = make_data(8, n=160, beta=np.array([0.0, 0.3, 0.0]))
    res = wild_cluster_bootstrap(X, y, cl, term=1, weight_type=weight_type, rng=rng,
                                 n_resamples=1999, level=0.9)
    assert res.ci_lower < res.estimate < res.ci_upper
    eps = 1e-7 * res.std_error
    alpha = 0.1

    def p_at(null):
        return wild_cluster_bootstrap(X, y, cl, term=1, null=null, weight_type=weight_type,
                                      rng=rng, n_resamples=1999, ci=False).p_value

    for bound, inward in [(res.ci_lower, +1), (res.ci_upper, -1)]:
        assert p_at(bound + inward * eps) > alpha >= p_at(bound - inward * eps)
        # the p-value at the bound is 1 - level up to the jump of one step (one pair of t*)
        assert abs(p_at(bound) - alpha) <= 2 / res.n_resamples + 1e-12
    # wider for a higher level, and the estimate's own null is never rejected
    wide = wild_cluster_bootstrap(X, y, cl, term=1, weight_type=weight_type, rng=rng,
                                  n_resamples=1999, level=0.99)
    assert wide.ci_lower < res.ci_lower and wide.ci_upper > res.ci_upper
    assert p_at(res.estimate) > 0.9


def test_ci_intercept_only_enumerated_and_few_clusters():
    r = np.random.default_rng(9)
    cl = np.repeat(np.arange(10), 12)
    y = 2.0 + r.standard_normal(10)[cl] + r.standard_normal(120)
    res = wild_cluster_bootstrap(np.ones(120), y, cl, term=0)
    assert res.enumerated and res.ci_lower < y.mean() < res.ci_upper
    # with G = 4 there are only 16 sign vectors: p is a multiple of 2/16, the CI still brackets
    few = cl < 4
    res4 = wild_cluster_bootstrap(np.ones(few.sum()), y[few], cl[few], term=0, null=2.0,
                                  level=0.99)
    assert res4.n_resamples == 16 and (res4.p_value * 8) == round(res4.p_value * 8)
    assert res4.ci_lower < res4.estimate < res4.ci_upper
    off = wild_cluster_bootstrap(np.ones(120), y, cl, term=0, ci=False)
    assert np.isnan(off.ci_lower) and np.isnan(off.ci_upper)


# ---------------------------------------------------------------- (f) properties


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), G=st.integers(3, 8), term=st.integers(0, 1))
def test_invariant_to_relabelling_clusters_and_permuting_rows(seed, G, term):
    X, y, cl = make_data(seed, n=8 * G, G=G, p=2)
    base = wild_cluster_bootstrap(X, y, cl, term=term, null=0.1)
    assert base.enumerated
    r = np.random.default_rng(seed + 1)
    relabel = (r.permutation(G) * 7 + 3)[cl]
    a = wild_cluster_bootstrap(X, y, relabel, term=term, null=0.1)
    order = r.permutation(len(y))
    b = wild_cluster_bootstrap(X[order], y[order], cl[order], term=term, null=0.1)
    for other in (a, b):
        assert other.p_value == base.p_value
        assert other.statistic == pytest.approx(base.statistic, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(np.sort(other.t_star), np.sort(base.t_star), atol=1e-8)
        np.testing.assert_allclose([other.ci_lower, other.ci_upper],
                                   [base.ci_lower, base.ci_upper], rtol=1e-6, atol=1e-9)
    # sampled weights: permuting rows keeps the draws (cluster codes are the sorted labels)
    c = wild_cluster_bootstrap(X, y, cl, term=term, n_resamples=99, rng=seed,
                               full_enumeration=False, ci=False)
    d = wild_cluster_bootstrap(X[order], y[order], cl[order], term=term, n_resamples=99,
                               rng=seed, full_enumeration=False, ci=False)
    np.testing.assert_allclose(c.t_star, d.t_star, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 50), shift=st.floats(-5, 5))
def test_affine_equivariance(seed, scale, shift):
    X, y, cl = make_data(seed, n=60, G=6, p=2)
    base = wild_cluster_bootstrap(X, y, cl, term=1, null=0.2)
    moved = wild_cluster_bootstrap(X, scale * y + shift * X[:, 1], cl, term=1,
                                   null=scale * 0.2 + shift)
    assert moved.p_value == base.p_value
    assert moved.estimate == pytest.approx(scale * base.estimate + shift, rel=1e-9, abs=1e-9)
    assert moved.ci_lower == pytest.approx(scale * base.ci_lower + shift, rel=1e-6, abs=1e-7)
    assert moved.ci_upper == pytest.approx(scale * base.ci_upper + shift, rel=1e-6, abs=1e-7)


# ---------------------------------------------------------------- (g) bad input


def test_bad_input():
    X, y, cl = make_data(10, n=40, G=5)
    Xc, yc, clc = X.copy(), y.copy(), cl.copy()
    with pytest.raises(DesignError, match="at least 2 clusters"):
        wild_cluster_bootstrap(X, y, np.zeros(40), term=1)
    with pytest.raises(DataError, match="out of range"):
        wild_cluster_bootstrap(X, y, cl, term=3)
    with pytest.raises(DataError, match="integer column index"):
        wild_cluster_bootstrap(X, y, cl, term="x")
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(DataError, match=r"`X` has 1 non-finite value"):
        wild_cluster_bootstrap(Xn, y, cl, term=1)
    yn = y.copy()
    yn[0] = np.nan
    with pytest.raises(DataError, match="`y` has 1 NaN"):
        wild_cluster_bootstrap(X, yn, cl, term=1)
    cln = cl.astype(float)
    cln[5] = np.nan
    with pytest.raises(DataError, match="`clusters` has 1 NaN"):
        wild_cluster_bootstrap(X, y, cln, term=1)
    clo = cl.astype(object)
    clo[5] = None
    with pytest.raises(DataError, match="missing"):
        wild_cluster_bootstrap(X, y, clo, term=1)
    with pytest.raises(DataError, match="length 40"):
        wild_cluster_bootstrap(X, y, cl[:-1], term=1)
    with pytest.raises(DataError, match="`X` must have 39 rows"):
        wild_cluster_bootstrap(X, y[:-1], cl, term=1)
    for w in (np.r_[-1.0, np.ones(39)], np.r_[np.nan, np.ones(39)], np.ones(3)):
        with pytest.raises(DataError, match="weights"):
            wild_cluster_bootstrap(X, y, cl, term=1, weights=w)
    with pytest.raises(DataError, match="weight_type"):
        wild_cluster_bootstrap(X, y, cl, term=1, weight_type="gaussian?")
    with pytest.raises(DataError, match="n_resamples"):
        wild_cluster_bootstrap(X, y, cl, term=1, n_resamples=0)
    with pytest.raises(DataError, match="level"):
        wild_cluster_bootstrap(X, y, cl, term=1, level=1.5)
    with pytest.raises(DataError, match="null"):
        wild_cluster_bootstrap(X, y, cl, term=1, null=np.inf)
    with pytest.raises(DataError, match="batch"):
        wild_cluster_bootstrap(X, y, cl, term=1, batch=0)
    with pytest.raises(DataError, match="rng"):
        wild_cluster_bootstrap(X, y, cl, term=1, rng="seed")
    with pytest.raises(DataError, match="full_enumeration"):
        wild_cluster_bootstrap(X, y, cl, term=1, full_enumeration="yes")
    # Webb enumerates since issue 14 (6**G vectors, G <= 8); Mammen and normal never do
    for kind in ("mammen", "normal"):
        with pytest.raises(DesignError, match="rademacher"):
            wild_cluster_bootstrap(X, y, cl, term=1, weight_type=kind, full_enumeration=True)
    with pytest.raises(DesignError, match="collinear"):
        wild_cluster_bootstrap(np.column_stack([X, X[:, 1]]), y, cl, term=1)
    with pytest.raises(DesignError, match="more rows"):
        wild_cluster_bootstrap(X[:3], y[:3], [0, 1, 2], term=1)
    with pytest.raises(DesignError, match="residuals"):
        wild_cluster_bootstrap(X, X @ np.array([1.0, 2.0, 3.0]), cl, term=1)
    with pytest.raises(SosstatsError):
        wild_cluster_bootstrap(X, y, np.arange(40).reshape(20, 2), term=1)
    # inputs untouched
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(cl, clc)


# ---------------------------------------------------------------- printing (issue 13)

def test_pvalue_text_floor_and_counts():
    from sosstats._kernels.wild import pvalue_text

    assert pvalue_text(0.0, 1024, True) == "< 0.001 (all 1,024 sign vectors)"
    assert pvalue_text(0.0, 256, True) == "< 0.004 (all 256 sign vectors)"
    assert pvalue_text(0.0, 9999, False) == "< 0.0002 (9,999 draws)"
    assert pvalue_text(0.25, 1024, True) == "0.25"


def test_result_is_a_table_result_and_prints_the_floor():
    from sosstats._results import TableResult

    r = np.random.default_rng(0)
    cl = np.repeat(np.arange(10), 8)
    y = 5.0 + r.normal(size=80)                      # a mean far from 0: p at the floor
    res = wild_cluster_bootstrap(np.ones((80, 1)), y, cl, term=0)
    assert isinstance(res, TableResult) and not hasattr(res, "plot")
    assert res.p_value == 0.0 and res.enumerated and res.n_resamples == 1024
    text = str(res)
    assert "< 0.001 (all 1,024 sign vectors)" in text and "0.0000" not in text
    assert "ties" in text
    tidy = res.tidy()
    assert tidy.loc[0, "p_value"] == 0.0 and tidy.loc[0, "n_resamples"] == 1024
    assert res.to_dict()["table"][0]["n_resamples"] == 1024
    with pytest.raises(DesignError, match="level"):
        res.tidy(level=0.9)
