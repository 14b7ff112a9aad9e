"""attrition_weights(base_weights=...): the attrition adjustment multiplies design weights.

Closed forms: one-margin raking ``w = d T_k / sum_{resp in k} d`` with ``T_k`` the d-weighted T1
count; linear calibration (GREG) ``w = d (1 + x' lambda)``; unstabilised logit ``w = d / p``;
entropy balancing ``w = d exp(x' lambda)``. Invariances: equal base weights reproduce the
unweighted method up to the scale, base weights times a constant give weights times it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import ConvergenceError, DataError
from sosstats.weighting import attrition_weights

METHODS = ["logit", "probit", "entropy", "rake", "calibrate"]


def _toy(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    p = 1 / (1 + np.exp(-(0.3 + 0.8 * x + 0.5 * (g == "b"))))
    r = rng.random(n) < p
    d = rng.choice([1.0, 2.5, 4.0], size=n) * (1 + 0.5 * (g == "c"))
    return pd.DataFrame({"x": x, "g": pd.Categorical(g), "r": r.astype(int), "d": d},
                        index=rng.permutation(np.arange(1000, 1000 + n)))


def _covs(method):
    return ["g"] if method == "rake" else ["x", "g"]


@pytest.fixture(scope="module")
def toy():
    return _toy()


@pytest.mark.parametrize("method", METHODS)
def test_equal_base_weights_rescale_the_unweighted_method(toy, method):
    plain = attrition_weights(toy, responded="r", covariates=_covs(method), method=method)
    based = attrition_weights(toy, responded="r", covariates=_covs(method), method=method,
                              base_weights=np.full(len(toy), 3.0))
    n, n_r = len(toy), int(toy["r"].sum())
    np.testing.assert_allclose(based.weights.to_numpy(),
                               plain.weights.to_numpy() * 3.0 * n / n_r, rtol=1e-8, atol=1e-12)
    assert based.population_total == pytest.approx(3.0 * n)
    assert based.weights.sum() == pytest.approx(3.0 * n)


def test_rake_one_margin_is_the_weighted_cell_ratio(toy):
    res = attrition_weights(toy, responded="r", covariates=["g"], method="rake",
                            base_weights="d")
    d, r, g = toy["d"].to_numpy(), toy["r"].to_numpy() == 1, toy["g"].astype(str).to_numpy()
    want = np.zeros(len(toy))
    for lev in "abc":
        k = g == lev
        want[k & r] = d[k & r] * d[k].sum() / d[k & r].sum()
    np.testing.assert_allclose(res.weights.to_numpy(), want, rtol=1e-10)
    # before base weights existed the cell factor ignored d: d-weighted counts were not met
    plain = attrition_weights(toy, responded="r", covariates=["g"], method="rake")
    assert not np.allclose(plain.weights.to_numpy() * d.sum() / r.sum(), want, rtol=1e-3)


def test_rake_two_margins_meet_the_weighted_t1_counts():
    df = _toy(seed=3)
    df["h"] = np.where(df["x"] > 0, "hi", "lo")
    res = attrition_weights(df, responded="r", covariates=["g", "h"], method="rake",
                            base_weights="d")
    w, d = res.weights.to_numpy(), df["d"].to_numpy()
    for c in ("g", "h"):
        got = pd.Series(w).groupby(df[c].astype(str).to_numpy()).sum()
        want = pd.Series(d).groupby(df[c].astype(str).to_numpy()).sum()
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)
    # raking ratio: g = w / d is constant within each cell of g x h
    r = df["r"].to_numpy() == 1
    ratio = pd.Series(w[r] / d[r]).groupby([df["g"].astype(str).to_numpy()[r],
                                            df["h"].to_numpy()[r]]).agg(np.ptp)
    assert ratio.max() < 1e-10


def test_linear_calibration_is_greg_from_the_base_weights(toy):
    res = attrition_weights(toy, responded="r", covariates=["x", "g"], method="calibrate",
                            base_weights="d")
    d, r = toy["d"].to_numpy(), toy["r"].to_numpy() == 1
    X = np.column_stack([toy["g"] == lev for lev in "abc"] + [toy["x"]]).astype(float)
    T = d @ X
    lam = np.linalg.solve(X[r].T @ (X[r] * d[r, None]), T - X[r].T @ d[r])
    want = np.zeros(len(toy))
    want[r] = d[r] * (1 + X[r] @ lam)
    np.testing.assert_allclose(res.weights.to_numpy(), want, rtol=1e-9, atol=1e-12)
    assert res.population_total == pytest.approx(d.sum())


def test_logit_calibration_bounds_are_on_g(toy):
    res = attrition_weights(toy, responded="r", covariates=["x", "g"], method="calibrate",
                            calfun="logit", bounds=(0.3, 3.0), base_weights="d")
    d, r = toy["d"].to_numpy(), toy["r"].to_numpy() == 1
    g = res.weights.to_numpy()[r] / d[r]
    assert g.min() > 0.3 and g.max() < 3.0
    assert res.weights.to_numpy() @ toy["x"].to_numpy() == pytest.approx(d @ toy["x"], rel=1e-9)


def test_infeasible_bounds_on_g_name_the_bounds(toy):
    with pytest.raises(ConvergenceError, match=r"bounds \(0\.95, 1\.05\)"):
        attrition_weights(toy, responded="r", covariates=["x", "g"], method="calibrate",
                          calfun="logit", bounds=(0.95, 1.05), base_weights="d")


def test_formula_calibration_uses_the_base_weights(toy):
    res = attrition_weights(toy, responded="r", formula="r ~ x + I(x**2)", method="calibrate",
                            base_weights="d")
    d, x = toy["d"].to_numpy(), toy["x"].to_numpy()
    w = res.weights.to_numpy()
    np.testing.assert_allclose([w.sum(), w @ x, w @ x**2], [d.sum(), d @ x, d @ x**2],
                               rtol=1e-9)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_unstabilised_propensity_weights_are_d_over_p(toy, link):
    res = attrition_weights(toy, responded="r", covariates=["x", "g"], method=link,
                            stabilize=False, base_weights="d")
    d, r, p = toy["d"].to_numpy(), toy["r"].to_numpy() == 1, res.propensity.to_numpy()
    np.testing.assert_allclose(res.weights.to_numpy(), np.where(r, d / p, 0.0), rtol=1e-12)
    stab = attrition_weights(toy, responded="r", covariates=["x", "g"], method=link,
                             base_weights="d")
    np.testing.assert_allclose(stab.weights.to_numpy(),
                               res.weights.to_numpy() * d.sum() / res.weights.sum(),
                               rtol=1e-10)


def test_entropy_balances_to_the_weighted_sample(toy):
    res = attrition_weights(toy, responded="r", covariates=["x", "g"], method="entropy",
                            base_weights="d")
    d, r = toy["d"].to_numpy(), toy["r"].to_numpy() == 1
    w = res.weights.to_numpy()
    X = np.column_stack([toy["x"], toy["g"] == "b", toy["g"] == "c"]).astype(float)
    np.testing.assert_allclose((w @ X) / w.sum(), (d @ X) / d.sum(), atol=1e-8)
    # w = d exp(x' lambda): log(w / d) is linear in the covariates
    Z = np.column_stack([np.ones(r.sum()), X[r]])
    y = np.log(w[r] / d[r])
    resid = y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
    assert np.abs(resid).max() < 1e-8
    assert w.sum() == pytest.approx(d.sum())


def test_diagnostics_compare_with_the_weighted_sample(toy):
    res = attrition_weights(toy, responded="r", covariates=["x", "g"], method="calibrate",
                            calfun="raking", base_weights="d")
    diag = res.diagnostics()
    assert np.abs(diag["smd_weighted"]).max() < 1e-8       # d-weighted T1 means are met
    assert np.abs(diag["smd_unweighted"]).max() > 0.02
    assert res.base_weights.index.equals(toy.index)


def test_series_base_weights_and_input_untouched(toy):
    before = toy.copy()
    a = attrition_weights(toy, responded="r", covariates=["g"], method="rake",
                          base_weights=toy["d"])
    b = attrition_weights(toy, responded="r", covariates=["g"], method="rake",
                          base_weights=toy["d"].to_numpy())
    pd.testing.assert_series_equal(a.weights, b.weights)
    pd.testing.assert_frame_equal(toy, before)


@pytest.mark.parametrize("bad, match", [
    ("missing_col", "base weights column"),
    (-1.0, "non-negative"),
    (0.0, "must be positive"),
    (np.nan, "missing"),
    ("short", "one value per row"),
    ("misaligned", "same index"),
])
def test_bad_base_weights(toy, bad, match):
    if bad == "missing_col":
        base = "no_such_column"
    elif bad == "short":
        base = np.ones(len(toy) - 1)
    elif bad == "misaligned":
        base = pd.Series(1.0, index=np.arange(len(toy)))
    else:
        base = toy["d"].to_numpy().copy()
        base[5] = bad
    with pytest.raises(DataError, match=match):
        attrition_weights(toy, responded="r", covariates=["g"], method="rake",
                          base_weights=base)


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.01, 1000.0), method=st.sampled_from(METHODS))
def test_base_weights_times_a_constant_scale_the_weights(scale, method):
    df = _toy(n=200, seed=7)
    kw = {"calfun": "logit", "bounds": (0.3, 3.0)} if method == "calibrate" else {}
    one = attrition_weights(df, responded="r", covariates=_covs(method), method=method,
                            base_weights="d", **kw)
    many = attrition_weights(df, responded="r", covariates=_covs(method), method=method,
                             base_weights=df["d"] * scale, **kw)
    np.testing.assert_allclose(many.weights.to_numpy(), one.weights.to_numpy() * scale,
                               rtol=1e-7, atol=1e-12)


def test_attrition_weights_from_design_weights_feed_a_calibrated_survey_design():
    from sosstats.survey import SurveyDesign
    from sosstats.survey.calibration import calibrate
    df = _toy(seed=11)
    df["psu"] = np.arange(len(df)) % 20
    aw = attrition_weights(df, responded="r", covariates=["g"], method="rake",
                           base_weights="d")
    design = SurveyDesign(df, cluster="psu", weights=aw)
    np.testing.assert_allclose(design.weights, aw.weights.to_numpy())
    pop = {"g": {"a": 500.0, "b": 300.0, "c": 200.0}}
    cal = calibrate(design, ["g"], pop)
    r = df["r"].to_numpy() == 1
    assert np.all(cal.weights[~r] == 0)
    got = pd.Series(cal.weights).groupby(df["g"].astype(str).to_numpy()).sum()
    np.testing.assert_allclose(got.to_numpy(), [500.0, 300.0, 200.0], rtol=1e-10)
