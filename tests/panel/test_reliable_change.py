"""Tests of sosstats.panel.reliable_change (Jacobson and Truax, 1991)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError
from sosstats.panel.reliable_change import (
    jacobson_truax_cutoffs,
    reliable_change,
    wilson_interval,
)


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return simulate_evaluation(rng=0).families


def _toy() -> pd.DataFrame:
    return pd.DataFrame({"pre": [20.0, 20.0, 18.0, 10.0, 25.0, 15.0],
                         "post": [10.0, 18.0, 25.0, 9.0, 12.0, np.nan],
                         "grp": ["a", "a", "b", "b", "b", "a"]})


def test_rci_hand_computed():
    data = _toy()
    before = data.copy()
    res = reliable_change(data, "pre", "post", reliability=0.8, sd=5.0, better="lower")
    pd.testing.assert_frame_equal(data, before)
    se_diff = 5.0 * np.sqrt(2) * np.sqrt(1 - 0.8)           # 3.1623
    assert res.se_diff == pytest.approx(np.sqrt(2 * (5.0 * np.sqrt(0.2)) ** 2))
    assert res.se_diff == pytest.approx(se_diff)
    expected_rci = np.array([-10.0, -2.0, 7.0, -1.0, -13.0]) / se_diff
    np.testing.assert_allclose(res.units["rci"], expected_rci)
    # lower is better: rci -3.16 improved, -0.63 none, 2.21 deteriorated, -0.32 none, -4.1 imp.
    assert res.units["reliable"].tolist() == ["improved", "no reliable change", "deteriorated",
                                             "no reliable change", "improved"]
    assert res.nobs == 5 and res.n_dropped == 1
    assert res.critical == pytest.approx(1.959964, abs=1e-6)
    est = res.params
    assert est["improved"] == pytest.approx(2 / 5)
    assert est["deteriorated"] == pytest.approx(1 / 5)
    assert est.sum() == pytest.approx(1.0)


def test_higher_is_better_flips_and_default_sd():
    data = _toy()
    res = reliable_change(data, "pre", "post", reliability=0.8)
    sd = data.dropna()["pre"].std(ddof=1)
    assert res.sd == pytest.approx(sd)
    lower = reliable_change(data, "pre", "post", reliability=0.8, better="lower")
    swap = {"improved": "deteriorated", "deteriorated": "improved",
            "no reliable change": "no reliable change"}
    assert lower.units["reliable"].map(swap).tolist() == res.units["reliable"].tolist()


def test_cutoffs_hand_computed():
    f, d = (8.0, 5.0), (20.0, 6.0)
    up = jacobson_truax_cutoffs(f, d, better="lower")
    assert up["a"] == pytest.approx(20 - 12)
    assert up["b"] == pytest.approx(8 + 10)
    assert up["c"] == pytest.approx((6 * 8 + 5 * 20) / 11)
    hi = jacobson_truax_cutoffs((30.0, 4.0), (18.0, 6.0), better="higher")
    assert hi == pytest.approx({"a": 30.0, "b": 22.0, "c": (6 * 30 + 4 * 18) / 10})
    assert set(jacobson_truax_cutoffs(None, d)) == {"a"}
    with pytest.raises(DataError, match="functional"):
        jacobson_truax_cutoffs((8.0, -1.0), d)


def test_recovered_classification():
    data = _toy()
    res = reliable_change(data, "pre", "post", reliability=0.8, sd=5.0, better="lower",
                          cutoff="c", functional=(8.0, 5.0), dysfunctional=(20.0, 6.0))
    cut = (6 * 8 + 5 * 20) / 11                                      # 13.45
    assert res.cutoff == pytest.approx(cut)
    # improved units: 20 -> 10 (crosses: recovered) and 25 -> 12 (crosses: recovered)
    assert res.units["clinical"].tolist() == ["recovered", "no reliable change", "deteriorated",
                                              "no reliable change", "recovered"]
    assert res.params["recovered"] == pytest.approx(2 / 5)
    num = reliable_change(data, "pre", "post", reliability=0.8, sd=5.0, better="lower",
                          cutoff=11.0)
    assert num.units["clinical"].tolist()[0] == "recovered"
    assert num.units["clinical"].tolist()[4] == "improved"               # 12 is not below 11
    # criterion a defaults the dysfunctional population to the T1 sample
    a = reliable_change(data, "pre", "post", reliability=0.8, cutoff="a", better="lower")
    pre = data.dropna()["pre"]
    assert a.cutoff == pytest.approx(pre.mean() - 2 * pre.std(ddof=1))


def test_wilson_matches_statsmodels():
    lo, hi = wilson_interval([0, 3, 17, 40], [40, 40, 40, 40], 0.9)
    ref = proportion_confint(np.array([0, 3, 17, 40]), 40, alpha=0.1, method="wilson")
    np.testing.assert_allclose(lo, ref[0], atol=1e-12)
    np.testing.assert_allclose(hi, ref[1], atol=1e-12)


def test_by_group_and_tidy(families):
    res = reliable_change(families, "sdq_t1", "sdq_t2", reliability=0.8, better="lower",
                          cutoff=13.5, by="experience")
    grp = res.by_group()
    assert set(grp["experience"]) == {"new", "2 years", "2 years plus"}
    totals = grp.groupby("category")["count"].sum()
    assert (totals[res.params.index] == res.tidy().set_index("term")["count"]).all()
    n_by = grp.drop_duplicates("experience")["n"].sum()
    assert n_by == res.nobs == families["sdq_t2"].notna().sum()
    lo, hi = wilson_interval(grp["count"], grp["n"])
    np.testing.assert_allclose(grp["ci_lower"], lo)
    tidy = res.tidy()
    assert (tidy["ci_lower"] <= tidy["estimate"]).all() and (tidy["estimate"]
                                                            <= tidy["ci_upper"]).all()
    assert "SEdiff" in str(res.summary())
    import matplotlib
    matplotlib.use("Agg")
    assert res.plot() is not None


def test_recovery_sdq_improves():
    ev = simulate_evaluation(rng=1, n_families=5000)
    fam = ev.families
    assert ev.truth["families"]["outcomes"]["sdq"]["time_t2"] < 0          # lower is better
    res = reliable_change(fam, "sdq_t1", "sdq_t2", reliability=0.8, better="lower")
    assert res.params["improved"] > res.params["deteriorated"]
    assert res.conf_int().loc["improved", "lower"] > res.conf_int().loc["deteriorated", "upper"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=3, max_size=40),
       st.floats(0.0, 0.95), st.floats(0.5, 10.0))
def test_direction_symmetry_and_shift(pairs, r, sd):
    data = pd.DataFrame(pairs, columns=["a", "b"], dtype=float)
    base = reliable_change(data, "a", "b", reliability=r, sd=sd)
    neg = reliable_change(-data, "a", "b", reliability=r, sd=sd, better="lower")
    assert base.units["reliable"].tolist() == neg.units["reliable"].tolist()
    shifted = reliable_change(data + 7.0, "a", "b", reliability=r, sd=sd)
    np.testing.assert_allclose(shifted.units["rci"], base.units["rci"], atol=1e-9)
    swapped = reliable_change(data, "b", "a", reliability=r, sd=sd)
    np.testing.assert_allclose(swapped.units["rci"], -base.units["rci"])


def test_bad_input(families):
    data = _toy()
    for bad in (1.0, -0.1, "0.8", True):
        with pytest.raises(DataError, match="reliability"):
            reliable_change(data, "pre", "post", reliability=bad)
    with pytest.raises(DataError, match="grp"):
        reliable_change(data, "pre", "grp", reliability=0.8)
    with pytest.raises(DataError, match="functional"):
        reliable_change(data, "pre", "post", reliability=0.8, cutoff="b")
    with pytest.raises(DataError, match="cutoff"):
        reliable_change(data, "pre", "post", reliability=0.8, cutoff="d")
    with pytest.raises(DataError, match="missing"):
        reliable_change(data, "pre", "post", reliability=0.8, missing="raise")
    with pytest.raises(DataError, match="positive"):
        reliable_change(data.assign(pre=3.0), "pre", "post", reliability=0.8)
    with pytest.raises(DataError, match="better"):
        reliable_change(data, "pre", "post", reliability=0.8, better="down")
    with pytest.raises(DataError, match="nope"):
        reliable_change(data, "pre", "post", reliability=0.8, by="nope")
    with pytest.raises(DesignError):
        reliable_change(data.iloc[:1], "pre", "post", reliability=0.8)
    with pytest.raises(DataError, match="grouping"):
        reliable_change(data.assign(grp=[None, "a", "b", "b", "a", "a"]), "pre", "post",
                        reliability=0.8, by="grp")
