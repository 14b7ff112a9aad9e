"""Tests of the entropy-balancing kernel (sosstats._kernels.entropy)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from sosstats._kernels.entropy import EntropyFit, entropy_balance
from sosstats.errors import ConvergenceError, DataError


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.gamma(2.0, 2.0, n),
                         (rng.random(n) < 0.4).astype(float)])
    return X


def test_margins_met_and_weights_sum_to_n():
    X = _data()
    t = X.mean(0) + np.array([0.2, -0.3, 0.05])
    fit = entropy_balance(X, t)
    assert isinstance(fit, EntropyFit)
    assert fit.converged
    np.testing.assert_allclose(fit.weights @ X / fit.weights.sum(), t, atol=1e-8)
    assert fit.max_abs_error < 1e-8
    assert fit.weights.sum() == pytest.approx(X.shape[0])
    assert (fit.weights > 0).all()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.iterations = 3


def test_weights_have_exponential_tilt_form():
    X = _data(seed=1)
    d = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    t = X.mean(0) + 0.1
    fit = entropy_balance(X, t, base=d)
    expected = d * np.exp(X @ fit.lambda_)
    np.testing.assert_allclose(fit.weights, expected / expected.sum() * X.shape[0], rtol=1e-9)


def test_equals_scipy_dual_solution():
    X = _data(n=120, seed=3)
    t = X.mean(0) + np.array([-0.1, 0.4, -0.05])
    d = np.random.default_rng(4).uniform(0.5, 1.5, X.shape[0])
    C = X - t

    def dual(lam):
        e = C @ lam
        mx = e.max()
        return mx + np.log(np.sum(d * np.exp(e - mx)))

    res = minimize(dual, np.zeros(3), method="BFGS", options={"gtol": 1e-12})
    wref = d * np.exp(C @ res.x)
    wref = wref / wref.sum() * X.shape[0]
    fit = entropy_balance(X, t, base=d)
    np.testing.assert_allclose(fit.weights, wref, rtol=1e-5)
    np.testing.assert_allclose(fit.lambda_, res.x, rtol=1e-4, atol=1e-6)


def test_variance_constraints():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 2))
    t = np.array([0.1, -0.1])
    v = np.array([1.2, np.nan])
    fit = entropy_balance(X, t, target_vars=v, names=["age", "score"])
    p = fit.weights / fit.weights.sum()
    np.testing.assert_allclose(p @ X, t, atol=1e-8)
    assert p @ (X[:, 0] - t[0]) ** 2 == pytest.approx(1.2, abs=1e-8)
    assert fit.names == ("age", "score", "variance of age")
    assert fit.lambda_.shape == (3,)


def test_zero_base_weights_get_zero():
    X = _data(seed=6)
    d = np.ones(X.shape[0])
    d[:10] = 0
    fit = entropy_balance(X, X[10:].mean(0) + 0.01, base=d)
    assert (fit.weights[:10] == 0).all()
    assert fit.weights.sum() == pytest.approx(X.shape[0])


def test_constant_column_with_equal_target_is_dropped():
    X = _data(seed=7)
    X[:, 2] = 1.0
    fit = entropy_balance(X, np.array([0.1, X[:, 1].mean(), 1.0]))
    assert fit.converged and fit.lambda_[2] == 0


def test_matches_at_unweighted_means_gives_base_weights():
    X = _data(seed=8)
    fit = entropy_balance(X, X.mean(0))
    np.testing.assert_allclose(fit.weights, 1.0, atol=1e-10)


# ---------------------------------------------------------------- properties


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 200), k=st.integers(1, 4))
def test_property_feasible_random_targets_hit(seed, n, k):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    a = rng.dirichlet(np.ones(n))  # a strictly positive convex combination: feasible
    t = a @ X
    fit = entropy_balance(X, t)
    assert (fit.weights >= 0).all()
    np.testing.assert_allclose(fit.weights @ X / n, t, atol=1e-8)
    perm = rng.permutation(n)
    fit2 = entropy_balance(X[perm], t)
    np.testing.assert_allclose(fit2.weights, fit.weights[perm], rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- bad input


def test_target_outside_hull_names_covariate():
    X = _data(seed=9)
    t = X.mean(0)
    t[1] = X[:, 1].max() + 1
    with pytest.raises(ConvergenceError, match="x1"):
        entropy_balance(X, t)


def test_target_inside_box_outside_hull():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.2, 0.2]])
    with pytest.raises(ConvergenceError, match="age|score"):
        entropy_balance(X, [0.7, 0.7], names=["age", "score"], max_iter=60)
    fit = entropy_balance(X, [0.7, 0.7], max_iter=20, raise_on_failure=False)
    assert not fit.converged


def test_nan_covariate_named():
    X = _data()
    X[3, 1] = np.nan
    with pytest.raises(DataError, match="income"):
        entropy_balance(X, np.zeros(3), names=["a", "income", "c"])


def test_constant_column_different_target():
    X = _data()
    X[:, 0] = 2.0
    with pytest.raises(DataError, match="constant"):
        entropy_balance(X, np.array([1.0, X[:, 1].mean(), 0.4]))


@pytest.mark.parametrize("kwargs", [
    {"target_means": np.zeros(2)},
    {"target_means": np.zeros(3), "base": np.ones(5)},
    {"target_means": np.zeros(3), "base": -np.ones(400)},
    {"target_means": np.zeros(3), "base": np.zeros(400)},
    {"target_means": np.zeros(3), "target_vars": np.ones(2)},
    {"target_means": np.array([0.0, np.nan, 0.0])},
    {"target_means": np.zeros(3), "names": ["a"]},
    {"target_means": np.zeros(3), "tol": -1.0},
])
def test_bad_shapes_and_options(kwargs):
    with pytest.raises(DataError):
        entropy_balance(_data(), **kwargs)


def test_input_not_modified():
    X = _data()
    X0 = X.copy()
    entropy_balance(X, X.mean(0) + 0.1)
    np.testing.assert_array_equal(X, X0)
