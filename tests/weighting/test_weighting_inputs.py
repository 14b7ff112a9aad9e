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
