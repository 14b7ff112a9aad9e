"""Exact net-benefit ties go to the reference (then option order) in the CEAC, CEAF, EVPI and
the frontier, whether the tie is exact in binary floating point or only in exact arithmetic."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from sosstats._kernels.bootstrap_cea import cea_summaries, first_within, tie_tolerance
from sosstats.vfm import cea, incremental_analysis

# (cost of the new arm, effect of the new arm, WTP): NMB = WTP * effect - cost is exactly 0.
# The first two are exact in binary; the others are not (0.3, 0.7, 0.1 are not dyadic), so
# the floating-point NMB is rounding noise of either sign.
TIES = [(32.0, 0.25, 128.0), (3.0, 0.375, 8.0), (30.0, 0.3, 100.0), (70.0, 0.7, 100.0),
        (1_000.0, 0.1, 10_000.0), (21_000.0, 0.7, 30_000.0)]


def _frame(costs, effects, n=4):
    arms = [chr(ord("a") + j) for j in range(len(costs))]
    return pd.DataFrame({"arm": np.repeat(arms, n), "cost": np.repeat(costs, n),
                         "effect": np.repeat(effects, n)})


@pytest.mark.parametrize("n", [3, 6, 10])
@pytest.mark.parametrize("cost, effect, wtp", TIES)
def test_exact_tie_goes_to_the_reference_everywhere(cost, effect, wtp, n):
    exact = Fraction(wtp) * Fraction(str(effect)) - Fraction(str(cost))
    assert exact == 0  # the data are an exact tie in rational arithmetic
    res = cea(_frame([0.0, cost], [0.0, effect], n=n), cost="cost", effect="effect",
              group="arm", wtp=[wtp], n_resamples=40, rng=3)
    assert res.ceaf["option"].iloc[0] == "a"
    assert res.ceaf["probability"].iloc[0] == 1.0
    assert res.ceac.loc[wtp, "a"] == 1.0
    assert res.evpi.iloc[0] == 0.0


def test_the_reported_case_no_longer_picks_the_new_arm():
    # costs 0 / 30, effects 0 / 0.3, WTP 100: expected incremental NMB ~5e-14 used to win
    res = cea(_frame([0.0, 30.0], [0.0, 0.3], n=3), cost="cost", effect="effect",
              group="arm", wtp=[0.0, 100.0, 200.0], n_resamples=50, rng=1)
    assert list(res.ceaf["option"]) == ["a", "a", "b"]
    np.testing.assert_array_equal(res.ceaf["probability"], [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(res.ceac["b"], [0.0, 0.0, 1.0])


def test_tie_between_two_new_options_goes_to_option_order():
    # b and c tie exactly (NMB 100 * 0.3 - 20 = 100 * 0.4 - 30 = 10) and both beat a (NMB 0)
    res = cea(_frame([0.0, 20.0, 30.0], [0.0, 0.3, 0.4]), cost="cost", effect="effect",
              group="arm", wtp=[100.0], n_resamples=30, rng=1)
    assert res.ceaf["option"].iloc[0] == "b"
    np.testing.assert_array_equal(res.ceac.iloc[0], [0.0, 1.0, 0.0])
    assert res.evpi.iloc[0] == 0.0


def test_kernel_summaries_with_replicate_noise_ties():
    # replicate means of six equal values: 0 NMB in rationals, +3.6e-12 / -1.1e-13 in floats
    def mean6(x):
        return np.full(6, x).sum() / 6

    cost = np.array([[0.0, mean6(21_000.0)], [0.0, mean6(1_000.0)], [0.0, mean6(21_000.0)]])
    effect = np.array([[0.0, mean6(0.7)], [0.0, mean6(0.1)], [0.0, mean6(0.7)]])
    wtp = np.array([30_000.0, 10_000.0])
    assert (wtp[0] * effect[0, 1] - cost[0, 1]) > 0  # the noise that used to win
    out = cea_summaries(cost[[0, 2]], effect[[0, 2]], wtp[:1])
    np.testing.assert_array_equal(out.ceac, [[1.0, 0.0]])
    assert out.best[0] == 0 and out.evpi[0] == 0.0
    out = cea_summaries(cost[[1]], effect[[1]], wtp[1:])
    np.testing.assert_array_equal(out.ceac, [[1.0, 0.0]])
    assert out.best[0] == 0 and out.evpi[0] == 0.0


def test_a_real_difference_above_the_tolerance_still_counts():
    # NMB of b is 1e-6 (relative 3e-8 of the terms): a difference, not a tie
    res = cea(_frame([0.0, 30.0 - 1e-6], [0.0, 0.3]), cost="cost", effect="effect",
              group="arm", wtp=[100.0], n_resamples=20, rng=2)
    assert res.ceaf["option"].iloc[0] == "b"
    assert res.ceac.loc[100.0, "b"] == 1.0


def test_first_within_rule():
    values = np.array([[0.0, 3e-15, -1.0], [0.0, 1.0, 1.0 + 1e-13], [5.0, 1.0, 2.0]])
    tol = tie_tolerance(np.array([30.0, 10.0, 10.0]))
    np.testing.assert_array_equal(first_within(values, tol, axis=1), [0, 1, 0])


def test_frontier_ties_in_effect_and_cost_computed_in_floats():
    # b's effect 0.1 + 0.2 equals a's 0.3 exactly in rationals; b costs more: b is dominated
    out = incremental_analysis([10.0, 12.0], [0.3, 0.1 + 0.2], labels=["a", "b"])
    assert 0.1 + 0.2 != 0.3  # the float noise that used to put b on the frontier
    assert out.loc["b", "status"] == "dominated" and out.loc["a", "status"] == "frontier"
    # costs tied in rationals (0.1 + 0.2 vs 0.3): the less effective one is dominated
    out = incremental_analysis([0.1 + 0.2, 0.3], [1.0, 2.0], labels=["x", "y"])
    assert out.loc["x", "status"] == "dominated"
    # collinear options (equal ICERs 100 in rationals) stay on the frontier
    out = incremental_analysis([0.0, 30.0, 70.0], [0.0, 0.3, 0.7], labels=["p", "q", "r"])
    assert list(out["status"]) == ["frontier"] * 3
