"""Tests of sosstats.weighting.attrition_weights."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.weighting import AttritionWeights, attrition_weights

matplotlib.use("Agg")

COVS = ["previous_referral", "agency_worker", "feelings_t1"]


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return simulate_evaluation(rng=0, n_families=50_000).families


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_evaluation(rng=1, n_families=1500).families


def _toy(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    p = 1 / (1 + np.exp(-(0.3 + 0.8 * x + 0.5 * (g == "b"))))
    r = rng.random(n) < p
    return pd.DataFrame({"x": x, "g": pd.Categorical(g), "r": r.astype(int)},
                        index=rng.permutation(np.arange(1000, 1000 + n)))


def test_logit_equals_statsmodels():
    d = _toy()
    res = attrition_weights(d, responded="r", covariates=["x", "g"], method="logit")
    Z = sm.add_constant(np.column_stack([d["x"], d["g"] == "b", d["g"] == "c"]).astype(float))
    p = sm.Logit(d["r"].to_numpy(float), Z).fit(disp=0, method="newton", tol=1e-12).predict(Z)
    r = d["r"].to_numpy() == 1
    w = np.where(r, r.mean() / p, 0.0)
    w *= r.sum() / w.sum()
    np.testing.assert_allclose(res.weights.to_numpy(), w, rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.propensity.to_numpy(), p, rtol=1e-10)
    assert res.weights.index.equals(d.index)
    assert res.weights[r].sum() == pytest.approx(r.sum())


def test_probit_and_unstabilised():
    d = _toy()
    res = attrition_weights(d, responded="r", covariates=["x"], method="probit",
                            stabilize=False)
    Z = sm.add_constant(d[["x"]].to_numpy(float))
    p = sm.Probit(d["r"].to_numpy(float), Z).fit(disp=0, method="newton", tol=1e-12).predict(Z)
    r = d["r"].to_numpy() == 1
    np.testing.assert_allclose(res.weights.to_numpy()[r], 1 / p[r], rtol=1e-9)


def test_by_cells_fit_separately():
    d = _toy(600)
    res = attrition_weights(d, responded="r", covariates=["x"], by="g")
    for k in ["a", "b", "c"]:
        m = (d["g"] == k).to_numpy()
        sub = attrition_weights(d[m], responded="r", covariates=["x"])
        np.testing.assert_allclose(res.propensity[m], sub.propensity, rtol=1e-10)


def test_entropy_meets_means(small):
    res = attrition_weights(small, responded="responded_t2", covariates=COVS + ["sdq_t1"],
                            method="entropy")
    r = small["responded_t2"].to_numpy()
    w = res.weights.to_numpy()[r]
    for c in COVS + ["sdq_t1"]:
        x = small[c].to_numpy(float)
        assert np.average(x[r], weights=w) == pytest.approx(x.mean(), abs=1e-8)


def test_rake_meets_counts(small):
    covs = ["previous_referral", "agency_worker", "experience"]
    res = attrition_weights(small, responded="responded_t2", covariates=covs, method="rake")
    r = small["responded_t2"].to_numpy()
    w = res.weights * res.population_total / res.n_respondents
    for c in covs:
        got = w[r].groupby(small[c][r], observed=True).sum()
        want = small[c].value_counts()
        np.testing.assert_allclose(got.sort_index(), want.reindex(got.index).sort_index(),
                                   rtol=1e-9)


def test_rake_user_margins(small):
    m = {"agency_worker": {False: 600.0, True: 400.0},
         "previous_referral": {False: 300.0, True: 700.0}}
    res = attrition_weights(small, responded="responded_t2", covariates=list(m),
                            method="rake", margins=m)
    r = small["responded_t2"].to_numpy()
    w = (res.weights * 1000 / res.n_respondents)[r]
    assert w[small["agency_worker"][r]].sum() == pytest.approx(400, rel=1e-9)
    assert w[small["previous_referral"][r]].sum() == pytest.approx(700, rel=1e-9)


@pytest.mark.parametrize("calfun,bounds", [("linear", None), ("raking", None),
                                           ("logit", (0.3, 3.0))])
def test_calibrate_totals(small, calfun, bounds):
    res = attrition_weights(small, responded="responded_t2", covariates=COVS,
                            method="calibrate", calfun=calfun, bounds=bounds)
    r = small["responded_t2"].to_numpy()
    w = res.weights.to_numpy()[r]
    for c in COVS:
        x = small[c].to_numpy(float)
        assert np.average(x[r], weights=w) == pytest.approx(x.mean(), abs=1e-8)
    if bounds:
        g = w / w.mean()
        assert g.min() > 0.3 - 1e-9 and g.max() < 3.0 + 1e-9


@pytest.mark.parametrize("method", ["logit", "entropy", "rake"])
def test_bias_shrinks(families, method):
    f = families
    assert set(COVS) <= set(
        k for k in simulate_evaluation(rng=0, n_families=50).truth["families"]["attrition"])
    before = f.copy()
    res = attrition_weights(f, responded="responded_t2", covariates=COVS, method=method)
    pd.testing.assert_frame_equal(f, before)
    r = f["responded_t2"].to_numpy()
    w = res.weights.to_numpy()
    for c in COVS + ["sdq_t1"]:
        x = f[c].to_numpy(float)
        bias_u = abs(x[r].mean() - x.mean())
        bias_w = abs(np.average(x[r], weights=w[r]) - x.mean())
        assert bias_w < 0.2 * bias_u + 1e-9, (c, bias_u, bias_w)
    d = res.diagnostics()
    assert (d["smd_weighted"].abs() < d["smd_unweighted"].abs()).all()
    assert d.attrs["design_effect"] >= 1 and d.attrs["ess"] <= r.sum()


def test_trim_and_deff_and_nan(small):
    kw = dict(responded="responded_t2", covariates=COVS + ["sdq_t1"])
    base = attrition_weights(small, **kw)
    t = attrition_weights(small, **kw, trim={"max_ratio": 1.5}, nonrespondents="nan")
    r = small["responded_t2"].to_numpy()
    assert t.weights[~r].isna().all()
    assert t.weights[r].max() <= 1.5 * t.weights[r].mean() + 1e-9
    assert t.weights[r].sum() == pytest.approx(r.sum())
    target = 1 + 0.5 * (base.design_effect - 1)
    dd = attrition_weights(small, **kw, max_deff=target)
    assert dd.design_effect == pytest.approx(target, rel=1e-6)


def test_plot(small):
    res = attrition_weights(small, responded="responded_t2", covariates=COVS)
    ax = res.plot()
    assert len(ax.get_yticklabels()) == 3
    assert isinstance(res, AttritionWeights)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), method=st.sampled_from(["logit", "entropy", "rake",
                                                            "calibrate"]))
def test_nonnegative_and_order_invariant(seed, method):
    rng = np.random.default_rng(seed)
    n = 200
    d = pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.random(n) < 0.4})
    d["r"] = rng.random(n) < 0.4 + 0.1 * d["a"] + 0.1 * d["b"]
    if d["r"].all() or not d["r"].any():
        return
    w = attrition_weights(d, responded="r", covariates=["a", "b"], method=method).weights
    perm = rng.permutation(n)
    w2 = attrition_weights(d.iloc[perm], responded="r", covariates=["a", "b"],
                           method=method).weights
    assert (w >= 0).all()
    np.testing.assert_allclose(w2.reindex(w.index), w, rtol=1e-7, atol=1e-10)


# ----------------------------------------------------------------------------- bad input

def test_bad_responded():
    d = _toy()
    d2 = d.assign(r=d["r"] * 2)
    with pytest.raises(DataError, match="'r'"):
        attrition_weights(d2, responded="r", covariates=["x"])
    with pytest.raises(DesignError, match="no non-respondents|everyone"):
        attrition_weights(d.assign(r=1), responded="r", covariates=["x"])
    with pytest.raises(DesignError, match="no one"):
        attrition_weights(d.assign(r=0), responded="r", covariates=["x"])


def test_nan_covariate():
    d = _toy()
    d.loc[d.index[3], "x"] = np.nan
    before = d.copy()
    with pytest.raises(DataError, match="'x'"):
        attrition_weights(d, responded="r", covariates=["x"])
    pd.testing.assert_frame_equal(d, before)


@pytest.mark.parametrize("method,kw", [
    ("logit", {"bounds": (0.5, 2)}), ("logit", {"margins": {"g": {"a": 1}}}),
    ("logit", {"calfun": "linear"}), ("entropy", {"by": "g"}),
    ("entropy", {"stabilize": True}), ("rake", {"calfun": "linear"}),
    ("rake", {"bounds": (0.5, 2)}), ("logit", {"trim": {"foo": 1}}),
    ("logit", {"max_deff": 0.5}), ("nope", {})])
def test_refused_options(method, kw):
    with pytest.raises(DataError):
        attrition_weights(_toy(), responded="r", covariates=["g"], method=method, **kw)


def test_bad_margins():
    d = _toy()
    with pytest.raises(DataError, match="same total"):
        attrition_weights(d.assign(h=d["g"]), responded="r", covariates=["g", "h"],
                          method="rake", margins={"g": {"a": 1, "b": 1, "c": 1},
                                                  "h": {"a": 1, "b": 1, "c": 2}})
    with pytest.raises(DataError, match="absent.*'z'"):
        attrition_weights(d, responded="r", covariates=["g"], method="rake",
                          margins={"g": {"a": 1, "b": 1, "c": 1, "z": 1}})


def test_perfect_prediction():
    d = _toy()
    d["sep"] = d["r"] * 10.0 + 1
    with pytest.raises(DataError, match="'sep'"):
        attrition_weights(d, responded="r", covariates=["x", "sep"])
    d["quasi"] = np.where(d["x"] > 1.5, 1, 0) * d["r"]
    d.loc[d["x"] > 1.5, "quasi"] = 1
    d.loc[(d["x"] > 1.5), "r"] = 1
    with pytest.warns(SosstatsWarning, match="'quasi'"):
        attrition_weights(d, responded="r", covariates=["x", "quasi"])


def test_attrition_and_replicate_weights_are_table_results():
    """Issue 13: the weights print their diagnostics; tidy / summary / to_dict from one table."""
    import json

    from sosstats.datasets import simulate_evaluation
    from sosstats.weighting import attrition_weights, replicate_weights

    fam = simulate_evaluation(rng=3).families
    aw = attrition_weights(fam, responded="responded_t2", covariates=["sdq_t1", "cohort"])
    d = aw.diagnostics()
    pd.testing.assert_frame_equal(aw.summary().to_frame(), d)
    assert aw.tidy()["covariate"].tolist() == d.index.tolist()
    text = repr(aw)
    assert text == str(aw.summary())
    assert f"{aw.n_respondents} of {len(fam)} units" in text and f"{aw.ess:.1f}" in text
    json.dumps(aw.to_dict())
    rw = replicate_weights(fam, responded="responded_t2", covariates=["sdq_t1"],
                           cluster="la_code", n_replicates=20, rng=4)
    table = rw.tidy().set_index("quantity")["value"]
    assert table["replicates (B)"] == 20 and table["clusters resampled (G)"] == 10
    assert table["ESS, full-sample weights"] == pytest.approx(aw_ess := rw.full.ess)
    assert 0 < table["ESS, replicates (drawn units): minimum"] \
        <= table["ESS, replicates (drawn units): median"]
    assert "t(9) intervals" in str(rw)
    json.dumps(rw.to_dict())
