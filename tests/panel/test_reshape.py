"""Tests of sosstats.panel.reshape (wide <-> long)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError
from sosstats.panel.reshape import long_to_wide, wide_to_long


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return simulate_evaluation(rng=1, n_families=40).families


def test_wide_to_long_shape_and_values(families):
    before = families.copy()
    long = wide_to_long(families, id="family_id")
    pd.testing.assert_frame_equal(families, before)
    assert long.shape[0] == 2 * len(families)
    assert list(long.columns[:2]) == ["family_id", "wave"]
    assert list(long["wave"].cat.categories) == ["t1", "t2"]
    t1 = long[long["wave"] == "t1"].set_index("family_id")
    t2 = long[long["wave"] == "t2"].set_index("family_id")
    np.testing.assert_array_equal(t1["sdq"].to_numpy(), families["sdq_t1"].to_numpy())
    np.testing.assert_array_equal(t2["sdq"].to_numpy(), families["sdq_t2"].to_numpy())
    # time-invariant columns repeat; a stub with only a t2 column is NaN at t1
    np.testing.assert_array_equal(t2["cohort"].to_numpy(), families["cohort"].to_numpy())
    assert t1["concerns"].isna().all()


def test_round_trip(families):
    long = wide_to_long(families, id="family_id")
    wide = long_to_wide(long, id="family_id", time="wave")
    for col in families.columns:
        got, want = wide[col].reset_index(drop=True), families[col].reset_index(drop=True)
        assert got.isna().equals(want.isna()), col
        ok = want.notna()
        if pd.api.types.is_numeric_dtype(want):
            np.testing.assert_array_equal(got[ok].astype(float), want[ok].astype(float))
        else:
            assert (got[ok].astype(str) == want[ok].astype(str)).all(), col


def test_explicit_stubs_and_waves():
    wide = pd.DataFrame({"id": [1, 2], "y.pre": [1.0, 2.0], "y.post": [3.0, 5.0], "g": ["a", "b"]})
    long = wide_to_long(wide, id="id", stubs=["y"], waves=["pre", "post"], sep=".", time="t")
    assert list(long["t"].astype(str)) == ["pre", "post", "pre", "post"]
    assert list(long["y"]) == [1.0, 3.0, 2.0, 5.0]
    back = long_to_wide(long, id="id", time="t", values="y", sep=".")
    assert list(back.columns) == ["id", "g", "y.pre", "y.post"]  # wave order, not sorted


def test_wide_to_long_bad_input(families):
    dup = pd.concat([families.head(3), families.head(1)])
    with pytest.raises(DataError, match="duplicate"):
        wide_to_long(dup, id="family_id")
    with pytest.raises(DataError, match="not found"):
        wide_to_long(families, id="nope")
    with pytest.raises(DataError, match="two or more"):
        wide_to_long(families, id="family_id", waves=["t1"])
    with pytest.raises(DataError, match="no wave-specific"):
        wide_to_long(families, id="family_id", waves=["a", "b"])
    with pytest.raises(DataError, match="no column"):
        wide_to_long(families, id="family_id", stubs=["zzz"])
    with pytest.raises(DataError, match="already a column"):
        wide_to_long(families, id="family_id", time="cohort")


def test_long_to_wide_bad_input(families):
    long = wide_to_long(families, id="family_id")
    with pytest.raises(DataError, match="duplicate"):
        long_to_wide(pd.concat([long, long.head(1)]), id="family_id", time="wave")
    with pytest.raises(DataError, match="vary within"):
        long_to_wide(long, id="family_id", time="wave", values=["sdq"])
    bad = long.copy()
    bad.loc[0, "wave"] = np.nan
    with pytest.raises(DataError, match="missing"):
        long_to_wide(bad, id="family_id", time="wave")
