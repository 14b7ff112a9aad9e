"""sosstats._wls: weighted least squares and its robust covariances against statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from sosstats._wls import hc_vcov, influence_vcov, robust_vcov, wls
from sosstats.errors import DataError, DesignError


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=n) * (1 + np.abs(X[:, 1]))
    w = rng.gamma(2.0, 1.0, n)
    w[:10] = 0.0                                   # rows with weight 0 are dropped
    g = rng.integers(0, 25, n)
    return X, y, w, g


def _sm(X, y, w, **fit):
    keep = w > 0
    return sm.WLS(y[keep], X[keep], weights=w[keep]).fit(**fit)


def test_coefficients_match_statsmodels(problem):
    X, y, w, _ = problem
    fit = wls(X, y, w)
    ref = _sm(X, y, w)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.resid, ref.resid, rtol=1e-10, atol=1e-12)
    assert fit.nobs == 290


@pytest.mark.parametrize("kind", ["hc0", "hc1", "hc2", "hc3"])
def test_hc_matches_statsmodels(problem, kind):
    X, y, w, _ = problem
    fit = wls(X, y, w)
    ref = _sm(X, y, w, cov_type=kind.upper())
    np.testing.assert_allclose(hc_vcov(fit, kind), ref.cov_params(), rtol=1e-10, atol=1e-14)
    rv = robust_vcov(fit, kind)
    np.testing.assert_allclose(rv.std_errors, ref.bse, rtol=1e-10)
    assert (rv.df == 290 - 3).all() and rv.n_clusters is None


def test_cluster_matches_statsmodels(problem):
    X, y, w, g = problem
    fit = wls(X, y, w)
    ref = _sm(X, y, w, cov_type="cluster", cov_kwds={"groups": g[w > 0]})
    for clusters in (g, g[w > 0]):                 # on all input rows or on the rows used
        rv = robust_vcov(fit, "cr1", clusters)
        np.testing.assert_allclose(rv.vcov, ref.cov_params(), rtol=1e-10, atol=1e-14)
        assert rv.n_clusters == len(np.unique(g[w > 0])) and (rv.df == rv.n_clusters - 1).all()


def test_ols_without_weights(problem):
    X, y, _, g = problem
    fit = wls(X, y)
    ref = sm.OLS(y, X).fit(cov_type="HC1")
    np.testing.assert_allclose(hc_vcov(fit, "hc1"), ref.cov_params(), rtol=1e-10)
    refc = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": g})
    np.testing.assert_allclose(robust_vcov(fit, "cr1", g).vcov, refc.cov_params(), rtol=1e-10)


def test_influence_vcov_of_a_weighted_mean_is_its_hc1_and_cr1(problem):
    _, y, w, g = problem
    keep = w > 0
    ones = np.ones((keep.sum(), 1))
    fit = wls(ones, y[keep], w[keep])
    cov, df = influence_vcov(fit.influence)
    np.testing.assert_allclose(cov, hc_vcov(fit, "hc1"), rtol=1e-10)
    assert df == np.inf
    cov, df = influence_vcov(fit.influence, clusters=g[keep])
    ref = robust_vcov(fit, "cr1", g[keep])
    np.testing.assert_allclose(cov, ref.vcov, rtol=1e-10)
    assert df == ref.n_clusters - 1


def test_bad_inputs():
    X = np.column_stack([np.ones(5), np.arange(5.0)])
    with pytest.raises(DesignError, match="collinear"):
        wls(np.column_stack([X, 2 * X[:, 1]]), np.arange(5.0))
    with pytest.raises(DesignError, match="cannot identify"):
        wls(X[:2], [1.0, 2.0])
    with pytest.raises(DataError, match="non-negative"):
        wls(X, np.arange(5.0), [1, 1, -1, 1, 1])
    with pytest.raises(DataError, match="finite"):
        wls(X, [1.0, np.nan, 2, 3, 4])
    with pytest.raises(DesignError, match="leverage 1"):
        hc_vcov(wls(np.column_stack([X, [0, 0, 0, 0, 1.0]]), np.arange(5.0) ** 2), "hc3")
