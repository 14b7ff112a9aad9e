"""Tests of the raking / calibration kernel.

References: R's survey::rake and survey::calibrate (frozen fixture), closed-form GREG weights,
the row-level IPF path against the cell-collapsed path, margins met, invariances and bad input.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.calibrate import CalibrationFit, calibrate, rake
from sosstats.errors import ConvergenceError, DataError, DesignError

FIX = Path(__file__).resolve().parents[1] / "fixtures"


# ----------------------------------------------------------------------------- fixture data

@pytest.fixture(scope="module")
def ref():
    inp = pd.read_csv(FIX / "calibrate_reference_input.csv")
    out = pd.read_csv(FIX / "calibrate_reference_r.csv")
    region = inp["region"].str[1:].astype(int).to_numpy() - 1
    cohort = inp["cohort"].to_numpy() - 1
    X = np.column_stack([np.ones(len(inp)), region == 1, region == 2, region == 3,
                         cohort == 1, inp["x"].to_numpy()]).astype(float)

    def get(method, quantity):
        sel = out[(out["method"] == method) & (out["quantity"] == quantity)]
        return sel.sort_values("index")["value"].to_numpy()

    return {"region": region, "cohort": cohort, "X": X, "d": inp["d"].to_numpy(), "get": get}


def margins_error(codes, targets, w):
    return max(np.max(np.abs(np.bincount(c, weights=w, minlength=len(t)) - t) / (1 + t))
               for c, t in zip(codes, targets))


# ----------------------------------------------------------------------------- R references

def test_rake_matches_survey_rake(ref):
    t = ref["get"]("rake", "total")
    codes, targets = [ref["region"], ref["cohort"]], [t[:4], t[4:]]
    fit = rake(codes, targets, base=ref["d"])
    assert isinstance(fit, CalibrationFit) and fit.converged
    np.testing.assert_allclose(fit.weights, ref["get"]("rake", "weight"), rtol=1e-8, atol=0)
    assert margins_error(codes, targets, fit.weights) <= 1e-10
    assert fit.max_abs_error < 1e-7


@pytest.mark.parametrize("calfun", ["linear", "raking", "logit"])
def test_calibrate_matches_survey_calibrate(ref, calfun):
    t = ref["get"](calfun, "total")
    bounds = (0.5, 2.5) if calfun == "logit" else None
    fit = calibrate(ref["X"], t, base=ref["d"], calfun=calfun, bounds=bounds)
    np.testing.assert_allclose(fit.weights, ref["get"](calfun, "weight"), rtol=1e-8, atol=0)
    resid = np.abs(ref["X"].T @ fit.weights - t) / (1 + np.abs(t))
    assert resid.max() <= 1e-10
    assert fit.max_abs_error == pytest.approx(np.max(np.abs(ref["X"].T @ fit.weights - t)))
    if calfun == "logit":
        g = fit.weights / ref["d"]
        assert g.min() > 0.5 and g.max() < 2.5
    if calfun == "linear":
        assert fit.iterations == 1


def test_logit_and_raking_differ_from_linear(ref):
    # the fixture is informative: the three distance functions give different weights
    get = ref["get"]
    assert np.max(np.abs(get("linear", "weight") - get("raking", "weight"))) > 1e-3
    assert np.max(np.abs(get("logit", "weight") - get("raking", "weight"))) > 1e-3


# ----------------------------------------------------------------------------- closed forms

def test_linear_is_greg_closed_form():
    rng = np.random.default_rng(1)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    d = rng.uniform(0.5, 3, n)
    T = X.T @ d * np.array([1.1, 0.9, 1.05]) + np.array([0, 5.0, 0])
    lam = np.linalg.solve(X.T @ (X * d[:, None]), T - X.T @ d)
    fit = calibrate(X, T, base=d, calfun="linear")
    np.testing.assert_allclose(fit.weights, d * (1 + X @ lam), rtol=1e-12)


def test_raking_calfun_equals_ipf_on_dummies():
    # exponential calibration on full dummy sets of two margins is raking
    rng = np.random.default_rng(2)
    n = 500
    a, b = rng.integers(0, 3, n), rng.integers(0, 4, n)
    d = rng.uniform(1, 2, n)
    ta = np.array([200.0, 300.0, 250.0])
    tb = np.array([150.0, 200.0, 180.0, 220.0])
    ipf = rake([a, b], [ta, tb], base=d)
    X = np.column_stack([np.eye(3)[a], np.eye(4)[b][:, 1:]])
    cal = calibrate(X, np.concatenate([ta, tb[1:]]), base=d, calfun="raking")
    np.testing.assert_allclose(cal.weights, ipf.weights, rtol=1e-9)


def test_single_margin_is_post_stratification():
    c = np.array([0, 0, 1, 1, 1, 2])
    d = np.array([1.0, 3.0, 1.0, 1.0, 2.0, 5.0])
    t = np.array([8.0, 12.0, 10.0])
    fit = rake([c], [t], base=d)
    np.testing.assert_allclose(fit.weights, d * (t / np.bincount(c, weights=d))[c])
    assert fit.iterations == 1


def test_cell_path_equals_row_path(monkeypatch):
    import sosstats._kernels.calibrate as mod

    rng = np.random.default_rng(3)
    n = 2000
    codes = [rng.integers(0, k, n) for k in (3, 4, 5)]
    d = rng.uniform(0.5, 2, n)
    targets = [np.bincount(c, minlength=k) * rng.uniform(0.7, 1.3, k)
               for c, k in zip(codes, (3, 4, 5))]
    targets = [t / t.sum() * 2500 for t in targets]
    cells = rake(codes, targets, base=d)
    monkeypatch.setattr(mod, "_MAX_CELLS_FACTOR", 0)
    monkeypatch.setattr(mod, "_MIN_CELLS", 0)
    rows = mod.rake(codes, targets, base=d)
    np.testing.assert_allclose(rows.weights, cells.weights, rtol=1e-9)
    assert margins_error(codes, targets, rows.weights) <= 1e-10


def test_zero_target_category_gets_zero_weight():
    c0 = np.array([0, 0, 1, 1, 2, 2])
    c1 = np.array([0, 1, 0, 1, 0, 1])
    fit = rake([c0, c1], [np.array([3.0, 3.0, 0.0]), np.array([2.0, 4.0])])
    assert np.all(fit.weights[c0 == 2] == 0)
    assert margins_error([c0, c1], [np.array([3.0, 3.0, 0.0]), np.array([2.0, 4.0])],
                         fit.weights) <= 1e-10


def test_does_not_modify_inputs(ref):
    d = ref["d"].copy()
    X = ref["X"].copy()
    t = ref["get"]("raking", "total").copy()
    calibrate(X, t, base=d, calfun="raking")
    codes = [ref["region"].copy(), ref["cohort"].copy()]
    rake(codes, [np.array([110.0, 115, 30, 45]), np.array([150.0, 150])], base=d)
    np.testing.assert_array_equal(d, ref["d"])
    np.testing.assert_array_equal(X, ref["X"])
    np.testing.assert_array_equal(codes[0], ref["region"])


# ----------------------------------------------------------------------------- properties

@st.composite
def feasible_margins(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(20, 150))
    ks = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    codes = [rng.integers(0, k, n) for k in ks]
    for c, k in zip(codes, ks):  # every category occupied
        c[:k] = np.arange(k)
    d = rng.uniform(0.2, 5, n)
    # feasible targets: margins of some positive weights on the same units
    truth = d * rng.uniform(0.3, 3, n)
    targets = [np.bincount(c, weights=truth, minlength=k) for c, k in zip(codes, ks)]
    return codes, targets, d, rng.permutation(n)


@settings(max_examples=40, deadline=None)
@given(feasible_margins())
def test_rake_properties(case):
    codes, targets, d, perm = case
    fit = rake(codes, targets, base=d)
    assert np.all(fit.weights >= 0)
    assert margins_error(codes, targets, fit.weights) <= 1e-10
    permuted = rake([c[perm] for c in codes], targets, base=d[perm])
    np.testing.assert_allclose(permuted.weights, fit.weights[perm], rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(feasible_margins(), st.sampled_from(["raking", "logit"]))
def test_calibrate_properties(case, calfun):
    codes, targets, d, perm = case
    # dummies of every category of the first margin (they sum to the intercept) + the rest
    X = np.column_stack([np.eye(len(targets[0]))[codes[0]]]
                        + [np.eye(len(t))[c][:, 1:] for c, t in zip(codes[1:], targets[1:])])
    T = np.concatenate([targets[0]] + [t[1:] for t in targets[1:]])
    bounds = (0.0, 10.0) if calfun == "logit" else None  # truth has g in [0.3, 3]: feasible
    fit = calibrate(X, T, base=d, calfun=calfun, bounds=bounds)
    assert np.all(fit.weights >= 0)
    assert np.max(np.abs(X.T @ fit.weights - T) / (1 + np.abs(T))) <= 1e-10
    if calfun == "logit":
        assert np.all(fit.weights / d <= 10.0)
    permuted = calibrate(X[perm], T, base=d[perm], calfun=calfun, bounds=bounds)
    np.testing.assert_allclose(permuted.weights, fit.weights[perm], rtol=1e-8)


# ----------------------------------------------------------------------------- failures

def test_infeasible_logit_bounds_name_the_margin(ref):
    t = ref["get"]("logit", "total")
    names = ["(Intercept)", "regionR2", "regionR3", "regionR4", "cohort2", "x"]
    with pytest.raises(ConvergenceError, match="regionR3.*cannot be met.*bounds"):
        calibrate(ref["X"], t, base=ref["d"], calfun="logit", bounds=(0.9, 1.1), names=names)


def test_incompatible_rake_margins_raise_convergence_error():
    # structural zeros: category 0 of margin 0 only holds category 0 of margin 1
    c0 = np.array([0, 0, 1, 1])
    c1 = np.array([0, 0, 0, 1])
    with pytest.raises(ConvergenceError, match="margin [01]"):
        rake([c0, c1], [np.array([5.0, 5.0]), np.array([2.0, 8.0])], max_iter=50)


def test_incompatible_calibration_totals_raise():
    X = np.column_stack([np.ones(4), np.ones(4)])
    with pytest.raises(ConvergenceError, match="column"):
        calibrate(X, [4.0, 5.0], calfun="raking", max_iter=20)


@pytest.mark.parametrize("kwargs, match", [
    ({"targets": [np.array([1.0, 2.0]), np.array([1.0, 1.0])]}, "same total"),
    ({"targets": [np.array([1.0, 2.0, 1.0]), np.array([4.0, 0.0])]}, "margin 0: category 2"),
    ({"targets": [np.array([-1.0, 5.0]), np.array([2.0, 2.0])]}, "margin 0.*non-negative"),
    ({"targets": [np.array([np.nan, 5.0]), np.array([2.0, 2.0])]}, "margin 0.*finite"),
    ({"targets": [np.array([2.0, 2.0])]}, "2 margins.*1"),
    ({"codes": [np.array([0, 1, 2, 1]), np.array([0, 1, 0, 1])]}, "margin 0: code 2"),
    ({"codes": [np.array([0, 1, 0, -1]), np.array([0, 1, 0, 1])]}, "margin 0: code -1"),
    ({"codes": [np.array([0.0, 1, 0, 1]), np.array([0, 1, 0, 1])]}, "margin 0.*integers"),
    ({"codes": [np.array([0, 1, 0]), np.array([0, 1, 0, 1])]}, "margin 1.*length"),
    ({"codes": []}, "at least one margin"),
    ({"base": np.array([1.0, 0.0, 1.0, 1.0])}, "positive"),
    ({"base": np.array([1.0, np.nan, 1.0, 1.0])}, "NaN"),
    ({"base": np.ones(3)}, "shape"),
    ({"tol": -1.0}, "tol"),
])
def test_rake_bad_input(kwargs, match):
    args = {"codes": [np.array([0, 1, 0, 1]), np.array([0, 1, 1, 0])],
            "targets": [np.array([2.0, 2.0]), np.array([1.0, 3.0])]}
    args.update({k: v for k, v in kwargs.items() if k in args})
    opts = {k: v for k, v in kwargs.items() if k not in args}
    with pytest.raises(DataError, match=match):
        rake(args["codes"], args["targets"], **opts)


def test_rake_bad_max_iter():
    with pytest.raises(DesignError, match="max_iter"):
        rake([np.array([0, 1])], [np.array([1.0, 1.0])], max_iter=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"calfun": "probit"}, "calfun"),
    ({"calfun": "logit"}, "needs `bounds"),
    ({"calfun": "logit", "bounds": (1.2, 3.0)}, "0 <= L < 1 < U"),
    ({"calfun": "logit", "bounds": (0.5,)}, "pair"),
    ({"calfun": "linear", "bounds": (0.5, 2.0)}, "only supported with calfun='logit'"),
    ({"totals": [1.0, 2.0, 3.0]}, "one value per column"),
    ({"totals": [np.nan, 2.0]}, "totals"),
    ({"X": np.array([[1.0, np.nan], [1.0, 2.0], [1.0, 3.0]])}, "column 1"),
    ({"names": ["a"]}, "names"),
    ({"base": [1.0, -1.0, 1.0]}, "positive"),
    ({"tol": 0}, "tol"),
])
def test_calibrate_bad_input(kwargs, match):
    args = {"X": np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]]), "totals": [4.0, 9.0]}
    args.update({k: v for k, v in kwargs.items() if k in args})
    opts = {k: v for k, v in kwargs.items() if k not in args}
    with pytest.raises(DataError, match=match):
        calibrate(args["X"], args["totals"], **opts)
