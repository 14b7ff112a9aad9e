"""Joint tests and contrasts after ordered_change (issue 14): score-form CR2 HTZ."""

from __future__ import annotations

import numpy as np
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.panel import ordered_change


@pytest.fixture(scope="module")
def families():
    return simulate_evaluation(rng=3).families


def _fit(f, **kw):
    return ordered_change(f, "feelings_t1", "feelings_t2", covariates=["experience", "cohort"],
                          **kw)


def test_factor_name_is_one_joint_hypothesis_with_htz(families):
    fit = _fit(families, cluster="la_code")
    by_name = fit.wald_test("experience").tidy().iloc[0]
    listed = fit.wald_test(["experience[2 years]", "experience[2 years plus]"]).tidy().iloc[0]
    assert by_name["test"] == "htz" and by_name["df_num"] == 2
    np.testing.assert_allclose(by_name[["statistic", "df_denom", "p_value"]].astype(float),
                               listed[["statistic", "df_denom", "p_value"]].astype(float))
    assert 1 < by_name["df_denom"] < 9                 # few-cluster df, not G - 1


def test_one_term_contrast_and_test_equal_the_table(families):
    fit = _fit(families, cluster="la_code")
    row = fit.tidy().set_index("term").loc["cohort"]
    c = fit.contrast({"cohort": 1}).tidy().iloc[0]
    np.testing.assert_allclose([c["estimate"], c["std_error"], c["df"]],
                               [row["estimate"], row["std_error"], row["df"]], rtol=1e-10)
    w = fit.wald_test("cohort").tidy().iloc[0]
    np.testing.assert_allclose([w["statistic"], w["df_denom"]],
                               [row["statistic"] ** 2, row["df"]], rtol=1e-10)


def test_other_inference_kinds(families):
    model = _fit(families).wald_test("experience").tidy().iloc[0]
    assert model["test"] == "chi2" and np.isinf(model["df_denom"])
    cr1 = _fit(families, cluster="la_code", inference="cr1").wald_test("experience")
    assert cr1.tidy().iloc[0]["test"] == "f" and cr1.tidy().iloc[0]["df_denom"] == 9
    wild = _fit(families, cluster="la_code", inference="wild", n_resamples=99, rng=1)
    w = wild.wald_test("experience").tidy().iloc[0]
    ref = _fit(families, cluster="la_code").wald_test("experience").tidy().iloc[0]
    assert w["test"] == "htz"                          # the wild score bootstrap is per slope
    np.testing.assert_allclose(w["p_value"], ref["p_value"], rtol=1e-10)


def test_summaries_say_when_cr2_was_the_default(families):
    from sosstats.panel import conditional_logit

    chosen = str(_fit(families, cluster="la_code").summary())
    named = str(_fit(families, cluster="la_code", inference="cr2").summary())
    assert "the default below 42 clusters" in chosen and "the default" not in named
    logit = conditional_logit(families, "shared_understanding_t1", "shared_understanding_t2",
                              covariates=["cohort"], cluster="la_code")
    assert "the default below 42 clusters" in str(logit.summary())
