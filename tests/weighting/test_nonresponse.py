"""Tests of sosstats.weighting.nonresponse: response_rates, nonresponse_tests, weighting_effect."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.weighting import attrition_weights
from sosstats.weighting.nonresponse import (
    NonresponseTests,
    ResponseRates,
    WeightingEffect,
    nonresponse_tests,
    response_rates,
    weighting_effect,
)

matplotlib.use("Agg")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ATTRITION_COVS = ["previous_referral", "agency_worker", "feelings_t1", "cohort"]


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return simulate_evaluation(rng=0, n_families=20000).families


@pytest.fixture(scope="module")
def truth() -> dict:
    return simulate_evaluation(rng=0, n_families=20000).truth["families"]


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    b = rng.random(n) < 0.3
    r = rng.random(n) < 1 / (1 + np.exp(-(0.4 + 0.7 * x - 0.6 * (g == "c"))))
    return pd.DataFrame({"x": x, "g": g, "b": b, "r": r.astype(int)},
                        index=rng.permutation(np.arange(5000, 5000 + n)))


# ----------------------------------------------------------------------------- response rates

@pytest.mark.parametrize("interval,sm_method", [("wilson", "wilson"), ("exact", "beta")])
def test_response_rates_counts_and_intervals(interval, sm_method):
    d = _toy()
    rr = response_rates(d, "r", by=["g", "b"], level=0.9, interval=interval)
    assert isinstance(rr, ResponseRates)
    t = rr.table
    assert t.iloc[0][["variable", "level"]].tolist() == ["(all)", "(all)"]
    assert rr.overall == pytest.approx(d["r"].mean())
    g = t[t["variable"] == "g"].set_index("level")
    ref = d.groupby("g")["r"].agg(["size", "sum"])
    np.testing.assert_array_equal(g.loc[["a", "b", "c"], "n"], ref["size"])
    np.testing.assert_array_equal(g.loc[["a", "b", "c"], "respondents"], ref["sum"])
    lo, hi = proportion_confint(t["respondents"], t["n"], alpha=0.1, method=sm_method)
    np.testing.assert_allclose(t["ci_lower"], lo, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t["ci_upper"], hi, rtol=1e-10, atol=1e-12)


def test_response_rates_tests_match_scipy():
    d = _toy()
    rr = response_rates(d, "r", by=["g", "b"])
    tab = pd.crosstab(d["g"], d["r"]).to_numpy()
    chi2, p, dof, _ = stats.chi2_contingency(tab, correction=False)
    row = rr.tests.set_index("variable").loc["g"]
    assert row["test"] == "pearson chi-square"
    assert row["statistic"] == pytest.approx(chi2, rel=1e-12)
    assert row["p_value"] == pytest.approx(p, rel=1e-12)
    assert row["df"] == dof


def test_response_rates_fisher_for_small_2x2():
    d = pd.DataFrame({"r": [1, 1, 1, 0, 1, 0, 0, 0, 1, 1], "s": list("aaaaabbbbb")})
    rr = response_rates(d, "r", by="s")
    row = rr.tests.iloc[0]
    tab = np.array([[4, 1], [2, 3]])
    assert row["test"] == "fisher exact"
    assert row["p_value"] == pytest.approx(stats.fisher_exact(tab)[1], rel=1e-12)
    assert np.isnan(row["statistic"])


def test_response_rates_single_level_is_not_testable_and_plots():
    d = _toy().assign(one="x")
    rr = response_rates(d, "r", by=["one", "g"])
    assert rr.tests.iloc[0]["test"] == "not testable"
    assert np.isnan(rr.tests.iloc[0]["p_value"])
    ax = rr.plot()
    assert len(ax.patches) == 4                         # one bar per level
    assert "Response rates" in str(rr)


def test_response_rates_bad_inputs():
    d = _toy()
    with pytest.raises(DataError, match="0/1"):
        response_rates(d.assign(r=d["r"] * 2), "r")
    with pytest.raises(DataError, match="0/1"):
        response_rates(d.assign(r=np.where(d["r"] == 1, 1.0, np.nan)), "r")
    with pytest.raises(DataError, match="missing value"):
        response_rates(d.assign(g=d["g"].where(d["x"] > -1)), "r", by="g")
    with pytest.raises(DataError, match="not found"):
        response_rates(d, "r", by="nope")
    with pytest.raises(DataError, match="interval"):
        response_rates(d, "r", interval="wald")


# ----------------------------------------------------------------------------- covariate tests

def test_nonresponse_tests_match_scipy_and_statsmodels():
    d = _toy()
    res = nonresponse_tests(d, "r", ["x", "g", "b"])
    assert isinstance(res, NonresponseTests)
    r = d["r"].to_numpy() == 1
    t = res.tests.set_index("covariate")
    welch = stats.ttest_ind(d["x"][r], d["x"][~r], equal_var=False)
    assert t.loc["x", "statistic"] == pytest.approx(welch.statistic, rel=1e-12)
    assert t.loc["x", "df"] == pytest.approx(welch.df, rel=1e-12)
    assert t.loc["x", "p_value"] == pytest.approx(welch.pvalue, rel=1e-12)
    chi2, p, _, _ = stats.chi2_contingency(pd.crosstab(d["g"], d["r"]), correction=False)
    assert t.loc["g", "statistic"] == pytest.approx(chi2, rel=1e-12)
    np.testing.assert_allclose(t["p_holm"], multipletests(t["p_value"], method="holm")[1],
                               rtol=1e-12)
    # SMD of x by hand
    x1, x0 = d["x"][r], d["x"][~r]
    smd = (x1.mean() - x0.mean()) / np.sqrt((x1.var() + x0.var()) / 2)
    row = res.table.set_index("covariate").loc["x"]
    assert row["smd"] == pytest.approx(smd, rel=1e-12)
    # booleans: the True level only; categories: every level
    assert res.table.loc[res.table["covariate"] == "b", "level"].tolist() == ["True"]
    assert res.table.loc[res.table["covariate"] == "g", "level"].tolist() == ["a", "b", "c"]
    # overall LR test equals statsmodels' llr
    Z = sm.add_constant(np.column_stack([d["x"], d["g"] == "b", d["g"] == "c",
                                         d["b"]]).astype(float))
    fit = sm.Logit(d["r"].to_numpy(float), Z).fit(disp=0, method="newton", tol=1e-12)
    assert res.overall["statistic"] == pytest.approx(fit.llr, rel=1e-8)
    assert res.overall["p_value"] == pytest.approx(fit.llr_pvalue, rel=1e-6)
    assert res.overall["df"] == 4
    assert res.overall["pseudo_r2"] == pytest.approx(fit.prsquared, rel=1e-8)
    ax = res.plot()
    assert len(ax.get_yticklabels()) == len(res.table)
    assert "LR chi2(4)" in str(res)


def test_nonresponse_tests_recover_attrition_model(families, truth):
    covs = ["previous_referral", "agency_worker", "feelings_t1", "referral_reason"]
    res = nonresponse_tests(families, "responded_t2", covs)
    # the simulated attrition model has nonzero coefficients on the first three
    assert all(truth["attrition"][c] != 0 for c in covs[:3])
    flagged = res.flagged(0.01)
    assert {"previous_referral", "agency_worker", "feelings_t1"} <= set(flagged)
    assert "referral_reason" not in flagged        # not in the attrition model
    tab = res.table.set_index("covariate")
    assert tab.loc["previous_referral", "difference"] < 0   # coefficient -0.5
    assert tab.loc["agency_worker", "difference"] < 0       # coefficient -0.6
    assert tab.loc["feelings_t1", "difference"] > 0         # coefficient +0.35
    assert res.overall["p_value"] < 1e-10


def test_nonresponse_tests_bad_inputs():
    d = _toy()
    with pytest.raises(DataError, match="'x' has 1 missing"):
        nonresponse_tests(d.assign(x=d["x"].where(d["x"] != d["x"].iloc[0])), "r", ["x"])
    with pytest.raises(DataError, match="constant"):
        nonresponse_tests(d.assign(c=1.0), "r", ["x", "c"])
    with pytest.raises(DataError, match="0/1"):
        nonresponse_tests(d.assign(r=d["r"] + 1), "r", ["x"])
    with pytest.raises(DesignError, match="no non-respondents"):
        nonresponse_tests(d.assign(r=1), "r", ["x"])
    with pytest.raises(DataError, match="empty"):
        nonresponse_tests(d, "r", [])
    with pytest.warns(SosstatsWarning, match="'sep'.*perfectly predict"):
        res = nonresponse_tests(d.assign(sep=d["r"] * 2.0 + 1), "r", ["x", "sep"])
    assert np.isnan(res.overall["statistic"])


# ----------------------------------------------------------------------------- weighting effect

@pytest.mark.parametrize("clustered", [False, True])
def test_weighting_effect_matches_r_survey(clustered):
    """R: tests/fixtures/weighting_effect_reference.R (survey::svycontrast on totals)."""
    d = pd.read_csv(FIXTURES / "weighting_effect_reference_input.csv")
    ref = pd.read_csv(FIXTURES / "weighting_effect_reference_r.csv")
    ref = ref[ref["clustered"] == clustered].set_index("term")
    res = weighting_effect(d, "y", "w", cluster="cluster" if clustered else None)
    assert isinstance(res, WeightingEffect)
    t = res.table
    np.testing.assert_allclose(t["estimate"], ref.loc[t.index, "estimate"], rtol=1e-10)
    np.testing.assert_allclose(t["std_error"], ref.loc[t.index, "std_error"], rtol=1e-8)
    assert res.method == "linearised (weights treated as fixed)"
    assert "treated as fixed" in str(res)
    if clustered:
        assert res.n_clusters == 12 and t["df"].iloc[0] == 11
        p = 2 * stats.t.sf(t.loc["difference", "statistic"], 11)
        assert res.p_value == pytest.approx(p, rel=1e-10)
    ci = res.conf_int(0.9).loc["difference"]
    z = stats.t.ppf(0.95, t["df"].iloc[0])
    assert ci["upper"] == pytest.approx(res.difference + z * t.loc["difference", "std_error"])


def test_weighting_effect_recovers_bias_correction(families, truth):
    aw = attrition_weights(families, responded="responded_t2", covariates=ATTRITION_COVS)
    res = weighting_effect(families, "sdq_t2", aw)
    true_mean = truth["t2_all_means"]["sdq"]
    est = res.params
    assert abs(est["weighted"] - true_mean) < 0.3 * abs(est["unweighted"] - true_mean)
    assert res.p_value < 1e-6 and res.difference > 0
    # the same weights given as a column or Series give the same answer
    same = weighting_effect(families.assign(w=aw.weights), "sdq_t2", "w")
    pd.testing.assert_frame_equal(same.table, res.table)
    same = weighting_effect(families, "sdq_t2", aw.weights.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(same.table, res.table)


def _bootstrap(d, w, B=60, seed=3):
    rng = np.random.default_rng(seed)
    mult = rng.multinomial(len(d), np.full(len(d), 1 / len(d)), size=B).T.astype(float)
    cols = [f"rep_{b + 1}" for b in range(B)]
    return (pd.DataFrame(mult * w[:, None], index=d.index, columns=cols),
            pd.DataFrame(mult, index=d.index, columns=cols))


def test_weighting_effect_replicates_dataframe_and_object():
    d = pd.read_csv(FIXTURES / "weighting_effect_reference_input.csv")
    w, y = d["w"].to_numpy(), d["y"].to_numpy()
    reps, mult = _bootstrap(d, w)
    res = weighting_effect(d, "y", "w", replicates=reps, scale=1 / 59, multiplicities=mult)
    R, M = reps.to_numpy(), mult.to_numpy()
    d_b = y @ R / R.sum(0) - y @ M / M.sum(0)
    full = w @ y / w.sum() - y.mean()
    assert res.std_errors["difference"] == pytest.approx(np.sqrt(((d_b - full) ** 2).sum()
                                                                 / 59), rel=1e-12)
    assert res.method == "replicate" and res.n_replicates == 60

    class Reps:
        replicates = reps
        multiplicities = mult

        def variance(self, full_estimate, replicate_estimates):
            return ((replicate_estimates - full_estimate) ** 2).mean(axis=0)

    obj = weighting_effect(d, "y", "w", replicates=Reps())
    assert obj.std_errors["difference"] == pytest.approx(np.sqrt(((d_b - full) ** 2).mean()))

    class Full:                                       # like ReplicateWeights: .full.weights
        full = type("AW", (), {"weights": d["w"]})()
        replicates = reps
        variance = Reps.variance

    with pytest.raises(DesignError, match="multiplicities"):
        weighting_effect(d, "y", Full())              # no .multiplicities to be found
    auto = weighting_effect(d, "y", Full(), multiplicities=mult)
    assert auto.method == "replicate"                 # replicate SE chosen by the weights
    pd.testing.assert_frame_equal(auto.table, obj.table)
    Full.multiplicities = mult
    pd.testing.assert_frame_equal(weighting_effect(d, "y", Full()).table, obj.table)


def test_weighting_effect_bad_inputs():
    d = pd.read_csv(FIXTURES / "weighting_effect_reference_input.csv")
    reps, mult = _bootstrap(d, d["w"].to_numpy(), B=5)
    with pytest.raises(DesignError, match="multiplicities"):
        weighting_effect(d, "y", "w", replicates=reps, scale=0.25)
    with pytest.raises(DataError, match="scale"):
        weighting_effect(d, "y", "w", replicates=reps, multiplicities=mult)
    with pytest.raises(DataError, match="cluster"):
        weighting_effect(d, "y", "w", replicates=reps, scale=0.25, multiplicities=mult,
                         cluster="cluster")
    with pytest.raises(DataError, match="negative"):
        weighting_effect(d.assign(w=-d["w"]), "y", "w")
    with pytest.raises(DesignError, match="no respondents"):
        weighting_effect(d.assign(w=0.0), "y", "w")
    with pytest.raises(DataError, match="missing .NaN. for 1 respondent"):
        weighting_effect(d.assign(y=d["y"].where(d.index != 3)), "y", "w")
    with pytest.raises(DataError, match="not aligned"):
        weighting_effect(d, "y", pd.Series(1.0, index=d.index + 1))
    with pytest.raises(DesignError, match="single cluster"):
        weighting_effect(d.assign(c=1), "y", "w", cluster="c")
    with pytest.raises(DataError, match="AttritionWeights"):
        weighting_effect(d, "y", 3.0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 60))
def test_weighting_effect_properties(seed, n):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"y": rng.normal(size=n), "w": rng.uniform(0.2, 3, n),
                      "c": rng.integers(0, 4, n)})
    d.loc[rng.random(n) < 0.2, "w"] = 0.0
    d.loc[d["w"] == 0, "y"] = np.nan                     # non-respondents may lack y
    if (d["w"] > 0).sum() < 2:       # one respondent is a DesignError (tested elsewhere)
        with pytest.raises(DesignError, match="at least two respondents"):
            weighting_effect(d, "y", "w")
        return
    res = weighting_effect(d, "y", "w")
    perm = d.sample(frac=1, random_state=seed)
    again = weighting_effect(perm, "y", "w")
    np.testing.assert_allclose(again.table["std_error"], res.table["std_error"], rtol=1e-9,
                               atol=1e-12)
    assert again.difference == pytest.approx(res.difference, abs=1e-12)
    flat = weighting_effect(d.assign(w=np.where(d["w"] > 0, 2.5, 0.0)), "y", "w")
    assert flat.difference == pytest.approx(0.0, abs=1e-12)
    assert flat.std_errors["difference"] == pytest.approx(0.0, abs=1e-12)
