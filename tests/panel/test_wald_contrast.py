"""result.wald_test / result.contrast on change models (issue 14): clubSandwich through the
public path, the default inference, identities with the per-term table, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError
from sosstats.panel import change_model, wide_to_long

FIX = Path(__file__).resolve().parents[1] / "fixtures"
EXP = ["exp2", "exp2plus"]
TESTS = {"chi-sq": "chi2", "Naive-F": "f", "HTZ": "htz"}


@pytest.fixture(scope="module")
def long_ref():
    """The frozen 178 families as a two-wave panel whose change is y (T1 = 0, T2 = y)."""
    d = pd.read_csv(FIX / "cluster_reference_input.csv")
    d["id"] = np.arange(len(d))
    t1 = d.assign(wave="t1", out=0.0)
    t2 = d.assign(wave="t2", out=d["y"])
    return pd.concat([t1, t2], ignore_index=True)


@pytest.mark.parametrize("model", ["ols", "wls"])
def test_wald_and_contrast_match_clubsandwich_through_change_model(long_ref, model):
    ref = pd.read_csv(FIX / "wald_public_r.csv")
    ref = ref[ref.model == model]
    fit = change_model("out ~ cohort2 + exp2 + exp2plus", long_ref, entity="id", time="wave",
                       cluster="la_code", weights=None if model == "ols" else "w")
    assert fit.inference == "cr2"                               # 10 pilots: the default
    for row in ref[ref.what == "wald"].itertuples():
        res = fit.wald_test(EXP, test=TESTS[row.test])
        assert res.statistic == pytest.approx(row.value, rel=1e-10)
        assert res.df_denom == pytest.approx(row.df, rel=1e-10)
        assert res.p_value == pytest.approx(row.p_val, rel=1e-9)
    c = ref[ref.what == "contrast"].iloc[0]
    res = fit.contrast({"exp2": 1, "exp2plus": -1})
    assert res.estimate == pytest.approx(c.value, rel=1e-10)
    assert res.std_error == pytest.approx(c.se, rel=1e-10)
    assert res.df == pytest.approx(c.df, rel=1e-10)
    assert res.p_value == pytest.approx(c.p_val, rel=1e-9)
    assert fit.wald_test(EXP).test == "htz"                     # CR2 fit: HTZ by default


@pytest.fixture(scope="module")
def panel():
    fam = simulate_evaluation(rng=14).families
    return wide_to_long(fam, id="family_id", stubs=["sdq"])


def test_default_is_cr2_below_42_clusters_and_says_so(panel):
    fit = change_model("sdq ~ cohort + C(experience)", panel, entity="family_id",
                       time="wave", cluster="la_code")
    assert fit.inference == "cr2"
    text = str(fit)
    assert "the default below 42 clusters" in text and "Satterthwaite df" in text
    cr1 = change_model("sdq ~ cohort + C(experience)", panel, entity="family_id", time="wave",
                       cluster="la_code", inference="cr1")
    assert cr1.inference == "cr1" and "default" not in str(cr1)
    by_family = change_model("sdq ~ cohort", panel, entity="family_id", time="wave")
    assert by_family.inference == "cr1"                         # 270 clusters: CR1


def test_factor_name_is_one_joint_hypothesis(panel):
    fit = change_model("sdq ~ cohort + C(experience)", panel, entity="family_id",
                       time="wave", cluster="la_code")
    terms = ["C(experience)[T.2 years]", "C(experience)[T.2 years plus]"]
    by_factor, by_list = fit.wald_test("C(experience)"), fit.wald_test(terms)
    assert by_factor.df_num == 2 and by_factor.p_value == by_list.p_value
    R = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], columns=terms)
    assert fit.wald_test(R=R).statistic == pytest.approx(by_list.statistic, rel=1e-12)
    tidy = by_factor.tidy()
    assert list(tidy.columns) == ["hypothesis", "test", "statistic", "df_num", "df_denom",
                                  "p_value", "wald"]
    assert tidy.loc[0, "hypothesis"] == "C(experience)"
    assert "H0: C(experience)[T.2 years] = 0; C(experience)[T.2 years plus] = 0" \
        in str(by_factor)
    json.dumps(by_factor.to_dict())


@pytest.mark.parametrize("inference", ["cr1", "cr2", "cr3"])
def test_one_term_equals_the_table(panel, inference):
    fit = change_model("sdq ~ cohort + C(experience)", panel, entity="family_id",
                       time="wave", cluster="la_code", inference=inference)
    row = fit.table.loc["cohort"]
    w = fit.wald_test("cohort", test="htz" if inference == "cr2" else "f")
    assert w.statistic == pytest.approx(row["statistic"] ** 2, rel=1e-10)
    assert w.df_denom == pytest.approx(row["df"], rel=1e-9)
    assert w.p_value == pytest.approx(row["p_value"], rel=1e-8)
    c = fit.contrast({"cohort": 1})
    assert c.std_error == pytest.approx(row["std_error"], rel=1e-12)
    assert c.df == pytest.approx(row["df"], rel=1e-9)
    ci = c.tidy()
    lo, hi = fit.conf_int().loc["cohort"]
    assert ci.loc[0, "ci_lower"] == pytest.approx(lo) and ci.loc[0, "ci_upper"] == pytest.approx(hi)


@settings(max_examples=15, deadline=None)
@given(a=st.floats(-3, 3), b=st.floats(-3, 3), shift=st.floats(-2, 2))
def test_contrast_is_linear_and_tests_its_value(panel, a, b, shift):
    fit = _fit_cached(panel)
    if abs(a) + abs(b) < 1e-3:
        return
    t1, t2 = "C(experience)[T.2 years]", "C(experience)[T.2 years plus]"
    c = fit.contrast({t1: a, t2: b}, value=shift)
    beta = fit.params
    assert c.estimate == pytest.approx(a * beta[t1] + b * beta[t2] - shift, abs=1e-10)
    w = fit.wald_test(R=pd.DataFrame([[a, b]], columns=[t1, t2]), r=shift)
    assert w.statistic == pytest.approx(c.statistic ** 2, rel=1e-8, abs=1e-12)
    assert w.df_denom == pytest.approx(c.df, rel=1e-7)


_CACHE: dict = {}


def _fit_cached(panel):
    if "fit" not in _CACHE:
        _CACHE["fit"] = change_model("sdq ~ cohort + C(experience)", panel,
                                     entity="family_id", time="wave", cluster="la_code")
    return _CACHE["fit"]


def test_bad_hypotheses_are_named(panel):
    fit = _fit_cached(panel)
    with pytest.raises(DataError, match="term 'cohrot' is not in the model"):
        fit.wald_test("cohrot")
    with pytest.raises(DesignError, match="must have 4 columns"):
        fit.wald_test(R=np.eye(3))
    with pytest.raises(DesignError, match="rank 1"):
        fit.wald_test(R=[[0, 1, 0, 0], [0, 2, 0, 0]])
    with pytest.raises(DataError, match="not both and not neither"):
        fit.wald_test()
    with pytest.raises(DataError, match="`R` has column"):
        fit.wald_test(R=pd.DataFrame([[1.0]], columns=["nope"]))
    with pytest.raises(DataError, match="names 2 terms"):
        fit.contrast({"C(experience)": 1})
    with pytest.raises(DataError, match="must be a number"):
        fit.contrast({"cohort": "one"})
    with pytest.raises(DataError, match="non-empty dict"):
        fit.contrast({})
    cr1 = change_model("sdq ~ cohort", panel, entity="family_id", time="wave",
                       cluster="la_code", inference="cr1")
    with pytest.raises(DesignError, match="HTZ test is defined for the CR2"):
        cr1.wald_test("cohort", test="htz")


def test_term_removed_by_fixed_effects_is_named(panel):
    fe = change_model("sdq ~ cohort + C(experience)", panel, entity="family_id",
                      time="wave", cluster="la_code", method="fixed_effects")
    with pytest.raises(DesignError, match="absorbed by the entity fixed effects.*cohort:wave"):
        fe.contrast({"cohort": 1})
    joint = fe.wald_test("C(experience)")                       # the interactions with wave
    assert joint.df_num == 2 and all(":wave[" in h for h in joint.hypothesis)


def test_more_restrictions_than_clusters(panel):
    three = panel[panel["la_code"].isin(panel["la_code"].unique()[:3])]
    fit = change_model("sdq ~ cohort + previous_referral + agency_worker", three,
                       entity="family_id", time="wave", cluster="la_code")
    with pytest.raises(DesignError, match="3 restrictions but only 3 clusters"):
        fit.wald_test(["cohort", "previous_referral", "agency_worker"])


def test_weights_zero_in_a_whole_cluster_are_refused(panel):
    d = panel.assign(w=(panel["la_code"] != panel["la_code"].iloc[0]).astype(float))
    with pytest.raises(DataError, match="zero in every row of cluster .* of 'la_code'"):
        change_model("sdq ~ cohort", d, entity="family_id", time="wave", cluster="la_code",
                     weights="w")


@pytest.mark.parametrize("model", ["clogit", "clogit_w"])
def test_conditional_logit_wald_and_contrast_match_clubsandwich_glm(model):
    """The two-wave conditional logit is a glm on the changers: Wald_test / linear_contrast."""
    from sosstats.panel import conditional_logit

    data = pd.read_csv(FIX / "glm_cr2_reference_input.csv")
    ref = pd.read_csv(FIX / "glm_wald_reference_r.csv", skipinitialspace=True)
    ref = ref[ref.model == model]
    fit = conditional_logit(data, "y1", "y2", covariates=["x", "z"], cluster="pilot",
                            weights="w" if model == "clogit_w" else None, inference="cr2")
    for test, ours in TESTS.items():
        row = ref[(ref.hypothesis == "joint_all") & (ref.test == test)].set_index(
            "quantity")["value"]
        res = fit.wald_test(["time:x", "time:z"], test=ours)
        assert res.statistic == pytest.approx(row["Fstat"], rel=1e-7)
        assert res.p_value == pytest.approx(row["p_val"], rel=1e-6)
        if np.isfinite(row["df_denom"]):
            assert res.df_denom == pytest.approx(row["df_denom"], rel=1e-7)
    lc = ref[ref.hypothesis == "x_minus_z"].set_index("quantity")["value"]
    c = fit.contrast({"time:x": 1, "time:z": -1})
    assert c.estimate == pytest.approx(lc["Est"], rel=1e-7)
    assert c.std_error == pytest.approx(lc["SE"], rel=1e-7)
    assert c.df == pytest.approx(lc["df"], rel=1e-7)
    model_based = conditional_logit(data, "y1", "y2", covariates=["x", "z"])
    w = model_based.wald_test(["time:x", "time:z"])
    assert w.test == "chi2" and w.df_denom == np.inf
    assert model_based.contrast({"time:x": 1}).df == np.inf


def test_wild_fit_bootstraps_the_joint_test_and_prints_its_floor(panel):
    fit = change_model("sdq ~ cohort + C(experience)", panel, entity="family_id",
                       time="wave", cluster="la_code", inference="wild", rng=1)
    joint = fit.wald_test("C(experience)")
    assert joint.test == "wild" and joint.info["enumerated"] and joint.info["n_resamples"] == 1024
    # one restriction: the bootstrap p-value of the per-term table
    one = fit.wald_test("cohort")
    assert one.p_value == pytest.approx(fit.table.loc["cohort", "p_value"], abs=1e-12)
    text = str(joint)
    assert "all 1,024 Rademacher sign vectors" in text
    zero = wide_to_long(simulate_evaluation(rng=0).families, id="family_id")
    prepost = change_model("sdq ~ 1", zero, entity="family_id", time="wave",
                           cluster="la_code", inference="wild", rng=1)
    floor = prepost.wald_test("Intercept")
    assert floor.p_value == 0 and "< 1/1,024 (all 1,024 sign vectors)" in str(floor)
    assert "p < 1/1,024" in str(floor)
    assert fit.wald_test("C(experience)", test="f").test == "f"      # CR1 F on request


def test_wild_weights_choice_reaches_the_bootstrap(panel):
    kw = dict(entity="family_id", time="wave", cluster="la_code", inference="wild",
              n_resamples=999, rng=3)
    webb = change_model("sdq ~ cohort", panel, wild_weights="webb", **kw)
    rade = change_model("sdq ~ cohort", panel, **kw)
    assert not webb.table["enumerated"].any() and not rade.table["enumerated"].any()
    assert "drawn webb weight vectors" in str(webb)
    assert "drawn rademacher weight vectors" in str(rade)
    assert webb.table.loc["cohort", "p_value"] != rade.table.loc["cohort", "p_value"]
    joint = webb.wald_test(["cohort"])
    assert joint.info["weight_type"] == "webb" and not joint.info["enumerated"]
    mammen = webb.wald_test(["cohort"], wild_weights="mammen", rng=2)
    assert mammen.info["weight_type"] == "mammen"
    with pytest.raises(DataError, match="wild_weights"):
        change_model("sdq ~ cohort", panel, wild_weights="gauss", **kw)
