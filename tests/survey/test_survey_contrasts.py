"""Design-based contrasts of domains and ordinal trend tests: ``sosstats.survey.contrasts``.

Reference values: R survey 4.1.1, frozen by ``tests/fixtures/survey_tests_reference.R``:
``svyby(..., covmat = TRUE)`` + ``svycontrast`` (``survey_tests_contrasts_r.csv``; "each vs
rest" as ``svyby`` on the indicator of the level), ``regTermTest(svyglm(y ~ by), ~by)``
(``survey_tests_omnibus_r.csv``) and ``svyglm(score ~ group_score)`` slopes
(``survey_tests_trend_r.csv``). Tolerances: contrasts and SEs 1e-10 relative (1e-10 absolute
for estimates near zero), omnibus F and trend t / p 1e-10 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.errors import DataError, DesignError
from sosstats.survey import SurveyDesign
from sosstats.survey.contrasts import DomainContrastResult, TrendResult, compare, trend

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CON = pd.read_csv(FIX / "survey_tests_contrasts_r.csv")
OMNI = pd.read_csv(FIX / "survey_tests_omnibus_r.csv").set_index("case")
TREND = pd.read_csv(FIX / "survey_tests_trend_r.csv").set_index("case")


def _clus1() -> pd.DataFrame:
    d = pd.read_csv(FIX / "survey_tests_apiclus1.csv")
    d["api_band"] = pd.Categorical(d["api_band"], ["low", "mid", "high"])
    d["yes"] = d["sch.wide"] == "Yes"
    return d


def _sim() -> pd.DataFrame:
    return pd.read_csv(FIX / "survey_tests_sim.csv")


@pytest.fixture(scope="module")
def dz() -> dict:
    st_ = pd.read_csv(FIX / "survey_tests_apistrat.csv")
    return {"clus1": SurveyDesign(_clus1(), cluster="dnum", weights="pw", fpc="fpc"),
            "strat": SurveyDesign(st_, strata="stype", weights="pw", fpc="fpc"),
            "sim": SurveyDesign(_sim(), cluster="pilot", strata="stratum", weights="w",
                                nest=True)}


def check_against_r(res: DomainContrastResult, case: str) -> None:
    ref = CON[CON.case == case].set_index("term")
    tidy = res.tidy().set_index("term")
    assert set(tidy.index) <= set(ref.index)      # every contrast we report has R's value
    for term, got in tidy.iterrows():
        row = ref.loc[term]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-10, abs=1e-10)
        assert got["std_error"] == pytest.approx(row["std_error"], rel=1e-10)


# ---------------------------------------------------------------------------------------------
# against svycontrast
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case, which, y, by, kwargs", [
    ("clus1_api00_stype", "clus1", "api00", "stype", {"contrast": "pairwise"}),
    ("clus1_api00_stype_rest", "clus1", "api00", "stype", {"contrast": "each vs rest"}),
    ("clus1_yes_stype", "clus1", "yes", "stype", {"contrast": "pairwise"}),
    ("clus1_yes_stype", "clus1", "sch.wide", "stype", {"contrast": "pairwise",
                                                       "category": "Yes"}),
    ("strat_api00_awards", "strat", "api00", "awards", {}),
    ("sim_helpful_cohort", "sim", "helpful", "cohort", {"contrast": "pairwise"}),
    ("sim_likert_group", "sim", "likert", "group", {"contrast": "pairwise"}),
    ("sim_likert_group_rest", "sim", "likert", "group", {"contrast": "each_vs_rest"}),
])
def test_compare_matches_svycontrast(dz, case, which, y, by, kwargs):
    res = compare(dz[which], y, by, **kwargs)
    check_against_r(res, case)
    assert (res.tidy()["df"] == dz[which].df).all()


def test_compare_domain_means_match_svyby(dz):
    res = compare(dz["clus1"], "api00", "stype")
    ref = CON[CON.case == "clus1_api00_stype_means"].set_index("term")
    np.testing.assert_allclose(res.domains["estimate"], ref["estimate"], rtol=1e-12)
    np.testing.assert_allclose(res.domains["std_error"], ref["std_error"], rtol=1e-10)
    assert list(res.domains.index) == ["E", "H", "M"]
    assert list(res.domains["n"]) == [144, 14, 25]


def test_compare_dict_contrasts(dz):
    named = compare(dz["clus1"], "api00", "stype",
                    contrast={"E - (H + M)/2": {"E": 1, "H": -0.5, "M": -0.5}})
    check_against_r(named, "clus1_api00_stype")
    single = compare(dz["clus1"], "api00", "stype", contrast={"E": 1, "H": -0.5, "M": -0.5})
    assert single.tidy().loc[0, "term"] == "E - 0.5 H - 0.5 M"
    assert single.params.iloc[0] == pytest.approx(named.params.iloc[0], rel=1e-14)
    # integer levels matched by value or by their text
    a = compare(dz["sim"], "helpful", "cohort", contrast={2: 1, 1: -1})
    b = compare(dz["sim"], "helpful", "cohort", contrast={"2": 1, "1": -1})
    assert a.params.iloc[0] == b.params.iloc[0]


@pytest.mark.parametrize("case, which, y, by", [("clus1_api00_stype", "clus1", "api00", "stype"),
                                                ("sim_likert_group", "sim", "likert", "group")])
def test_compare_omnibus_matches_regtermtest(dz, case, which, y, by):
    om = compare(dz[which], y, by).omnibus
    ref = OMNI.loc[case]
    assert om["unadjusted_statistic"] == pytest.approx(ref["F"], rel=1e-10)
    assert om["df_num"] == ref["df_num"] and om["unadjusted_df_den"] == ref["df_den"]
    assert om["unadjusted_p_value"] == pytest.approx(ref["p_value"], rel=1e-10)
    # the adjusted Wald F: W (nu - q + 1) / (q nu) on (q, nu - q + 1)
    nu, q = dz[which].df, om["df_num"]
    assert om["wald"] == pytest.approx(ref["F"] * q, rel=1e-10)
    assert om["statistic"] == pytest.approx(om["wald"] * (nu - q + 1) / (q * nu), rel=1e-12)
    assert om["df_den"] == nu - q + 1
    assert om["p_value"] == pytest.approx(stats.f.sf(om["statistic"], q, nu - q + 1))


def test_compare_omnibus_of_two_domains_is_the_t_test(dz):
    res = compare(dz["sim"], "helpful", "cohort")
    row = res.tidy().iloc[0]
    assert res.omnibus["statistic"] == pytest.approx(row["statistic"] ** 2, rel=1e-12)
    assert res.omnibus["p_value"] == pytest.approx(row["p_value"], rel=1e-10)


def test_compare_reference_alternative_and_adjust(dz):
    d = dz["sim"]
    base = compare(d, "likert", "group", reference="2 years")
    assert list(base.tidy()["term"]) == ["1 year - 2 years", "new - 2 years"]
    two = compare(d, "likert", "group", contrast="each vs rest")
    up = compare(d, "likert", "group", contrast="each vs rest", alternative="greater")
    t = two.tidy().set_index("term")
    u = up.tidy().set_index("term")
    row = t.loc["2 years - rest"]
    assert u.loc["2 years - rest", "p_value"] == pytest.approx(
        stats.t.sf(row["statistic"], d.df), rel=1e-12)
    assert u.loc["2 years - rest", "p_value"] == pytest.approx(row["p_value"] / 2, rel=1e-12)
    # intervals stay two-sided, t on the design df
    half = stats.t.ppf(0.975, d.df) * row["std_error"]
    assert u.loc["2 years - rest", "ci_upper"] == pytest.approx(row["estimate"] + half)
    down = compare(d, "likert", "group", contrast="each vs rest", alternative="less")
    assert down.pvalues["2 years - rest"] == pytest.approx(1 - up.pvalues["2 years - rest"])
    from statsmodels.stats.multitest import multipletests
    holm = compare(d, "likert", "group", contrast="pairwise", adjust="holm").tidy()
    np.testing.assert_allclose(holm["p_adjusted"],
                               multipletests(holm["p_value"], method="holm")[1], rtol=1e-12)
    bh = compare(d, "likert", "group", contrast="pairwise", adjust="BH").tidy()
    np.testing.assert_allclose(bh["p_adjusted"],
                               multipletests(bh["p_value"], method="fdr_bh")[1], rtol=1e-12)
    assert "Holm" in str(compare(d, "likert", "group", contrast="pairwise", adjust="holm"))


def test_compare_result_vocabulary_and_plot(dz):
    res = dz["clus1"].compare("api00", "stype", contrast="pairwise")
    assert isinstance(res, DomainContrastResult)
    tidy = res.tidy()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    assert res.conf_int(0.9).shape == (3, 2)
    assert "All stype domains equal" in str(res)
    assert res.to_dict()["estimates"][0]["term"] == "H - E"
    assert set(res.coefficients.columns) == {"E", "H", "M"}
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = res.plot()
    assert len(ax.get_yticklabels()) == 3
    import matplotlib.pyplot as plt
    plt.close("all")


def test_compare_missing_items_and_domains_keep_the_design(dz):
    # a missing item or grouping leaves the domain, not the design: the same as zero weight
    # for that row in the estimates, and the cluster stays
    data = _sim()
    data.loc[[3, 10, 50, 51, 120], "likert"] = np.nan
    data.loc[[7, 8], "group"] = np.nan
    before = data.copy()
    d = SurveyDesign(data, cluster="pilot", strata="stratum", weights="w", nest=True)
    res = compare(d, "likert", "group", contrast="pairwise")
    pd.testing.assert_frame_equal(data, before)
    filled = data.assign(likert=data["likert"].fillna(0), group=data["group"].fillna("new"))
    gone = data["likert"].isna() | data["group"].isna()
    filled.loc[gone, "w"] = 0.0
    d0 = SurveyDesign(filled, cluster="pilot", strata="stratum", weights="w", nest=True)
    ref = compare(d0, "likert", "group", contrast="pairwise")
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-12)
    np.testing.assert_allclose(res.std_errors, ref.std_errors, rtol=1e-10)
    assert res.nobs == int((~gone).sum())


# ---------------------------------------------------------------------------------------------
# trend
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case, which, item, by, kwargs", [
    ("sim_likert_gnum", "sim", "likert", "gnum", {}),
    ("sim_helpful_cohort", "sim", "helpful", "cohort", {}),
    ("clus1_band_stype", "clus1", "api_band", "stype", {"by_scores": {"E": 1, "M": 2, "H": 3}}),
])
def test_trend_matches_svyglm_slope(dz, case, which, item, by, kwargs):
    res = trend(dz[which], item, by, **kwargs)
    ref = TREND.loc[case]
    assert res.slope == pytest.approx(ref["estimate"], rel=1e-10)
    assert res.std_error == pytest.approx(ref["std_error"], rel=1e-10)
    assert res.t == pytest.approx(ref["t"], rel=1e-10)
    assert res.p_value == pytest.approx(ref["p_value"], rel=1e-10)
    assert res.df == ref["df"]
    assert isinstance(res, TrendResult)


def test_trend_scores_text_groups_and_vocabulary(dz):
    d = dz["sim"]
    # text groups need scores; a dict or a list in level order (sorted: 1 year, 2 years, new)
    a = trend(d, "likert", "group", by_scores={"new": 0, "1 year": 1, "2 years": 2})
    b = trend(d, "likert", "group", by_scores=[1, 2, 0])
    ref = TREND.loc["sim_likert_gnum"]
    assert a.slope == pytest.approx(ref["estimate"], rel=1e-10)
    assert b.slope == pytest.approx(a.slope, rel=1e-14)
    # an ordered Categorical is scored 1..G in its order
    data = _sim()
    data["group"] = pd.Categorical(data["group"], ["new", "1 year", "2 years"], ordered=True)
    c = trend(SurveyDesign(data, cluster="pilot", strata="stratum", weights="w", nest=True),
              "likert", "group")
    assert c.slope == pytest.approx(a.slope, rel=1e-12)
    assert list(c.domains.index) == ["new", "1 year", "2 years"]
    # item scores: doubling the scores doubles the slope, t unchanged
    e = trend(d, "likert", "gnum", scores=[2, 4, 6, 8, 10])
    f = trend(d, "likert", "gnum")
    assert e.slope == pytest.approx(2 * f.slope) and e.t == pytest.approx(f.t)
    tidy = f.tidy()
    assert {"estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper", "df",
            "naive_m2", "naive_p_value"} <= set(tidy.columns)
    assert tidy.loc[0, "f_statistic"] == pytest.approx(f.t ** 2)
    assert "Naive linear-by-linear" in str(f)
    g = d.trend("likert", "gnum", alternative="greater")
    assert g.p_value == pytest.approx(f.p_value / 2, rel=1e-12)
    # the naive M^2 is (n - 1) r^2 on the unweighted data
    sim = _sim()
    r = np.corrcoef(sim["likert"], sim["gnum"])[0, 1]
    assert f.naive["statistic"] == pytest.approx((len(sim) - 1) * r ** 2)


def test_trend_bad_input(dz):
    d = dz["sim"]
    with pytest.raises(DataError, match="needs `by`"):
        trend(d, "likert")
    with pytest.raises(DataError, match="'group' is text"):
        trend(d, "likert", "group")
    with pytest.raises(DataError, match="miss level"):
        trend(d, "likert", "group", by_scores={"new": 0, "1 year": 1})
    with pytest.raises(DataError, match="one number per level"):
        trend(d, "likert", "group", by_scores=[1, 2])
    with pytest.raises(DataError, match="not found"):
        trend(d, "nope", "gnum")
    data = _sim().assign(flat=1.0)
    with pytest.raises(DataError, match="1 distinct value"):
        trend(SurveyDesign(data, cluster="pilot", strata="stratum", weights="w", nest=True),
              "likert", "flat")


# ---------------------------------------------------------------------------------------------
# bad input of compare
# ---------------------------------------------------------------------------------------------
def test_compare_bad_input(dz):
    d = dz["clus1"]
    with pytest.raises(DataError, match="pass `category=`"):
        compare(d, "sch.wide", "stype")
    with pytest.raises(DataError, match="`category` 'Maybe' is not a value"):
        compare(d, "sch.wide", "stype", category="Maybe")
    with pytest.raises(DataError, match="not a level of 'stype'"):
        compare(d, "api00", "stype", contrast={"E": 1, "X": -1})
    with pytest.raises(DataError, match="`contrast` must be"):
        compare(d, "api00", "stype", contrast="helmert")
    with pytest.raises(DataError, match="`alternative` must be one of"):
        compare(d, "api00", "stype", alternative="bigger")
    with pytest.raises(DataError, match="`adjust` must be one of"):
        compare(d, "api00", "stype", adjust="bonf")
    with pytest.raises(DataError, match="not found"):
        compare(d, "api00", "nope")
    data = _clus1().assign(one="a")
    with pytest.raises(DataError, match=r"'one' has 1 level"):
        compare(SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc"), "api00", "one")
    data = _clus1()
    data["stype"] = pd.Categorical(data["stype"], ["E", "H", "M", "K"])
    with pytest.raises(DataError, match=r"level\(s\) 'K' have no respondent"):
        compare(SurveyDesign(data, cluster="dnum", weights="pw", fpc="fpc"), "api00", "stype")


def test_compare_fewer_than_two_clusters():
    data = _clus1().assign(c=1)
    with pytest.raises(DesignError):
        compare(SurveyDesign(data, cluster="c", weights="pw"), "api00", "stype")


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), scale=st.floats(0.01, 100.0))
def test_compare_and_trend_invariances(seed, scale):
    rng = np.random.default_rng(seed)
    g = int(rng.integers(4, 9))
    cl = np.repeat(np.arange(g), rng.integers(3, 9, size=g))
    n = cl.size
    grp = rng.integers(0, 3, n)
    grp[:3] = [0, 1, 2]
    data = pd.DataFrame({"cl": cl, "w": rng.uniform(0.5, 3, n), "grp": np.array(list("abc"))[grp],
                         "y": rng.integers(1, 6, n).astype(float), "gs": grp.astype(float)})
    base = compare(SurveyDesign(data, cluster="cl", weights="w"), "y", "grp", contrast="pairwise")
    btr = trend(SurveyDesign(data, cluster="cl", weights="w"), "y", "gs")
    # relabelled, reordered groups: the same contrasts under their new names
    relab = data.assign(grp=pd.Categorical(data["grp"].map({"a": "z", "b": "x", "c": "y"}),
                                           ["y", "z", "x"]))
    r = compare(SurveyDesign(relab, cluster="cl", weights="w"), "y", "grp", contrast="pairwise")
    mapping = {"b - a": ("x - z", 1), "c - a": ("z - y", -1), "c - b": ("x - y", -1)}
    for old, (new, sign) in mapping.items():
        assert r.params[new] == pytest.approx(sign * base.params[old], rel=1e-9, abs=1e-12)
        assert r.std_errors[new] == pytest.approx(base.std_errors[old], rel=1e-9, abs=1e-14)
    perm = data.sample(frac=1.0, random_state=seed % 997).reset_index(drop=True)
    scaled = data.assign(w=data["w"] * scale)
    for other in (perm, scaled):
        res = compare(SurveyDesign(other, cluster="cl", weights="w"), "y", "grp",
                      contrast="pairwise")
        np.testing.assert_allclose(res.params, base.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.std_errors, base.std_errors, rtol=1e-9, atol=1e-14)
        tr = trend(SurveyDesign(other, cluster="cl", weights="w"), "y", "gs")
        assert tr.slope == pytest.approx(btr.slope, rel=1e-9, abs=1e-12)
        assert tr.std_error == pytest.approx(btr.std_error, rel=1e-9, abs=1e-14)


# ---------------------------------------------------------------------------------------------
# replicate designs
# ---------------------------------------------------------------------------------------------
def test_compare_and_trend_on_a_replicate_design():
    from sosstats.datasets import simulate_evaluation
    from sosstats.weighting import replicate_weights

    f = simulate_evaluation(rng=0).families
    rw = replicate_weights(f, responded="responded_t2", covariates=["previous_referral"],
                           cluster="la_code", n_replicates=15, rng=5)
    design = SurveyDesign(f, weights=rw)
    W = np.column_stack([rw.weights.to_numpy(float), rw.replicates.to_numpy(float)])
    y = f["shared_understanding_t2"].to_numpy(float)
    ok = ~np.isnan(y)
    levels = list(f["experience"].cat.categories)
    # each vs rest by hand on every replicate weight; a replicate in which some domain is
    # empty (the bootstrap drew none of its clusters) is left out of the joint covariance
    res = compare(design, "shared_understanding_t2", "experience", contrast="each vs rest")
    yy = np.where(ok, y, 0.0)
    means = []
    for lv in levels:
        d = (f["experience"] == lv).to_numpy() & ok
        rest = ~(f["experience"] == lv).to_numpy() & ok
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((W * d[:, None]).T @ yy / (W * d[:, None]).sum(axis=0))
            means.append((W * rest[:, None]).T @ yy / (W * rest[:, None]).sum(axis=0))
    means = np.column_stack(means)                    # (1 + B, 2G): in, out, in, out, ...
    cov = rw.covariance(means[0], means[1:])
    for g, lv in enumerate(levels):
        c = np.zeros(2 * len(levels))
        c[2 * g], c[2 * g + 1] = 1.0, -1.0
        assert res.params[f"{lv} - rest"] == pytest.approx(c @ means[0], rel=1e-12)
        assert res.std_errors[f"{lv} - rest"] == pytest.approx(np.sqrt(c @ cov @ c), rel=1e-9)
    # trend slope by hand: weighted least squares on every replicate weight
    v = f["cohort"].to_numpy(float)
    tr = trend(design, "shared_understanding_t2", "cohort")
    Wd = W * ok[:, None]
    yy = np.where(ok, y, 0.0)
    s = Wd.sum(axis=0)
    vb, ub = v @ Wd / s, yy @ Wd / s
    slope = ((v * yy) @ Wd - s * vb * ub) / ((v ** 2) @ Wd - s * vb ** 2)
    assert tr.slope == pytest.approx(slope[0], rel=1e-12)
    se = np.sqrt(rw.covariance(slope[:1], slope[1:, None])[0, 0])
    assert tr.std_error == pytest.approx(se, rel=1e-9)
    assert tr.df == design.df - 1


def test_compare_on_a_calibrated_design_matches_r():
    ref = pd.read_csv(FIX / "survey_tests_contrasts_cal_r.csv").iloc[0]
    d = SurveyDesign(_clus1(), cluster="dnum", weights="pw", fpc="fpc")
    cal = d.calibrate(["stype"], {"stype": {"E": 6194 - 755 - 1018, "H": 755, "M": 1018}})
    res = compare(cal, "api00", "awards")
    assert res.params["Yes - No"] == pytest.approx(ref["estimate"], rel=1e-10)
    assert res.std_errors["Yes - No"] == pytest.approx(ref["std_error"], rel=1e-9)


def test_trend_over_many_items_adjusts_across_them():
    from statsmodels.stats.multitest import multipletests

    from sosstats.datasets import simulate_evaluation
    from sosstats.survey.contrasts import TrendItemsResult

    workers = simulate_evaluation(rng=0).worker_survey
    d = SurveyDesign(workers, cluster="la_code")
    tools = [c for c in workers.columns if c.startswith("tool_")]
    res = d.trend(tools, "experience", scores=[0, 1, 2], adjust="BH")
    assert isinstance(res, TrendItemsResult)
    tidy = res.tidy()
    assert list(tidy["term"]) == tools
    single = [trend(d, t, "experience", scores=[0, 1, 2]) for t in tools]
    np.testing.assert_allclose(tidy["estimate"], [s.slope for s in single], rtol=1e-14)
    np.testing.assert_allclose(tidy["p_value"], [s.p_value for s in single], rtol=1e-14)
    np.testing.assert_allclose(tidy["p_adjusted"],
                               multipletests(tidy["p_value"], method="fdr_bh")[1], rtol=1e-12)
    assert (tidy["ci_lower"] < tidy["estimate"]).all()
    assert "Benjamini-Hochberg" in str(res)
    with pytest.raises(DataError, match="distinct"):
        d.trend(["tool_mapping", "tool_mapping"], "experience")
    with pytest.raises(DataError, match="`adjust` must be one of"):
        d.trend(tools, "experience", adjust="sidak")


def test_compare_and_trend_take_level_as_the_confidence_level(dz):
    """One vocabulary: ``level`` is the confidence level, as in every sosstats call."""
    d = dz["clus1"]
    wide = compare(d, "sch.wide", "stype", category="Yes", level=0.99).tidy()
    narrow = compare(d, "sch.wide", "stype", category="Yes", level=0.80).tidy()
    assert (wide["ci_upper"] - wide["ci_lower"] > narrow["ci_upper"] - narrow["ci_lower"]).all()
