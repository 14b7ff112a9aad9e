"""attrition_weights with a formula, entropy variance targets, cells and infeasible bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from sosstats.datasets import simulate_evaluation
from sosstats.errors import ConvergenceError, DataError
from sosstats.weighting import attrition_weights


def _toy(n=500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.gamma(2.0, size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    eta = 0.3 + 0.8 * x - 0.4 * z + 0.5 * (g == "b") + 0.6 * x * (g == "c")
    r = rng.random(n) < 1 / (1 + np.exp(-eta))
    return pd.DataFrame({"x": x, "z": z, "g": g, "r": r.astype(int)},
                        index=rng.permutation(np.arange(n)) + 100)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_evaluation(rng=3, n_families=2000).families


def test_formula_logit_equals_statsmodels_formula():
    d = _toy()
    res = attrition_weights(d, formula="r ~ x * C(g) + I(z**2)")
    fit = smf.logit("r ~ x * C(g) + I(z**2)", data=d).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(res.propensity.to_numpy(), fit.predict(d).to_numpy(), rtol=1e-9)
    assert res.weights.index.equals(d.index)
    names = list(res.diagnostics().index)
    assert any(":" in n for n in names) and "I(z ** 2)" in names and "g[a]" in names


def test_formula_additive_equals_covariates():
    d = _toy()
    for method in ("logit", "entropy", "calibrate"):
        a = attrition_weights(d, formula="r ~ x + z + g", method=method)
        b = attrition_weights(d, responded="r", covariates=["x", "z", "g"], method=method)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-8, atol=1e-12)
    a = attrition_weights(d, responded="r", formula="~ C(g)", method="rake")
    b = attrition_weights(d, responded="r", covariates=["g"], method="rake")
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)


@pytest.mark.parametrize("calfun,bounds", [("linear", None), ("logit", (0.2, 5.0))])
def test_formula_calibration_meets_interaction_totals(calfun, bounds):
    d = _toy()
    res = attrition_weights(d, formula="r ~ x:z + C(g)", method="calibrate", calfun=calfun,
                            bounds=bounds)
    r = d["r"].to_numpy() == 1
    w = res.weights.to_numpy()[r] * len(d) / r.sum()
    xz = (d["x"] * d["z"]).to_numpy()
    assert np.sum(w * xz[r]) == pytest.approx(xz.sum(), rel=1e-9)
    for k in "abc":
        gk = (d["g"] == k).to_numpy()
        assert np.sum(w[gk[r]]) == pytest.approx(gk.sum(), rel=1e-9)


def test_entropy_variances(small):
    covs = ["previous_referral", "agency_worker", "feelings_t1", "sdq_t1"]
    res = attrition_weights(small, responded="responded_t2", covariates=covs,
                            method="entropy", variances=True)
    r = small["responded_t2"].to_numpy()
    w = res.weights.to_numpy()[r]
    for c in ["feelings_t1", "sdq_t1"]:
        x = small[c].to_numpy(float)
        m = np.average(x[r], weights=w)
        assert m == pytest.approx(x.mean(), abs=1e-8)
        assert np.average((x[r] - m) ** 2, weights=w) == pytest.approx(x.var(), rel=1e-8)
    only = attrition_weights(small, responded="responded_t2", covariates=covs,
                             method="entropy", variances=["sdq_t1"])
    x = small["feelings_t1"].to_numpy(float)
    wo = only.weights.to_numpy()[r]
    m = np.average(x[r], weights=wo)
    assert abs(np.average((x[r] - m) ** 2, weights=wo) - x.var()) > 1e-6  # left free
    plain = attrition_weights(small, responded="responded_t2", covariates=covs,
                              method="entropy")
    assert not np.allclose(plain.weights, res.weights)


def test_cells_with_absent_category():
    d = _toy(900, seed=2)
    d["h"] = np.where(d["g"] == "a", "only_a", np.where(d["x"] > 0, "hi", "lo"))
    res = attrition_weights(d, responded="r", covariates=["x", "h"], by="g")
    for k in "abc":
        m = (d["g"] == k).to_numpy()
        sub = d[m]
        f = "r ~ x" if k == "a" else "r ~ x + C(h)"
        p = smf.logit(f, data=sub).fit(disp=0, method="newton", tol=1e-12).predict(sub)
        np.testing.assert_allclose(res.propensity[m], p, rtol=1e-8)


def test_infeasible_bounds_name_the_margin(small):
    with pytest.raises(ConvergenceError, match="previous_referral|agency_worker|total"):
        attrition_weights(small, responded="responded_t2",
                          covariates=["previous_referral", "agency_worker", "experience"],
                          method="calibrate", calfun="logit", bounds=(0.99, 1.01))


@pytest.mark.parametrize("kw,match", [
    ({"formula": "r ~ x", "covariates": ["x"]}, "not both"),
    ({}, "responded"),
    ({"formula": "r ~ x + nope"}, "'nope'"),
    ({"formula": "q ~ x", "responded": "r"}, "'q'"),
    ({"formula": "r x"}, "one '~'"),
    ({"formula": "r ~ x:g", "method": "rake"}, "plain categorical"),
    ({"formula": "r ~ g", "method": "calibrate", "margins": {"g": {"a": 1}}}, "margins"),
    ({"formula": "r ~ x + r"}, "cannot be a covariate"),
    ({"formula": "r ~ x", "variances": True}, "variances"),
    ({"formula": "r ~ x + g", "method": "entropy", "variances": ["g[T.b]"]}, "binary"),
    ({"formula": "r ~ x", "method": "entropy", "variances": ["z"]}, "'z'"),
])
def test_formula_bad_input(kw, match):
    with pytest.raises(DataError, match=match):
        attrition_weights(_toy(), **kw)


def test_formula_nan_named():
    d = _toy()
    d.loc[d.index[5], "z"] = np.nan
    with pytest.raises(DataError, match="'z'"):
        attrition_weights(d, formula="r ~ x + np.log(z)")


def test_rake_category_without_respondents_is_named():
    d = _toy()
    d["band"] = np.where(d["x"] > 2.2, "top", np.where(d["x"] > 0, "mid", "low"))
    d.loc[d["band"] == "top", "r"] = 0
    with pytest.raises(DataError, match="'band'.*'top'.*band the column"):
        attrition_weights(d, responded="r", covariates=["band", "g"], method="rake")


def test_diagnostics_on_columns_left_out(small):
    w = attrition_weights(small, responded="responded_t2", covariates=["feelings_t1"],
                          method="entropy")
    d = w.diagnostics(small[["agency_worker", "referral_reason"]])
    assert "agency_worker" in d.index and any(i.startswith("referral_reason[") for i in d.index)
    assert abs(d.loc["feelings_t1", "smd_weighted"]) < 1e-8
    r = small["responded_t2"].to_numpy()
    x = small["agency_worker"].to_numpy(float)
    m_w = np.average(x[r], weights=w.weights.to_numpy()[r])
    assert d.loc["agency_worker", "smd_weighted"] == pytest.approx((m_w - x.mean()) / x.std(ddof=1),
                                                                   rel=1e-6)
    with pytest.raises(DataError, match="same index"):
        w.diagnostics(small[["agency_worker"]].iloc[::-1])
