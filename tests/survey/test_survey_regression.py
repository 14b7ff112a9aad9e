"""Design-based regression (sosstats.survey.regression) against R survey and clubSandwich.

Reference values: tests/fixtures/survey_regression_reference.R (R 4.2.2, survey 4.1.1,
clubSandwich 0.5.8): svyglm (gaussian, quasibinomial, quasipoisson) on apiclus1 (cluster
sample with fpc), apistrat (stratified with fpc), a calibrated apiclus1 design, a JK1
replicate design and a simulated survey of 165 respondents in 10 clusters; svyolr;
regTermTest(method = "Wald"); svycontrast; clubSandwich coef_test / Wald_test (HTZ) /
linear_contrast with CR2 on the weighted glm of the simulated survey.

Tolerances: svyglm and clubSandwich values are refitted in R from their converged
coefficients, so both sides are exact to rounding: relative 1e-10 (observed <= 6e-14).
svyolr maximises with BFGS (reltol 1e-15) and differences the gradient for its Hessian
(ndeps 1e-5): its values carry ~1e-7 of optimisation error (observed: coefficients 1e-7,
SEs 4e-8), so relative 1e-6 there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import DataError, DesignError
from sosstats.survey import SurveyDesign
from sosstats.survey.regression import glm, olr

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 1e-10
OLR_TOL = 1e-6


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / f"survey_regression_reference_{name}.csv")


CLUS1 = _csv("apiclus1")
CLUS1["is_e"] = CLUS1["stype"] == "E"               # the domain of the subset fixtures
STRAT = _csv("apistrat")
STRAT["is_e"] = STRAT["stype"] == "E"
SIM = _csv("sim")
COEF = _csv("coef")
TESTS = _csv("tests")
CONTRAST = _csv("contrast")
CR2 = _csv("cr2")


def _designs() -> dict:
    from sosstats.weighting import AttritionWeights, ReplicateWeights

    clus1 = SurveyDesign(CLUS1, cluster="dnum", weights="pw", fpc="fpc")
    reps = CLUS1[[f"rep_{i}" for i in range(1, 16)]]
    full = AttritionWeights(weights=CLUS1["pw"], responded=pd.Series(True, index=CLUS1.index),
                            method="design weights", propensity=None,
                            population_total=float(CLUS1["pw"].sum()))
    # R's JK1 with fpc: scale (G - 1) / G x (1 - G / N)
    jk1 = ReplicateWeights(full=full, replicates=reps, cluster="dnum", n_replicates=15,
                           scale=14 / 15 * (1 - 15 / 757), n_clusters=15)
    return {
        "clus1": clus1,
        "strat": SurveyDesign(STRAT, strata="stype", weights="pw", fpc="fpc"),
        "sim": SurveyDesign(SIM, cluster="pilot", weights="pw"),
        "cal": clus1.calibrate("~ stype", {"stype": {"E": 4421, "H": 755, "M": 1018}}),
        "jk1": SurveyDesign(CLUS1, weights=jk1),
    }


DESIGNS = _designs()

GLM_CASES = {
    "clus1_gauss": ("clus1", "api00 ~ ell + meals + mobility + stype", "gaussian"),
    "clus1_logit": ("clus1", "sch_wide ~ ell + meals + mobility + stype", "quasibinomial"),
    "clus1_na": ("clus1", "api00 ~ avg_ed + ell", "gaussian"),
    "strat_gauss": ("strat", "api00 ~ ell + meals + mobility", "gaussian"),
    "strat_logit": ("strat", "sch_wide ~ ell + meals + mobility", "quasibinomial"),
    "clus1_sub": ("clus1", "api00 ~ ell + meals", "gaussian", "is_e"),
    "strat_sub": ("strat", "sch_wide ~ ell + meals", "quasibinomial", "is_e"),
    "cal_gauss": ("cal", "api00 ~ ell + meals + mobility", "gaussian"),
    "cal_logit": ("cal", "sch_wide ~ ell + meals", "quasibinomial"),
    "sim_gauss": ("sim", "y ~ x + z + exper", "gaussian"),
    "sim_logit": ("sim", "b ~ x + z + exper", "quasibinomial"),
    "sim_pois": ("sim", "cnt ~ x + z + exper", "quasipoisson"),
    "jk1_gauss": ("jk1", "api00 ~ ell + meals + mobility", "gaussian"),
    "jk1_logit": ("jk1", "sch_wide ~ ell + meals + mobility", "quasibinomial"),
}
OLR_CASES = {
    "clus1_olr": ("clus1", "ord_api ~ ell + meals + mobility"),
    "sim_olr": ("sim", "ord ~ x + z + exper"),
    "jk1_olr": ("jk1", "ord_api ~ ell + meals"),
    "jk1_olr_svyolr": ("jk1", "ord_api ~ ell + meals"),
}
#: svyolr on a replicate design refits MASS::polr per replicate at polr's default tolerance
#: (reltol 1e-8, not passed on): ~1e-4 relative (observed: 9e-5 estimates, 3e-5 SEs); jk1_olr the
#: same computation in R at reltol 1e-15
SPECIAL_TOL = {"jk1_olr_svyolr": 1e-3}


def _r_name(term: str) -> str:
    """Spell a formulaic term name as R does (``stype[T.H]`` -> ``stypeH``)."""
    if term == "Intercept":
        return "(Intercept)"
    if "[T." in term:
        var, level = term.split("[T.", 1)
        return var + level[:-1]
    return term


_FITS: dict = {}


def _fit(model: str, vcov: str = "design"):
    key = (model, vcov)
    if key not in _FITS:
        if model in GLM_CASES:
            design, formula, family, *subset = GLM_CASES[model]
            _FITS[key] = glm(DESIGNS[design], formula, family=family, vcov=vcov,
                             subset=subset[0] if subset else None)
        else:
            design, formula = OLR_CASES[model]
            _FITS[key] = olr(DESIGNS[design], formula, vcov=vcov)
    return _FITS[key]


def _ref(model: str) -> pd.DataFrame:
    return COEF[COEF["model"] == model].set_index("term")


# ----------------------------------------------------------------------------- against R

@pytest.mark.parametrize("model", list(GLM_CASES) + list(OLR_CASES))
def test_coefficients_ses_and_df_match_r_survey(model):
    res = _fit(model)
    ref = _ref(model)
    tol = SPECIAL_TOL.get(model, OLR_TOL if model in OLR_CASES else TOL)
    tidy = res.tidy()
    names = [_r_name(t) for t in tidy["term"]]
    assert names == list(ref.index)
    np.testing.assert_allclose(tidy["estimate"], ref["estimate"], rtol=tol)
    np.testing.assert_allclose(tidy["std_error"], ref["std_error"], rtol=tol)
    np.testing.assert_array_equal(tidy["df"], ref["df"])
    if ref["deff"].notna().all():                       # svyglm(deff = TRUE)
        np.testing.assert_allclose(tidy["deff"], ref["deff"], rtol=tol)


@pytest.mark.parametrize("row", TESTS.to_dict("records"), ids=lambda r: f"{r['model']}:"
                         f"{r['terms']}")
def test_wald_test_is_regtermtest(row):
    res = _fit(row["model"])
    terms = row["terms"].split("+")
    w = res.wald_test(terms)
    tol = OLR_TOL if row["model"] in OLR_CASES else TOL
    assert w.test == "f" and w.df_num == row["df"] and w.df_denom == row["ddf"]
    np.testing.assert_allclose([w.statistic, w.p_value], [row["Ftest"], row["p"]], rtol=tol)
    assert "regTermTest" in str(w) and "F(2" in str(w) or w.df_num != 2   # its reference
    chi = res.wald_test(terms, test="chi2")
    np.testing.assert_allclose(chi.wald, row["Ftest"] * row["df"], rtol=tol)
    assert chi.df_denom == np.inf


def _r_weights(model: str, spec: str) -> dict:
    names = {_r_name(t): t for t in _fit(model).params.index}
    if spec == "ell-meals":
        return {names["ell"]: 1, names["meals"]: -1}
    if spec == "stypeH-stypeM":
        return {names["stypeH"]: 1, names["stypeM"]: -1}
    if spec == "2y-2y+":
        return {names["exper2 years"]: 1, names["exper2 years plus"]: -1}
    return {names["x"]: 1, names["z"]: 1}


@pytest.mark.parametrize("row", CONTRAST.to_dict("records"), ids=lambda r: r["model"])
def test_contrast_is_svycontrast(row):
    res = _fit(row["model"])
    c = res.contrast(_r_weights(row["model"], row["contrast"]))
    np.testing.assert_allclose([c.estimate, c.std_error], [row["estimate"], row["std_error"]],
                               rtol=TOL)
    assert c.df == res.tidy()["df"].iloc[0]              # the residual design df
    tidy = c.tidy()
    assert {"estimate", "std_error", "statistic", "df", "p_value", "ci_lower"} <= set(tidy)


@pytest.mark.parametrize("model", ["sim_gauss", "sim_logit", "sim_pois"])
def test_cr2_matches_clubsandwich_on_the_weighted_glm(model):
    res = _fit(model, "cr2")
    ref = CR2[CR2["model"] == model]
    q = dict(zip(ref["quantity"] + ":" + ref["term"], ref["value"]))
    tidy = res.tidy()
    se = [q[f"coef_se:{_r_name(t)}"] for t in tidy["term"]]
    df = [q[f"coef_df:{_r_name(t)}"] for t in tidy["term"]]
    np.testing.assert_allclose(tidy["std_error"], se, rtol=TOL)
    np.testing.assert_allclose(tidy["df"], df, rtol=TOL)
    np.testing.assert_allclose(tidy["estimate"], _ref(model)["estimate"], rtol=TOL)
    w = res.wald_test("exper")
    assert w.test == "htz"
    np.testing.assert_allclose([w.statistic, w.df_denom, w.p_value],
                               [q["htz_F:exper"], q["htz_df_denom:exper"], q["htz_p:exper"]],
                               rtol=TOL)
    c = res.contrast(_r_weights(model, "2y-2y+"))
    np.testing.assert_allclose([c.estimate, c.std_error, c.df],
                               [q["lc_est:2y-2y+"], q["lc_se:2y-2y+"], q["lc_df:2y-2y+"]],
                               rtol=TOL)
    assert "CR2" in str(res) and "Satterthwaite" in str(res)


def test_cr2_wider_than_the_design_sandwich_with_ten_clusters():
    design, cr2 = _fit("sim_gauss"), _fit("sim_gauss", "cr2")
    assert (cr2.std_errors > design.std_errors).all()
    assert "vcov='cr2'" in str(design)                   # the summary points to it


@pytest.mark.parametrize("vcov", ["cr0", "cr1", "cr3"])
def test_other_cluster_kinds_use_g_minus_1_df(vcov):
    res = _fit("sim_logit", vcov)
    assert (res.tidy()["df"] == 9).all()
    w = res.wald_test("exper")
    assert w.df_denom == 9 and w.test == "f"


def test_cr1_is_cr0_times_g_over_g_minus_1():
    v0 = _fit("sim_pois", "cr0").vcov.to_numpy()
    v1 = _fit("sim_pois", "cr1").vcov.to_numpy()
    np.testing.assert_allclose(v1, v0 * 10 / 9, rtol=1e-12)


def test_olr_cluster_kinds():
    res = _fit("sim_olr", "cr2")
    assert (res.tidy()["df"] < 9).all()                  # Satterthwaite, per coefficient
    w = res.wald_test("exper")                         # CR2: score-form HTZ (was F(q, G-1))
    assert 1 < w.df_denom < 9 and w.test == "htz"
    assert "HTZ" in str(w) and "CR2" in str(w) and "regTermTest" not in str(w)
    c = res.contrast({"exper[T.2 years]": 1, "exper[T.2 years plus]": -1})
    assert 1 < c.df < 9                                # Satterthwaite, score form
    w1 = _fit("sim_olr", "cr1").wald_test("exper")
    assert w1.df_denom == 9 and w1.test == "f" and "G - 1 = 9" in str(w1)


def test_method_on_the_design_delegates():
    res = DESIGNS["clus1"].glm("api00 ~ ell + meals + mobility + stype", vcov="design")
    pd.testing.assert_frame_equal(res.tidy(), _fit("clus1_gauss").tidy())


def test_default_vcov_is_cr2_below_42_psus_and_says_so():
    formula = "api00 ~ ell + meals + mobility + stype"
    few = glm(DESIGNS["clus1"], formula)                      # 15 PSUs
    assert few.inference == "cr2"
    pd.testing.assert_frame_equal(few.tidy(), _fit("clus1_gauss", "cr2").tidy())
    assert "vcov='cr2' by default: 15 PSUs" in str(few)
    many = glm(DESIGNS["strat"], "api00 ~ ell + meals + mobility")  # 200 PSUs
    assert many.inference == "design" and "by default" not in str(many)
    assert glm(DESIGNS["jk1"], "api00 ~ ell").inference == "replicate"
    assert olr(DESIGNS["sim"], "ord ~ x").inference == "cr2"
    explicit = glm(DESIGNS["clus1"], formula, vcov="design")
    assert "by default" not in str(explicit) and "under-cover" in str(explicit)


def test_missing_rows_are_counted_and_left_out():
    res = _fit("clus1_na")
    assert res.nobs == 183 - 26 and res.n_dropped == 26
    assert "26 with a missing value" in str(res)


def test_a_psu_with_no_complete_row_leaves_the_df():
    data = SIM.copy()
    data.loc[data["pilot"] == "P10", "y"] = np.nan
    res = glm(SurveyDesign(data, cluster="pilot", weights="pw"), "y ~ x + z + exper",
              vcov="design")
    assert res.tidy()["df"].iloc[0] == 9 - 1 + 1 - 5      # degf over the 9 PSUs left


def test_tidy_summary_and_dict():
    res = _fit("clus1_logit")
    tidy = res.tidy(level=0.9)
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                      "ci_lower", "ci_upper"]
    from scipy import stats

    half = stats.t.ppf(0.95, 9) * tidy["std_error"]
    np.testing.assert_allclose(tidy["ci_upper"] - tidy["estimate"], half, rtol=1e-12)
    text = str(res)
    assert "quasibinomial" in text and "degf + 1 - p = 14 + 1 - 6 = 9" in text
    assert res.to_dict()["estimates"][0]["term"] == "Intercept"
    assert res.vcov.shape == (6, 6)


@pytest.mark.parametrize("vcov", ["design", "cr2"])
def test_binomial_and_quasibinomial_agree_but_for_the_deff(vcov):
    # the same fit and design-based SEs; only the SRS variance of the deff uses the
    # dispersion (1 for binomial, Pearson for quasibinomial), as R's svyglm(deff = TRUE)
    a = glm(DESIGNS["sim"], "b ~ x + z + exper", family="binomial", vcov=vcov).tidy()
    b = glm(DESIGNS["sim"], "b ~ x + z + exper", family="quasibinomial", vcov=vcov).tidy()
    pd.testing.assert_frame_equal(a.drop(columns="deff"), b.drop(columns="deff"))
    ratio = (b["deff"] / a["deff"]).to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert ratio[0] != 1.0


def test_olr_categories_order_and_labels():
    data = SIM.assign(item=SIM["ord"].map({1: "none", 2: "some", 3: "most", 4: "all"}))
    d = SurveyDesign(data, cluster="pilot", weights="pw")
    res = olr(d, "item ~ x + z + exper", categories=["none", "some", "most", "all"])
    assert list(res.params.index[-3:]) == ["none|some", "some|most", "most|all"]
    np.testing.assert_allclose(res.params.to_numpy(), _fit("sim_olr").params.to_numpy(),
                               rtol=1e-12)


# ----------------------------------------------------------------------------- bad input

def test_term_not_in_data_is_named():
    with pytest.raises(DataError, match="'nonesuch'"):
        glm(DESIGNS["clus1"], "api00 ~ ell + nonesuch")
    with pytest.raises(DataError, match="'nonesuch'"):
        glm(DESIGNS["clus1"], "nonesuch ~ ell")
    with pytest.raises(DataError, match="'nonesuch'"):
        olr(DESIGNS["clus1"], "ord_api ~ nonesuch")


def test_non_binary_outcome_for_binomial():
    with pytest.raises(DataError, match="0/1.*'api00'"):
        glm(DESIGNS["clus1"], "api00 ~ ell", family="binomial")
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        glm(DESIGNS["clus1"], "api00 ~ ell", family="quasibinomial")
    with pytest.raises(DataError, match="must be numeric"):
        glm(DESIGNS["clus1"], "stype ~ ell")
    with pytest.raises(DataError, match="negative"):
        glm(DESIGNS["sim"], "x ~ z", family="quasipoisson")
    with pytest.raises(DataError, match="counts"):
        glm(DESIGNS["sim"], "y ~ x", family="poisson")


def test_fewer_than_two_clusters():
    one = SIM[SIM["pilot"] == "P01"]
    with pytest.raises(DesignError, match="two"):
        SurveyDesign(one, cluster="pilot", weights="pw")
    data = SIM.copy()
    data.loc[data["pilot"] != "P01", "y"] = np.nan            # complete rows in one PSU
    design = SurveyDesign(data, cluster="pilot", weights="pw")
    with pytest.raises(DesignError, match="fewer than two PSUs"):
        glm(design, "y ~ x")
    with pytest.raises(DesignError, match="fewer than two PSUs"):
        glm(design, "y ~ x", vcov="cr2")


def test_bad_options_and_designs():
    with pytest.raises(DataError, match="`family`"):
        glm(DESIGNS["clus1"], "api00 ~ ell", family="gamma")
    with pytest.raises(DataError, match="`vcov`"):
        glm(DESIGNS["clus1"], "api00 ~ ell", vcov="hc3")
    with pytest.raises(DataError, match="SurveyDesign"):
        glm(CLUS1, "api00 ~ ell")
    with pytest.raises(DesignError, match="replicate"):
        glm(DESIGNS["jk1"], "api00 ~ ell", vcov="cr2")
    with pytest.raises(DesignError, match="collinear"):
        glm(DESIGNS["clus1"].__class__(CLUS1.assign(ell2=2 * CLUS1["ell"]), cluster="dnum",
                                       weights="pw"), "api00 ~ ell + ell2")


def test_separation_is_refused():
    data = SIM.assign(sep=(SIM["x"] > 0).astype(int))
    with pytest.raises(DesignError, match="separation"):
        glm(SurveyDesign(data, cluster="pilot", weights="pw"), "sep ~ x", family="binomial")
    with pytest.raises(DesignError, match="separation"):
        olr(SurveyDesign(data, cluster="pilot", weights="pw"), "sep ~ x")


def test_hypothesis_errors():
    res = _fit("sim_gauss")
    with pytest.raises(DataError, match="not in the model"):
        res.wald_test("nonesuch")
    with pytest.raises(DataError, match="'f' or 'chi2'"):
        res.wald_test("exper", test="htz")
    with pytest.raises(DesignError, match="wild"):
        res.wald_test("exper", test="wild")
    with pytest.raises(DesignError, match="columns"):
        res.wald_test(R=np.ones((1, 3)))
    # more restrictions than the design df (10 PSUs: 9)
    data = SIM.assign(**{f"v{j}": np.random.default_rng(j).normal(size=len(SIM))
                         for j in range(10)})
    many = glm(SurveyDesign(data, cluster="pilot", weights="pw"),
               "y ~ " + " + ".join(f"v{j}" for j in range(10)))
    with pytest.raises(DesignError, match="at most 9"):
        many.wald_test([f"v{j}" for j in range(10)])


def test_inputs_not_modified():
    before = CLUS1.copy()
    design = SurveyDesign(CLUS1, cluster="dnum", weights="pw", fpc="fpc")
    data_before = design.data.copy()
    glm(design, "api00 ~ ell + meals + C(stype)")
    olr(design, "ord_api ~ ell")
    pd.testing.assert_frame_equal(CLUS1, before)
    pd.testing.assert_frame_equal(design.data, data_before)


# ----------------------------------------------------------------------------- properties

@settings(max_examples=15, deadline=None)
@given(scale=st.floats(1e-3, 1e3), family=st.sampled_from(["gaussian", "binomial",
                                                           "quasipoisson"]))
def test_weights_scaled_by_a_constant_change_nothing(scale, family):
    formula = {"gaussian": "y ~ x + z + exper", "binomial": "b ~ x + z + exper",
               "quasipoisson": "cnt ~ x + z"}[family]
    scaled = SurveyDesign(SIM.assign(pw=SIM["pw"] * scale), cluster="pilot", weights="pw")
    plain = SurveyDesign(SIM, cluster="pilot", weights="pw")
    for vcov in ("design", "cr2"):
        a = glm(plain, formula, family=family, vcov=vcov).tidy()
        b = glm(scaled, formula, family=family, vcov=vcov).tidy()
        np.testing.assert_allclose(b["estimate"], a["estimate"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b["std_error"], a["std_error"], rtol=1e-9)
        np.testing.assert_allclose(b["df"], a["df"], rtol=1e-9)
    o1 = olr(plain, "ord ~ x + z", vcov="design").tidy()
    o2 = olr(scaled, "ord ~ x + z", vcov="design").tidy()
    np.testing.assert_allclose(o2[["estimate", "std_error"]], o1[["estimate", "std_error"]],
                               rtol=1e-8)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(seed):
    perm = np.random.default_rng(seed).permutation(len(STRAT))
    shuffled = SurveyDesign(STRAT.iloc[perm], strata="stype", weights="pw", fpc="fpc")
    for family, formula in [("gaussian", "api00 ~ ell + meals + mobility"),
                            ("binomial", "sch_wide ~ ell + meals + mobility")]:
        a = glm(DESIGNS["strat"], formula, family=family).tidy()
        b = glm(shuffled, formula, family=family).tidy()
        np.testing.assert_allclose(b[["estimate", "std_error"]], a[["estimate", "std_error"]],
                                   rtol=1e-9)
    o1 = _fit("clus1_olr").tidy()
    perm = np.random.default_rng(seed).permutation(len(CLUS1))
    o2 = olr(SurveyDesign(CLUS1.iloc[perm], cluster="dnum", weights="pw", fpc="fpc"),
             OLR_CASES["clus1_olr"][1], vcov="design").tidy()
    np.testing.assert_allclose(o2[["estimate", "std_error"]], o1[["estimate", "std_error"]],
                               rtol=1e-8)


@settings(max_examples=10, deadline=None)
@given(labels=st.permutations(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]))
def test_relabelled_clusters_change_nothing(labels):
    mapping = dict(zip(sorted(SIM["pilot"].unique()), labels))
    relabelled = SurveyDesign(SIM.assign(pilot=SIM["pilot"].map(mapping)), cluster="pilot",
                              weights="pw")
    for vcov in ("design", "cr2"):
        a = _fit("sim_logit", vcov).tidy()
        b = glm(relabelled, "b ~ x + z + exper", family="binomial", vcov=vcov).tidy()
        np.testing.assert_allclose(b[["estimate", "std_error", "df"]],
                                   a[["estimate", "std_error", "df"]], rtol=1e-9)


def test_one_stage_with_replacement_design_sandwich_is_cr1():
    # no strata, no fpc: V_design = G/(G-1) sum_j T_j T_j' of the PSU score totals (which sum
    # to zero at the estimate), the CR1 sandwich
    for model in ("sim_gauss", "sim_logit", "sim_pois"):
        np.testing.assert_allclose(_fit(model).vcov.to_numpy(),
                                   _fit(model, "cr1").vcov.to_numpy(), rtol=1e-10, atol=1e-14)


def test_a_domain_is_the_rows_outside_it_with_zero_scores():
    inside = SIM["exper"] != "1 year"
    miss_y = SIM.assign(y=SIM["y"].where(inside), ord=SIM["ord"].where(inside))
    d_all = DESIGNS["sim"]
    d_miss = SurveyDesign(miss_y, cluster="pilot", weights="pw")
    for vcov in ("design", "cr2"):
        a = glm(d_all, "y ~ x + z", vcov=vcov, subset=inside.to_numpy())
        b = glm(d_miss, "y ~ x + z", vcov=vcov)
        pd.testing.assert_frame_equal(a.tidy(), b.tidy())
        assert a.n_dropped == 0 and a.nobs == int(inside.sum())
        assert "in the domain <mask>" in str(a)
        o1 = olr(d_all, "ord ~ x + z", vcov=vcov, subset=inside.to_numpy())
        o2 = olr(d_miss, "ord ~ x + z", vcov=vcov)
        pd.testing.assert_frame_equal(o1.tidy(), o2.tidy())
    with pytest.raises(DataError, match="`subset`"):
        glm(d_all, "y ~ x", subset="nonesuch")
    with pytest.raises(DataError, match="`subset`"):
        glm(d_all, "y ~ x", subset=np.ones(3, bool))
    with pytest.raises(DataError, match="no row"):
        glm(d_all, "y ~ x", subset=np.zeros(len(SIM), bool))


def test_a_missing_category_is_left_out_not_the_reference_level():
    rows = SIM.index[::7]
    miss_x = SIM.assign(exper=SIM["exper"].where(~SIM.index.isin(rows)))
    miss_y = SIM.assign(y=SIM["y"].where(~SIM.index.isin(rows)))
    for vcov in ("design", "cr2"):
        a = glm(SurveyDesign(miss_x, cluster="pilot", weights="pw"), "y ~ x + C(exper)",
                vcov=vcov)
        b = glm(SurveyDesign(miss_y, cluster="pilot", weights="pw"), "y ~ x + C(exper)",
                vcov=vcov)
        assert a.n_dropped == len(rows)
        pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    o = olr(SurveyDesign(miss_x, cluster="pilot", weights="pw"), "ord ~ x + C(exper)")
    assert o.n_dropped == len(rows) and o.nobs == len(SIM) - len(rows)


@settings(max_examples=6, deadline=None)
@given(order=st.permutations(["1 year", "2 years", "2 years plus"]))
def test_relabelled_categories_leave_the_joint_test_unchanged(order):
    # renaming the experience levels changes the reference level (a reparametrisation):
    # the joint test of the factor, the fitted model and the intercept-free contrasts agree
    mapping = dict(zip(["1 year", "2 years", "2 years plus"], [f"g{order.index(v)}" for v in
                                                                ["1 year", "2 years",
                                                                 "2 years plus"]]))
    relabelled = SurveyDesign(SIM.assign(exper=SIM["exper"].map(mapping)), cluster="pilot",
                              weights="pw")
    for vcov, family in (("design", "gaussian"), ("cr2", "gaussian"), ("design", "binomial"),
                         ("cr2", "binomial")):
        lhs = "y" if family == "gaussian" else "b"
        a = glm(DESIGNS["sim"], f"{lhs} ~ x + z + exper", family=family, vcov=vcov)
        b = glm(relabelled, f"{lhs} ~ x + z + exper", family=family, vcov=vcov)
        wa, wb = a.wald_test("exper"), b.wald_test("exper")
        np.testing.assert_allclose([wb.statistic, wb.df_denom, wb.p_value],
                                   [wa.statistic, wa.df_denom, wa.p_value], rtol=1e-8)
        np.testing.assert_allclose(b.tidy().set_index("term").loc[["x", "z"], ["estimate",
                                                                              "std_error"]],
                                   a.tidy().set_index("term").loc[["x", "z"], ["estimate",
                                                                              "std_error"]],
                                   rtol=1e-8)
    oa = olr(DESIGNS["sim"], "ord ~ x + z + exper", vcov="design").wald_test("exper")
    ob = olr(relabelled, "ord ~ x + z + exper", vcov="design").wald_test("exper")
    np.testing.assert_allclose(ob.statistic, oa.statistic, rtol=1e-7)


def test_design_methods_delegate_olr_and_poststratify():
    """design.olr / design.poststratify are the module functions (one call, two spellings)."""
    from sosstats.survey import SurveyDesign, olr, poststratify

    rng = np.random.default_rng(5)
    d = pd.DataFrame({"c": np.repeat(np.arange(12), 15), "g": rng.integers(0, 2, 180),
                      "x": rng.normal(size=180)})
    d["y"] = pd.Categorical(np.digitize(d["x"] + rng.normal(size=180), [-0.5, 0.5]),
                            ordered=True)
    design = SurveyDesign(d, cluster="c")
    a, b = design.olr("y ~ x"), olr(design, "y ~ x")
    np.testing.assert_allclose(a.tidy()["std_error"], b.tidy()["std_error"])
    pop = {0: 900, 1: 1100}
    p1 = design.poststratify("g", pop).mean("x").tidy()
    p2 = poststratify(design, "g", pop).mean("x").tidy()
    np.testing.assert_allclose(p1["std_error"], p2["std_error"])


def test_olr_cr2_joint_tests_are_score_form_htz():
    """With CR2 the ordinal model's joint test is HTZ (score form); one term equals its t row."""
    from sosstats.datasets import simulate_evaluation
    from sosstats.survey import SurveyDesign

    workers = simulate_evaluation(rng=2017).worker_survey
    fit = SurveyDesign(workers, cluster="la_code").olr(
        "tool_safety_planning ~ C(experience) + confidence")
    assert fit.inference == "cr2"
    joint = fit.wald_test("C(experience)").tidy().iloc[0]
    assert joint["test"] == "htz" and 1 < joint["df_denom"] < 9
    row = fit.tidy().set_index("term").loc["confidence"]
    one = fit.wald_test("confidence").tidy().iloc[0]
    np.testing.assert_allclose([one["statistic"], one["df_denom"]],
                               [row["statistic"] ** 2, row["df"]], rtol=1e-10)
    c = fit.contrast({"confidence": 1}).tidy().iloc[0]
    np.testing.assert_allclose([c["std_error"], c["df"]], [row["std_error"], row["df"]],
                               rtol=1e-10)
