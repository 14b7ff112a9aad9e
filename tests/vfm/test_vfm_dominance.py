"""Incremental analysis: dominance, extended dominance, the frontier's ICERs; quadrants."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats._kernels.bootstrap_cea import tie_tolerance
from sosstats.errors import DataError
from sosstats.vfm import cea, incremental_analysis, quadrant


def test_textbook_example():
    # A: reference; B: extendedly dominated (ICER 1000 then 250); D: dominated by C
    out = incremental_analysis([0.0, 1000.0, 1500.0, 2000.0], [0.0, 1.0, 3.0, 2.5],
                               ["A", "B", "C", "D"])
    assert list(out.index) == ["A", "B", "C", "D"]
    assert list(out["status"]) == ["frontier", "extendedly dominated", "frontier", "dominated"]
    assert out.loc["C", "icer"] == pytest.approx(1500 / 3)
    assert out.loc["C", "compared_with"] == "A"
    assert out.loc["D", "compared_with"] == "C"
    assert out.loc["B", "compared_with"] == "A, C"
    assert np.isnan(out.loc["A", "icer"]) and np.isnan(out.loc["B", "icer"])


def test_equal_effects_cheapest_dominates_and_duplicates():
    out = incremental_analysis([300.0, 100.0, 100.0], [1.0, 1.0, 1.0], ["x", "y", "z"])
    assert out.loc["y", "status"] == "frontier"
    assert out.loc["x", "status"] == "dominated" and out.loc["z", "status"] == "dominated"
    assert out["icer"].isna().all()  # nothing divided by a zero effect difference


def test_frontier_of_cea_uses_point_estimates():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": np.repeat(["a", "b", "c"], 30), "c": rng.gamma(2, 100, 90),
                       "e": rng.normal(0, 1, 90)})
    res = cea(df, cost="c", effect="e", group="g", n_resamples=30, rng=0)
    direct = incremental_analysis(res.point_cost, res.point_effect, res.options)
    pd.testing.assert_frame_equal(res.frontier, direct)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(-10, 10)), min_size=1, max_size=8))
def test_frontier_properties(points):
    cost, effect = np.array(points).T
    out = incremental_analysis(cost, effect)
    front = out[out["status"] == "frontier"]
    assert len(front) >= 1
    assert np.all(np.diff(front["cost"]) > 0) and np.all(np.diff(front["effect"]) > 0)
    icers = front["icer"].to_numpy()[1:]
    assert np.all(np.diff(icers) >= -1e-9 * np.abs(icers[1:]).clip(1))
    # costs / effects within the tie tolerance (1e-9 of the largest) are equal
    tc, te = tie_tolerance(np.abs(cost).max()), tie_tolerance(np.abs(effect).max())
    assert np.all(np.diff(front["cost"]) > tc) and np.all(np.diff(front["effect"]) > te)
    # of the cheapest options (tied within the tolerance) exactly one is on the frontier
    cheapest = out["cost"].min()
    assert out.loc[out["cost"] <= cheapest + tc, "status"].eq("frontier").sum() == 1
    # no frontier option is dominated by another option (beyond the tolerance)
    for _, row in front.iterrows():
        better = (out["cost"] <= row["cost"] + tc) & (out["effect"] >= row["effect"] - te) & (
            (out["cost"] < row["cost"] - tc) | (out["effect"] > row["effect"] + te))
        assert not better.any()


def test_quadrant_labels():
    labels = quadrant([10, -10, -10, 10, 5, 0, 0], [1, 1, -1, -1, 0, 1, -1])
    assert list(labels) == ["NE", "SE", "SW", "NW", "none", "SE", "NW"]


@pytest.mark.parametrize("args, match", [
    (([1.0, np.nan], [1.0, 2.0]), "finite"),
    (([1.0], [1.0, 2.0]), "same"),
    (([], []), "same"),
    (([1.0, 2.0], [1.0, 2.0], ["a"]), "labels"),
])
def test_bad_inputs(args, match):
    with pytest.raises(DataError, match=match):
        incremental_analysis(*args)
