"""Bad inputs to the weighting functions: a sosstats error that names the column or argument."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError
from sosstats.weighting import (
    attrition_weights,
    lee_bounds,
    manski_bounds,
    nonresponse_tests,
    response_rates,
    tipping_point,
    weighted_mean,
    weighted_proportion,
    weighting_effect,
)


@pytest.fixture(scope="module")
def fam():
    f = simulate_evaluation(rng=5, n_families=300).families
    aw = attrition_weights(f, responded="responded_t2", covariates=["agency_worker"])
    return f.assign(w=aw.weights.fillna(0.0))


# ------------------------------------------------------------ item 4: the shared checks

def test_weights_checked_by_the_shared_check_naming_the_column(fam):
    bad = fam.assign(w=np.where(fam.index == fam.index[3], -1.0, fam["w"]))
    for call in (lambda d: weighting_effect(d, "sdq_t2", "w"),
                 lambda d: tipping_point(d, "sdq_t2", "responded_t2", weights="w"),
                 lambda d: weighted_mean(d, "sdq_t2", weights="w")):
        with pytest.raises(DataError, match="'w' must be non-negative; 1 are negative"):
            call(bad)
    with pytest.raises(DataError, match="weights 'w' must be numeric"):
        weighting_effect(fam.assign(w="x"), "sdq_t2", "w")
    with pytest.raises(DataError, match="'w' has 1 infinite"):
        weighting_effect(fam.assign(w=np.where(fam.index == fam.index[0], np.inf, fam["w"])),
                         "sdq_t2", "w")


def test_replicate_frame_with_text_names_the_column(fam):
    reps = pd.DataFrame({"r1": fam["w"], "r2": fam["w"].astype(object)}, index=fam.index)
    reps.loc[fam.index[0], "r2"] = "x"
    with pytest.raises(DataError, match="`replicates` column 'r2' must be numeric"):
        weighting_effect(fam, "sdq_t2", "w", replicates=reps, scale=1.0, multiplicities=reps)


def test_response_indicator_checked_by_the_shared_check(fam):
    nullable = fam["responded_t2"].astype("boolean")
    nullable.iloc[2] = pd.NA
    for call in (lambda d: response_rates(d, "responded_t2"),
                 lambda d: nonresponse_tests(d, "responded_t2", ["sdq_t1"]),
                 lambda d: manski_bounds(d, "knows_goals_t2", "responded_t2")):
        with pytest.raises(DataError, match="response indicator 'responded_t2' has 1 missing"):
            call(fam.assign(responded_t2=nullable))
    # nullable and object dtypes of 0/1 or booleans still work
    ref = response_rates(fam, "responded_t2").overall
    for col in (fam["responded_t2"].astype("boolean"), fam["responded_t2"].astype("Int64"),
                fam["responded_t2"].astype(object)):
        assert response_rates(fam.assign(responded_t2=col), "responded_t2").overall == ref


# ------------------------------------------------------------ item 5: the reliability sweep

def _text(d, col, value="x"):
    d = d.copy()
    d[col] = d[col].astype(object)
    d.loc[d.index[d[col].notna()][0], col] = value
    return d


def test_manski_missing_response_column_is_a_data_error(fam):
    with pytest.raises(DataError, match="response indicator 'nope' not found"):
        manski_bounds(fam, "knows_goals_t2", responded="nope")
    with pytest.raises(DataError, match="outcome 'nope' not found"):
        manski_bounds(fam, "nope", None)


def test_nonresponse_text_in_a_numeric_covariate_names_it(fam):
    with pytest.raises(DataError, match=r"covariate 'sdq_t1' mixes numbers with text \('x'"):
        nonresponse_tests(_text(fam, "sdq_t1"), "responded_t2", ["agency_worker", "sdq_t1"])
    # a genuinely categorical object (text) column still works, as categories
    reason = fam["referral_reason"].astype(str).astype(object)
    res = nonresponse_tests(fam.assign(referral_reason=reason), "responded_t2",
                            ["referral_reason", "sdq_t1"])
    kinds = res.table.set_index("covariate")["kind"]
    assert (kinds.loc["referral_reason"] == "categorical").all()
    assert kinds.loc["sdq_t1"] == "numeric"


@pytest.mark.parametrize("call", [
    lambda d: weighting_effect(d, "sdq_t2", "w"),
    lambda d: weighted_mean(d, "sdq_t2", weights="w"),
    lambda d: lee_bounds(d, "sdq_t2", "cohort", "responded_t2"),
    lambda d: tipping_point(d, "sdq_t2", "responded_t2"),
])
def test_text_in_the_outcome_names_it(fam, call):
    with pytest.raises(DataError, match="outcome 'sdq_t2'.*numeric"):
        call(_text(fam, "sdq_t2"))


def test_text_in_an_imputation_predictor_names_it(fam):
    from sosstats.weighting import impute_chained

    with pytest.raises(DataError, match="column 'sdq_t1' mixes numbers with text"):
        impute_chained(_text(fam, "sdq_t1"), ["sdq_t2"], predictors=["sdq_t1"],
                       n_imputations=2, rng=0)


def test_tipping_point_text_imputed_column_names_it(fam):
    with pytest.raises(DataError, match="imputed column 'imp' must be numeric"):
        tipping_point(fam.assign(imp="x"), "sdq_t2", "responded_t2", imputed="imp")


def test_pool_estimates_text_is_a_data_error():
    from sosstats.weighting import pool_estimates

    with pytest.raises(DataError, match="`estimates` and `variances` must be numbers"):
        pool_estimates([["a"], ["b"]], [[1.0], [1.0]])


def test_weighting_effect_with_one_respondent_is_a_design_error(fam):
    w = np.where(fam.index == fam.index[0], 1.0, 0.0)
    with pytest.raises(DesignError, match="only 1 row has a positive weight"):
        weighting_effect(fam.assign(w=w), "sdq_t2", "w")


CALLS = {
    "manski_bounds": lambda d, **k: manski_bounds(d, "knows_goals_t2", "responded_t2",
                                                  group="cohort", **k),
    "lee_bounds": lambda d, **k: lee_bounds(d, "sdq_t2", "cohort", "responded_t2", **k),
    "tipping_point": lambda d, **k: tipping_point(d, "sdq_t2", "responded_t2", weights="w",
                                                  **k),
    "response_rates": lambda d, **k: response_rates(d, "responded_t2", by="cohort", **k),
    "nonresponse_tests": lambda d, **k: nonresponse_tests(d, "responded_t2",
                                                          ["sdq_t1", "agency_worker"]),
    "weighting_effect": lambda d, **k: weighting_effect(d, "sdq_t2", "w", **k),
    "weighted_mean": lambda d, **k: weighted_mean(d, "sdq_t2", weights="w", **k),
    "weighted_proportion": lambda d, **k: weighted_proportion(d, "knows_goals_t2",
                                                              weights="w", **k),
}
NUMERIC = {"manski_bounds": ["knows_goals_t2"], "lee_bounds": ["sdq_t2"],
           "tipping_point": ["sdq_t2", "w"], "response_rates": [],
           "nonresponse_tests": ["sdq_t1"], "weighting_effect": ["sdq_t2", "w"],
           "weighted_mean": ["sdq_t2", "w"], "weighted_proportion": ["knows_goals_t2", "w"]}


def _set(d, col, value):
    d = d.copy()
    d[col] = d[col].astype(float)
    d.loc[d.index[0], col] = value
    return d


def _cases():
    for name in CALLS:
        yield name, "empty", lambda d: d.iloc[:0]
        yield name, "one row", lambda d: d.iloc[:1]
        yield name, "missing responded", lambda d: d.drop(columns="responded_t2")
        for col in NUMERIC[name]:
            yield name, f"text {col}", lambda d, c=col: _text(d, c)
            yield name, f"inf {col}", lambda d, c=col: _set(d, c, np.inf)
            yield name, f"nan {col}", lambda d, c=col: _set(d, c, np.nan)
            if col == "w":
                yield name, "negative w", lambda d: _set(d, "w", -1.0)


@pytest.mark.parametrize("name, case, change", list(_cases()),
                         ids=[f"{n}-{c}" for n, c, _ in _cases()])
def test_bad_inputs_give_sosstats_errors_or_a_result(fam, name, case, change):
    """Never a raw exception: a sosstats error (naming the column where there is one)."""
    data = change(fam)
    before = data.copy()
    try:
        CALLS[name](data)
    except (DataError, DesignError) as exc:
        col = case.split()[-1]
        if case.startswith(("text", "inf", "negative")):
            assert repr(col) in str(exc), str(exc)
    pd.testing.assert_frame_equal(data, before)            # the caller's frame untouched


@pytest.mark.parametrize("name", list(CALLS))
def test_level_95_is_refused(fam, name):
    if name == "nonresponse_tests":
        res = CALLS[name](fam)
        with pytest.raises(DataError, match="level"):
            res.tidy(level=95)
        return
    with pytest.raises(DataError, match="`level` must be a number strictly between 0 and 1"):
        CALLS[name](fam, level=95)
    res = CALLS[name](fam)
    with pytest.raises(DataError, match="level"):
        res.summary(level=95)


def test_tipping_point_weights_missing_for_a_respondent_names_them(fam):
    resp = fam.index[fam["responded_t2"].astype(bool)][0]
    with pytest.raises(DataError, match="weights 'w' must be positive for every respondent; 1"):
        tipping_point(fam.assign(w=fam["w"].where(fam.index != resp)), "sdq_t2",
                      "responded_t2", weights="w")
