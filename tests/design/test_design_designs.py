"""Ready-made designs of sosstats.design.designs.

Truths recovered on large samples, the known-answer two-arm design against statsmodels,
restricted randomisation, bad input.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower

from sosstats.design.designs import (
    matched_la_did,
    restricted_allocations,
    stepped_wedge,
    study_2017,
    two_arm,
)
from sosstats.errors import DataError, DesignError


def _within(result, truth: dict[str, float], z: float = 4.0) -> None:
    tidy = result.tidy().set_index("term")
    for term, value in truth.items():
        est, se = tidy.loc[term, "estimate"], tidy.loc[term, "std_error"]
        assert abs(est - value) < z * se, (term, est, se, value)


# -- study_2017 ------------------------------------------------------------------------------
def test_study_2017_recovers_its_truth_on_a_large_sample():
    design = study_2017(n_pilots=120, families_per_pilot=60, effect={"2 years": -1.0,
                        "2 years plus": -2.0}, cohort_effect=0.7, icc=0.05,
                        attrition_mechanism="mar")
    data = design.simulate(11)
    res = design.estimator("cr1")(data)
    _within(res, design.truth)
    se = res.tidy().set_index("term")["std_error"]
    assert se["C(experience)[T.2 years plus]"] < 0.4    # the check has teeth (0.32 here)


def test_study_2017_frame_shape_and_attrition_rate():
    design = study_2017(n_pilots=10, families_per_pilot=400, attrition=0.3)
    data = design.simulate(3)
    n = data["family_id"].nunique()
    assert len(data) == 2 * n and set(data["wave"]) == {1, 2}
    assert data["la_code"].nunique() == 10
    assert set(data["experience"].astype(str)) == {"new", "2 years", "2 years plus"}
    fam = data[data["wave"] == 2]
    assert fam["sdq"].isna().equals(~fam["responded"])
    # expected response 0.7 exactly on average; binomial spread within 4 sd
    assert abs(fam["responded"].mean() - 0.7) < 4 * math.sqrt(0.21 / n)
    assert data[data["wave"] == 1]["sdq"].notna().all()


def test_study_2017_mnar_attrition_biases_the_complete_case_change_and_mar_does_not():
    kw = dict(n_pilots=60, families_per_pilot=100, icc=0.0, worker_icc=0.0, attrition=0.4)
    mnar = study_2017(attrition_mechanism="mnar", mnar_slope=-1.0, **kw)
    res = mnar.estimator("cr1")(mnar.simulate(5)).tidy().set_index("term")
    # families whose SDQ worsened respond less: respondents' mean change is too favourable
    assert res.loc["Intercept", "estimate"] < mnar.truth["Intercept"] - 4 * res.loc[
        "Intercept", "std_error"]
    mar = study_2017(attrition_mechanism="mcar", **kw)
    _within(mar.estimator("cr1")(mar.simulate(5)), mar.truth)


def test_study_2017_is_reproducible_and_fixed_structure_keeps_the_families():
    d = study_2017(structure="fixed")
    a, b, c = d.simulate(1), d.simulate(1), d.simulate(2)
    pd.testing.assert_frame_equal(a, b)
    assert a["la_code"].equals(c["la_code"]) and a["family_id"].equals(c["family_id"])
    assert not a["sdq"].equals(c["sdq"])
    r = study_2017(structure="redraw")
    pd.testing.assert_frame_equal(r.simulate(4), r.simulate(4))
    assert len(r.simulate(4)) != len(r.simulate(5)) or not r.simulate(4)["la_code"].astype(
        str).equals(r.simulate(5)["la_code"].astype(str))


def test_study_2017_null_effect_truth_and_repr():
    d = study_2017()
    assert d.truth == {"Intercept": -1.5, "C(experience)[T.2 years]": 0.0,
                       "C(experience)[T.2 years plus]": 0.0, "C(cohort)[T.2]": 0.0}
    assert repr(d).startswith("Study2017(n_pilots=10, families_per_pilot=27")
    assert d.n_clusters == 10 and d.settings["attrition"] == 0.3


def test_designs_and_their_estimators_pickle():
    for d in (study_2017(structure="fixed"), matched_la_did(), stepped_wedge(), two_arm()):
        back = pickle.loads(pickle.dumps(d))
        assert repr(back) == repr(d)
        pickle.loads(pickle.dumps(d.estimator()))


# -- matched DiD -----------------------------------------------------------------------------
def test_matched_la_did_recovers_the_pilot_effect():
    d = matched_la_did(n_las=400, n_pilots=60, effect=-12.0)
    res = d.estimator()(d.simulate(8))
    _within(res, {"did": -12.0})
    tidy = res.tidy().set_index("term")
    assert tidy.loc["did", "std_error"] < 1.5
    # event-study terms carry truths too: 0 before adoption, the effect after
    assert d.truth["event_-2"] == 0.0 and d.truth["event_0"] == -12.0
    assert set(d.truth) <= set(tidy.index) | {"did"}


def test_matched_la_did_single_start_year():
    d = matched_la_did(start_years=2015, n_pilots=4)
    assert set(d.start_years.values()) == {2015}
    data = d.simulate(1)
    assert set(data.loc[data["pilot"], "sos_start_year"]) == {2015.0}
    assert data["indicator"].eq("icpc_rate_per_10k").all()


# -- stepped wedge ---------------------------------------------------------------------------
def test_stepped_wedge_recovers_the_effect_and_crosses_over_in_steps():
    d = stepped_wedge(n_las=120, n_sequences=4, effect=-10.0)
    data = d.simulate(2)
    res = d.estimator()(data)
    _within(res, d.truth)
    las = data.drop_duplicates("la_code")
    assert las["sequence"].value_counts().tolist() == [30, 30, 30, 30]
    assert (data.loc[data["year"] == 2013, "treated"] == 0).all()
    assert (data.loc[data["year"] == 2017, "treated"] == 1).all()
    assert dict(zip(las["sequence"], las["crossing_year"])) == {1: 2014, 2: 2015, 3: 2016,
                                                                 4: 2017}


def test_stepped_wedge_allocation_meets_the_balance_constraint():
    d = stepped_wedge(n_las=20, n_sequences=4, max_imbalance=0.4)
    for seed in range(3):
        las = d.simulate(seed).drop_duplicates("la_code")
        z = las[list(d.balance_on)].to_numpy(float)
        z = (z - z.mean(0)) / z.std(0)
        means = np.array([z[las["sequence"].to_numpy() == s].mean(0) for s in range(1, 5)])
        assert np.abs(means).max() <= 0.4 + 1e-12


# -- restricted randomisation ------------------------------------------------------------------
def test_restricted_allocations_enumerates_all_and_keeps_the_balanced_ones():
    rng = np.random.default_rng(0)
    units = pd.DataFrame({"code": list("abcdef"), "x": rng.normal(size=6)})
    every = restricted_allocations(units, 3, balance_on=["x"], max_imbalance=100, id="code")
    assert every.enumerated and len(every.allocations) == 90 == every.n_candidates
    assert len({tuple(a) for a in every.allocations}) == 90
    assert (np.sort(every.allocations, axis=1) == [0, 0, 1, 1, 2, 2]).all()
    some = restricted_allocations(units, 3, balance_on=["x"], max_imbalance=0.5, id="code")
    z = (units["x"] - units["x"].mean()) / units["x"].std(ddof=0)
    for alloc, imb in zip(some.allocations, some.imbalance):
        worst = max(abs(z[alloc == s].mean()) for s in range(3))
        assert worst <= 0.5 and math.isclose(worst, imb)
    n_pass = sum(max(abs(z[a == s].mean()) for s in range(3)) <= 0.5 for a in every.allocations)
    assert len(some.allocations) == n_pass
    assert "allowed of 90 all allocations" in repr(some)
    assert set(some.frame().columns) == {"allocation", "unit", "sequence"}
    assert some.sample(1).tolist() == some.sample(1).tolist()


def test_restricted_allocations_samples_when_there_are_too_many():
    rng = np.random.default_rng(1)
    units = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
    res = restricted_allocations(units, 4, balance_on=["x", "y"], max_imbalance=0.3,
                                 n_candidates=3000, rng=2)
    assert not res.enumerated and res.n_candidates == 3000
    assert (res.imbalance <= 0.3).all() and 0 < res.acceptance < 1
    assert (np.bincount(res.allocations[0]) == 10).all()


def test_restricted_allocations_bad_input():
    units = pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0]})   # no split has equal means
    with pytest.raises(DesignError, match="no allocation meets `max_imbalance`"):
        restricted_allocations(units, 2, balance_on=["x"], max_imbalance=1e-6)
    with pytest.raises(DataError, match="`balance_on` names columns not in `units`"):
        restricted_allocations(units, 2, balance_on=["z"])
    with pytest.raises(DesignError, match="`units` must have at least two rows"):
        restricted_allocations(units.head(1), 2, balance_on=["x"])
    with pytest.raises(DesignError, match="`n_sequences` must be at least 2"):
        restricted_allocations(units, 1, balance_on=["x"])
    with pytest.raises(DesignError, match="`sizes`"):
        restricted_allocations(units, 2, balance_on=["x"], sizes=[1, 2])
    with pytest.raises(DataError, match="missing values"):
        restricted_allocations(pd.DataFrame({"x": [1.0, np.nan]}), 2, balance_on=["x"])


# -- two arms: the known answer ------------------------------------------------------------------
@pytest.mark.parametrize("n, d", [(10, 0.5), (20, 0.8), (50, 0.3)])
def test_two_arm_analytic_power_is_statsmodels_t_test_power(n, d):
    design = two_arm(n, 1, effect=d)
    assert math.isclose(design.analytic_power(), TTestIndPower().power(d, n, 0.05),
                        rel_tol=1e-10)


def test_two_arm_cluster_power_uses_the_design_effect():
    design = two_arm(12, 8, effect=0.5, icc=0.1)
    assert math.isclose(design.design_effect, 1.7)
    d = 0.5 / math.sqrt(1.7 / 8)
    assert math.isclose(design.analytic_power(), TTestIndPower().power(d, 12, 0.05),
                        rel_tol=1e-10)
    data = design.simulate(0)
    assert data.shape == (192, 3) and data.groupby("cluster")["arm"].nunique().eq(1).all()
    res = design.estimator()(data)
    assert res.tidy()["df"].iloc[0] == 22 and res.nobs == 24


def test_two_arm_estimator_is_the_pooled_t_test():
    from scipy import stats

    data = two_arm(15, 1, effect=0.4).simulate(3)
    res = two_arm().estimator()(data).tidy().iloc[0]
    ref = stats.ttest_ind(data.loc[data.arm == 1, "y"], data.loc[data.arm == 0, "y"])
    assert math.isclose(res["statistic"], ref.statistic, rel_tol=1e-12)
    assert math.isclose(res["p_value"], ref.pvalue, rel_tol=1e-10)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, text", [
    (lambda: study_2017(n_pilots=1), DesignError, "`n_pilots` must be at least 3"),
    (lambda: study_2017(n_pilots=2), DesignError, "`n_pilots`"),
    (lambda: study_2017(n_pilots=2.5), DataError, "`n_pilots` must be an integer"),
    (lambda: study_2017(families_per_pilot=-3), DesignError, "`families_per_pilot`"),
    (lambda: study_2017(workers_per_pilot=0), DesignError, "`workers_per_pilot`"),
    (lambda: study_2017(icc=-0.1), DesignError, "`icc` must be >= 0"),
    (lambda: study_2017(icc=0.6, worker_icc=0.5), DesignError, "`icc` \\+ `worker_icc`"),
    (lambda: study_2017(attrition=1.0), DesignError, "`attrition` must be < 1"),
    (lambda: study_2017(attrition_mechanism="random"), DataError, "`attrition_mechanism`"),
    (lambda: study_2017(structure="same"), DataError, "`structure`"),
    (lambda: study_2017(effect={"3 years": 1.0}), DataError, "unknown experience groups"),
    (lambda: study_2017(effect="big"), DataError, "`effect` must be a number"),
    (lambda: study_2017(sd=0), DesignError, "`sd` must be > 0"),
    (lambda: matched_la_did(n_pilots=1), DesignError, "`n_pilots` must be at least 2"),
    (lambda: matched_la_did(n_las=15, n_pilots=10), DesignError, "must be at least `k`"),
    (lambda: matched_la_did(years=[2016]), DesignError, "`years` needs at least two"),
    (lambda: matched_la_did(start_years=2012), DesignError, "`start_years"),
    (lambda: stepped_wedge(n_las=1), DesignError, "`n_las` must be at least 2"),
    (lambda: stepped_wedge(n_las=3, n_sequences=4), DesignError, "`n_las` \\(3\\)"),
    (lambda: stepped_wedge(years=range(2015, 2018)), DesignError, "`years` needs at least"),
    (lambda: stepped_wedge(max_imbalance=-1), DesignError, "`max_imbalance`"),
    (lambda: two_arm(n_clusters=1), DesignError, "`n_clusters` must be at least 2"),
    (lambda: two_arm(cluster_size=-2), DesignError, "`cluster_size`"),
    (lambda: two_arm(icc=1.0), DesignError, "`icc` must be < 1"),
    (lambda: two_arm(effect=float("nan")), DataError, "`effect` must be a finite number"),
])
def test_bad_input_names_the_argument(call, error, text):
    with pytest.raises(error, match=text):
        call()


# -- properties --------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 7), k=st.integers(2, 3),
       limit=st.floats(0.2, 1.5), scale=st.floats(0.1, 100.0))
def test_allowed_set_does_not_depend_on_row_order_or_units(seed, n, k, limit, scale):
    """Enumerated allowed sets do not depend on the row order or the covariates' units.

    The same label -> sequence maps whatever the row order, and the same after an affine change
    of units (the covariates are standardised).
    """
    rng = np.random.default_rng(seed)
    units = pd.DataFrame({"code": [f"u{i}" for i in range(n)], "x": rng.normal(size=n),
                          "y": rng.gamma(2.0, size=n)})

    def as_set(frame):
        res = restricted_allocations(frame, k, balance_on=["x", "y"], max_imbalance=limit,
                                     id="code") if _feasible(frame, k, limit) else None
        if res is None:
            return None
        assert res.enumerated
        return {tuple(sorted(zip(res.units, a.tolist()))) for a in res.allocations}

    base = as_set(units)
    perm = units.iloc[rng.permutation(n)].reset_index(drop=True)
    assert as_set(perm) == base
    assert as_set(units.assign(x=units["x"] * scale + 3.0, y=units["y"] / scale)) == base


def _feasible(frame, k, limit):
    try:
        restricted_allocations(frame, k, balance_on=["x", "y"], max_imbalance=limit)
        return True
    except DesignError:
        return False
