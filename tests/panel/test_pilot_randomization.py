"""Tests of sosstats.panel.randomization."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError
from sosstats.panel.randomization import all_assignments, n_assignments, randomization_test


def _mean_diff(d: pd.DataFrame) -> float:
    return d.loc[d.treat == 1, "y"].mean() - d.loc[d.treat == 0, "y"].mean()


def _vec_mean_diff(d: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    y = d["y"].to_numpy()
    t = labels == 1
    return (t * y).sum(1) / t.sum(1) - (~t * y).sum(1) / (~t).sum(1)


def _clustered(seed: int, g: int = 10, treated: int = 3, per: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = np.repeat([f"P{i:02d}" for i in range(g)], per)
    tr = np.isin(np.repeat(np.arange(g), per), rng.choice(g, treated, replace=False))
    return pd.DataFrame({"pilot": cl, "treat": tr.astype(int),
                         "y": rng.normal(size=g * per) + 0.8 * tr})


def test_exact_p_by_hand():
    # four pilots, one family each; pilots B and D treated
    data = pd.DataFrame({"pilot": list("ABCD"), "treat": [0, 1, 0, 1],
                         "y": [1.0, 2.0, 3.0, 10.0]})
    res = randomization_test(data, _mean_diff, cluster="pilot", label="treat")
    # 6 assignments of 2 treated among 4: differences
    # {A,B}: 1.5-6.5=-5, {A,C}: 2-6=-4, {A,D}: 5.5-2.5=3, {B,C}: 2.5-5.5=-3,
    # {B,D}: 6-2=4 (observed), {C,D}: 6.5-1.5=5  ->  |T| >= 4: -5, -4, 4, 5 -> 4/6
    assert res.statistic == pytest.approx(4.0)
    assert res.p_value == pytest.approx(4 / 6)
    assert res.enumerated and len(res.null_distribution) == 6
    np.testing.assert_allclose(np.sort(res.null_distribution), [-5, -4, -3, 3, 4, 5])
    greater = randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                                 alternative="greater")
    assert greater.p_value == pytest.approx(2 / 6)
    less = randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                              alternative="less")
    assert less.p_value == pytest.approx(5 / 6)
    assert res.assignments.iloc[res.observed_row].tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("labels, count", [([1] * 3 + [0] * 7, comb(10, 3)),
                                           (["n"] * 3 + ["2"] * 4 + ["2+"] * 3, 4200),
                                           ([0, 1], 2), (list("aabbbcddd"), 5040)])
def test_enumeration_counts(labels, count):
    assert n_assignments(labels) == count
    table = all_assignments(pd.Series(labels, index=[f"c{i}" for i in range(len(labels))]))
    assert table.shape == (count, len(labels))
    assert not table.duplicated().any()
    expected = pd.Series(labels).value_counts().sort_index()
    for _, row in table.sample(min(count, 50), random_state=0).iterrows():
        pd.testing.assert_series_equal(row.value_counts().sort_index(), expected,
                                       check_names=False)


def test_matches_brute_force_loop():
    data = _clustered(0)
    res = randomization_test(data, _mean_diff, cluster="pilot", label="treat")
    pilots = sorted(data.pilot.unique())
    obs = _mean_diff(data)
    stats_ = []
    for chosen in itertools.combinations(pilots, 3):
        d = data.assign(treat=data.pilot.isin(chosen).astype(int))
        stats_.append(_mean_diff(d))
    stats_ = np.array(stats_)
    assert len(stats_) == 120 == len(res.null_distribution)
    assert res.p_value == pytest.approx(np.mean(np.abs(stats_) >= abs(obs) - 1e-12))
    np.testing.assert_allclose(np.sort(res.null_distribution), np.sort(stats_))


def test_vectorized_equals_loop_and_data_untouched():
    data = _clustered(1)
    before = data.copy()
    a = randomization_test(data, _mean_diff, cluster="pilot", label="treat")
    b = randomization_test(data, _vec_mean_diff, cluster="pilot", label="treat",
                           vectorized=True)
    np.testing.assert_allclose(a.null_distribution, b.null_distribution)
    assert a.p_value == b.p_value
    pd.testing.assert_frame_equal(data, before)


def test_user_assignments_and_observed_added():
    data = _clustered(2, g=6, treated=2, per=2)
    pilots = sorted(data.pilot.unique())
    obs = data.groupby("pilot")["treat"].first()
    others = [dict(zip(pilots, row)) for row in ([1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0])]
    others = [a for a in others if list(a.values()) != obs.tolist()]
    res = randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                             assignments=others)
    assert len(res.null_distribution) == len(others) + 1 and res.observed_row == 0
    assert not res.enumerated
    frame = all_assignments(obs)
    full = randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                              assignments=frame)
    auto = randomization_test(data, _mean_diff, cluster="pilot", label="treat")
    assert full.p_value == pytest.approx(auto.p_value)
    assert len(full.null_distribution) == comb(6, 2)


def test_monte_carlo_when_too_many():
    data = _clustered(3)
    a = randomization_test(data, _vec_mean_diff, cluster="pilot", label="treat",
                           vectorized=True, max_enumerate=50, n_resamples=999, rng=7)
    b = randomization_test(data, _vec_mean_diff, cluster="pilot", label="treat",
                           vectorized=True, max_enumerate=50, n_resamples=999, rng=7)
    assert not a.enumerated and a.observed_row == 0 and len(a.null_distribution) == 1000
    assert a.p_value == b.p_value
    extreme = np.sum(np.abs(a.null_distribution[1:]) >= abs(a.statistic) - 1e-12)
    assert a.p_value == pytest.approx((1 + extreme) / 1000)
    exact = randomization_test(data, _vec_mean_diff, cluster="pilot", label="treat",
                               vectorized=True)
    assert abs(a.p_value - exact.p_value) < 4 * np.sqrt(exact.p_value * (1 - exact.p_value)
                                                        / 999) + 1e-3


def test_simulated_experience_groups_categorical_label():
    fam = simulate_evaluation(rng=0).families.assign(change=lambda d: d.sdq_t2 - d.sdq_t1)

    def stat(d):
        return (d.loc[d.experience == "2 years plus", "change"].mean()
                - d.loc[d.experience == "new", "change"].mean())

    res = randomization_test(fam.iloc[:120], stat, cluster="la_code", label="experience",
                             max_enumerate=500, n_resamples=199, rng=1)
    assert 0 < res.p_value <= 1 and len(res.null_distribution) == 200
    assert res.assignments.shape[1] == fam.iloc[:120]["la_code"].nunique()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([("a", "b"), ("ctl", "trt"), (5, -1)]))
def test_row_order_and_relabelling_invariance(seed, names):
    data = _clustered(seed, g=6, treated=3, per=3)
    res = randomization_test(data, _mean_diff, cluster="pilot", label="treat")
    shuffled = data.sample(frac=1.0, random_state=seed % 1000)
    assert randomization_test(shuffled, _mean_diff, cluster="pilot",
                              label="treat").p_value == pytest.approx(res.p_value)
    relab = data.assign(treat=data.treat.map({0: names[0], 1: names[1]}))

    def stat(d):
        return d.loc[d.treat == names[1], "y"].mean() - d.loc[d.treat == names[0], "y"].mean()

    assert randomization_test(relab, stat, cluster="pilot",
                              label="treat").p_value == pytest.approx(res.p_value)


def test_bad_input():
    data = _clustered(4, g=5, treated=2, per=2)
    with pytest.raises(DataError, match="P00"):
        bad = data.copy()
        bad.loc[0, "treat"] = 1 - bad.loc[0, "treat"]
        randomization_test(bad, _mean_diff, cluster="pilot", label="treat")
    with pytest.raises(DesignError, match="single cluster"):
        randomization_test(data.assign(pilot="X"), _mean_diff, cluster="pilot", label="treat")
    with pytest.raises(DesignError, match="one value"):
        randomization_test(data.assign(treat=1), _mean_diff, cluster="pilot", label="treat")
    with pytest.raises(DataError, match="callable"):
        randomization_test(data, 3.0, cluster="pilot", label="treat")
    with pytest.raises(DataError, match="missing"):
        randomization_test(data.assign(pilot=[None] + list(data.pilot[1:])), _mean_diff,
                           cluster="pilot", label="treat")
    with pytest.raises(DataError, match="lack clusters P04"):
        randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                           assignments=[{"P00": 1, "P01": 1, "P02": 0, "P03": 0}])
    with pytest.raises(DataError, match="labels"):
        randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                           assignments=[dict(zip([f"P0{i}" for i in range(5)], [2] * 5))])
    with pytest.raises(DataError, match="one number"):
        randomization_test(data, lambda d: np.ones(2), cluster="pilot", label="treat")
    with pytest.raises(DataError, match="not finite"):
        randomization_test(data, lambda d: np.nan, cluster="pilot", label="treat")
    with pytest.raises(DataError, match="alternative"):
        randomization_test(data, _mean_diff, cluster="pilot", label="treat",
                           alternative="both")
    with pytest.raises(DataError, match="nope"):
        randomization_test(data, _mean_diff, cluster="nope", label="treat")


def test_result_is_a_table_result_with_the_shared_name():
    """panel's and neighbours' randomisation results: one name, one base (TableResult)."""
    from sosstats._results import TableResult
    from sosstats.neighbours import RandomizationResult as NeighboursRandomization
    from sosstats.panel import RandomizationResult

    d = _clustered(3)
    res = randomization_test(d, _mean_diff, cluster="pilot", label="treat")
    assert isinstance(res, RandomizationResult) and isinstance(res, TableResult)
    assert issubclass(NeighboursRandomization, TableResult)
    assert NeighboursRandomization.__name__ == RandomizationResult.__name__
    tidy = res.tidy()
    assert tidy.loc[0, "p_value"] == res.p_value and tidy.loc[0, "statistic"] == res.statistic
    assert tidy.loc[0, "n_assignments"] == res.n_assignments
    assert "p_value" in str(res) and res.method in str(res)
    assert res.to_dict()["table"][0]["p_value"] == res.p_value
    assert not hasattr(res, "plot")
