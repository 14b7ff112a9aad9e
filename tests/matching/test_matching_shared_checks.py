"""Matching checks treatment and weights through the shared sosstats._validate helpers (issue 13)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sosstats._validate import check_binary, check_weights
from sosstats.errors import DataError, SosstatsWarning
from sosstats.matching import abadie_imbens_se, balance_table, match, matched_effect


@pytest.fixture()
def frame():
    rng = np.random.default_rng(5)
    n = 60
    x = rng.normal(size=n)
    return pd.DataFrame({"t": (np.arange(n) % 3 == 0).astype(int), "x": x,
                         "y": x + rng.normal(size=n)})


CALLS = {
    "match": lambda d: match(d, treatment="t", covariates=["x"]),
    "balance_table": lambda d: balance_table(d, "t", ["x"]),
    "matched_effect": lambda d: matched_effect(d, "y", "t", cluster=None),
    "abadie_imbens_se": lambda d: abadie_imbens_se(d, "y", "t", ["x"]),
}


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("bad", [[0, 1, 2], ["a", "b", "a"], [0.0, 1.0, np.nan]])
def test_one_treatment_check_one_message(frame, name, bad):
    d = frame.assign(t=pd.Series(bad * 20, index=frame.index))
    with pytest.raises(DataError) as shared:
        check_binary(d["t"], "treatment column 't'")
    with pytest.raises(DataError) as got:
        CALLS[name](d)
    assert str(got.value) == str(shared.value)


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("dtype", ["boolean", "Int64", "Float64", "bool"])
def test_nullable_and_boolean_treatments_work(frame, name, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        ref = CALLS[name](frame)
        got = CALLS[name](frame.assign(t=frame["t"].astype(dtype)))
    assert str(got) == str(ref)


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf])
def test_weights_checked_by_check_weights(frame, bad):
    w = np.ones(len(frame))
    w[3] = bad
    with pytest.raises(DataError) as shared:
        check_weights(w, "`weights`")
    for call in (lambda: balance_table(frame, "t", ["x"], weights=w),
                 lambda: matched_effect(frame, "y", "t", w, cluster=None)):
        with pytest.raises(DataError) as got:
            call()
        assert str(got.value) == str(shared.value)
