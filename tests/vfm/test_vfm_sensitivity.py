"""One-way sensitivity (tornado) and break-even analysis: closed forms, properties, bad input."""

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import ConvergenceError, DataError, DesignError
from sosstats.vfm.budget import budget, training_cost
from sosstats.vfm.sensitivity import BreakEven, OneWay, break_even, one_way

matplotlib.use("Agg")

BASE = {"days": 5.0, "trainees": 40.0, "cost_per_day": 350.0, "saving": 18_000.0}
RANGES = {"cost_per_day": (250.0, 450.0), "saving": (9_000.0, 27_000.0), "days": (3.0, 7.0)}


def npv(days, trainees, cost_per_day, saving, years=5, rate=0.035):
    """NPV of training in year 0 against a yearly saving in years 1..years-1."""
    inv = np.r_[training_cost(days, trainees, cost_per_day), np.zeros(years - 1)]
    return budget(inv, np.r_[0.0, np.full(years - 1, saving)], rate=rate).npv


def linear(a, b, c):
    return 2.0 * a - 3.0 * b + 0.5 * c


def test_one_way_linear_closed_form():
    ow = one_way(linear, {"a": 1.0, "b": 2.0, "c": 4.0},
                 {"a": (0.0, 1.0), "b": (1.0, 3.0), "c": (-10.0, 10.0)})
    assert isinstance(ow, OneWay)
    assert ow.base_outcome == pytest.approx(2 - 6 + 2)
    t = ow.table
    assert list(t.index) == ["c", "b", "a"]  # swings 10, 6, 2
    np.testing.assert_allclose(t["swing"], [0.5 * 20, 3.0 * 2, 2.0 * 1])
    assert t.loc["b", "outcome_low"] == pytest.approx(2 - 3 + 2)
    assert t.loc["b", "outcome_high"] == pytest.approx(2 - 9 + 2)
    assert t.loc["a", "base"] == 1.0 and t.loc["c", "low"] == -10.0
    assert t.loc["c", "changes_sign"] and not t.loc["a", "changes_sign"]
    np.testing.assert_allclose(ow.swing, t["swing"])
    assert "changes within the range of: c" in str(ow)


def test_one_way_swing_equals_outcome_difference_for_npv():
    ow = one_way(npv, BASE, RANGES, name="NPV")
    for p, (lo, hi) in RANGES.items():
        f_lo, f_hi = npv(**{**BASE, p: lo}), npv(**{**BASE, p: hi})
        assert ow.table.loc[p, "outcome_low"] == pytest.approx(f_lo)
        assert ow.table.loc[p, "outcome_high"] == pytest.approx(f_hi)
        assert ow.table.loc[p, "swing"] == pytest.approx(abs(f_hi - f_lo))
    assert list(ow.table.index) == ["saving", "days", "cost_per_day"]
    assert ow.base_outcome == pytest.approx(npv(**BASE))
    assert ow.tidy() is not ow.table and list(ow.tidy()["parameter"]) == list(ow.table.index)
    assert "NPV" in str(ow.summary())


def test_tornado_plot():
    ow = one_way(npv, BASE, RANGES, name="NPV")
    ax = ow.plot()
    assert len(ax.patches) == 2 * len(RANGES)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("saving")  # the largest swing at the top
    assert "NPV" in ax.get_title()


def test_break_even_linear_analytic_root():
    be = break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", target=5.0,
                    bracket=(-100.0, 100.0))
    # 2a - 6 + 2 = 5  ->  a = 4.5
    assert isinstance(be, BreakEven)
    assert be.value == pytest.approx(4.5, abs=1e-10) and float(be) == be.value
    assert be.base_outcome == pytest.approx(-2.0) and be.change == pytest.approx(3.5)
    assert be.iterations >= 1 and be.function_calls >= 2
    assert "a = 4.5" in str(be)


def test_break_even_saving_closed_form_at_3_5_percent():
    """Yearly saving that makes the NPV zero: investment / annuity factor at 3.5%."""
    be = break_even(npv, BASE, "saving", bracket=(0.0, 100_000.0))
    invest = 5 * 40 * 350.0
    annuity_factor = sum(1.035**-t for t in range(1, 5))
    assert be.value == pytest.approx(invest / annuity_factor, rel=1e-10)
    assert npv(**{**BASE, "saving": be.value}) == pytest.approx(0.0, abs=1e-6)
    cost = break_even(npv, BASE, "cost_per_day", bracket=(0.0, 5_000.0))
    assert cost.value == pytest.approx(18_000 * annuity_factor / 200, rel=1e-10)


@settings(max_examples=50, deadline=None)
@given(st.floats(-50, 50), st.floats(0.1, 20), st.floats(-100, 100))
def test_break_even_solves_target(shift, slope, target):
    def model(x, c):
        return slope * x**3 + slope * x + c

    lo, hi = -10.0, 10.0
    f_lo, f_hi = model(lo, shift), model(hi, shift)
    if not f_lo <= target <= f_hi:
        with pytest.raises(DataError, match="no sign change"):
            break_even(model, {"x": 0.0, "c": shift}, "x", target, bracket=(lo, hi))
        return
    be = break_even(model, {"x": 0.0, "c": shift}, "x", target, bracket=(lo, hi))
    assert lo <= be.value <= hi
    assert model(be.value, shift) == pytest.approx(target, abs=1e-8 * (1 + abs(target))
                                                   + slope * 1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=3, max_size=3),
       st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=3, max_size=3))
def test_tornado_swing_property(coefs, ranges):
    def model(x0, x1, x2):
        return coefs[0] * x0 + coefs[1] * x1 ** 2 + coefs[2] * np.tanh(x2)

    base = {"x0": 0.5, "x1": -0.5, "x2": 1.0}
    ow = one_way(model, base, {f"x{i}": r for i, r in enumerate(ranges)})
    t = ow.table
    assert np.all(np.diff(t["swing"].to_numpy()) <= 0)
    for p in t.index:
        lo, hi = t.loc[p, ["low", "high"]]
        expected = abs(model(**{**base, p: hi}) - model(**{**base, p: lo}))
        assert t.loc[p, "swing"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda: break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", bracket=(5.0, 10.0)),
     DataError, "no sign change in `bracket`"),
    (lambda: break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "d", bracket=(0.0, 1.0)),
     DataError, "`parameter` 'd' is not in `base`"),
    (lambda: break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", bracket=(3.0, 1.0)),
     DataError, "lo < hi"),
    (lambda: break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", bracket=(0.0,)),
     DataError, "pair"),
    (lambda: break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", bracket=(0.0, np.inf)),
     DataError, "finite"),
    (lambda: break_even(lambda a: np.log(a), {"a": 1.0}, "a", bracket=(-1.0, 2.0)),
     DataError, "finite"),
    (lambda: break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", bracket=(0, 9),
                        maxiter=0), DesignError, "maxiter"),
    (lambda: one_way(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, {"z": (0.0, 1.0)}),
     DataError, "not in `base`"),
    (lambda: one_way(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, {"a": (0.0, 1.0, 2.0)}),
     DataError, r"`ranges\['a'\]` must be a \(low, high\) pair"),
    (lambda: one_way(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, {"a": "wide"}), DataError, "pair"),
    (lambda: one_way(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, {}), DataError, "`ranges`"),
    (lambda: one_way(linear, {}, {"a": (0.0, 1.0)}), DataError, "`base`"),
    (lambda: one_way(linear, {"a": "one", "b": 2.0, "c": 4.0}, {"b": (0.0, 1.0)}),
     DataError, r"`base\['a'\]`"),
    (lambda: one_way("npv", {"a": 1.0}, {"a": (0.0, 1.0)}), DataError, "callable"),
    (lambda: one_way(lambda a: np.ones(2) * a, {"a": 1.0}, {"a": (0.0, 1.0)}), DataError,
     "one number"),
    # errors of the model itself propagate unchanged
    (lambda: one_way(lambda a: 1 / a, {"a": 1.0}, {"a": (0.0, 1.0)}), ZeroDivisionError,
     "division"),
])
def test_bad_inputs(call, error, match):
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(error, match=match):
        call()


def test_no_convergence_is_a_convergence_error():
    with pytest.raises(ConvergenceError, match="did not converge"):
        break_even(lambda x: x**3 - 2.0, {"x": 0.0}, "x", bracket=(-1e6, 1e6), maxiter=2)


def test_break_even_and_tornado_print_large_values_plainly():
    def net(saving, cost):
        return 5 * saving - cost

    be = break_even(net, {"saving": 1_000_000.0, "cost": 22_830_800.0}, "saving",
                    bracket=(0.0, 5e7))
    assert be.value == pytest.approx(4_566_160.0)
    text = str(be)
    assert "e+0" not in text
    assert "saving = 4,566,160 (+356.6% from base)" in text
    assert "at its base value 1,000,000 the outcome is -17,830,800" in text
    assert "Searched in [0, 50,000,000]" in text
    small = break_even(linear, {"a": 1.0, "b": 2.0, "c": 4.0}, "a", target=5.0,
                       bracket=(-100.0, 100.0))
    assert "a = 4.5 " in str(small) and "[-100, 100]" in str(small)
    ow = one_way(net, {"saving": 1_000_000.0, "cost": 22_830_800.0},
                 {"saving": (500_000.0, 6_000_000.0), "cost": (1e7, 3e7)}, name="NPV")
    shown = str(ow)
    assert "e+0" not in shown
    assert "27,500,000" in shown and "-17,830,800" in shown          # swing, base outcome
    assert ow.summary().to_frame()["swing"].dtype == float           # numbers stay numbers


def test_printed_with_the_one_number_format():
    # one formatter for the library: 2e12 prints as format_number does (it printed in full)
    from sosstats._results import format_number

    ow = one_way(lambda a: a * 1e12, {"a": 2.0}, {"a": (1.0, 3.0)}, name="NPV")
    assert f"NPV at base values: {format_number(2e12)}." in str(ow)
    assert "2,000,000,000,000" not in str(ow)
    be = break_even(lambda a: a * 1e12 - 1e12, {"a": 2.0}, "a", bracket=(0.0, 3.0))
    assert f"the outcome is {format_number(1e12)}" in str(be)


def test_results_are_table_results_without_plot_that_raises():
    from sosstats._results import TableResult

    ow = one_way(lambda a, b: a - b, {"a": 2.0, "b": 1.0}, {"a": (1.0, 3.0)})
    be = break_even(lambda a, b: a - b, {"a": 2.0, "b": 1.0}, "a", bracket=(0.0, 3.0))
    assert isinstance(ow, TableResult) and isinstance(be, TableResult)
    assert not hasattr(be, "plot")
    row = be.tidy().iloc[0]
    assert row["parameter"] == "a" and row["value"] == pytest.approx(1.0)
    assert be.to_dict()["table"][0]["value"] == pytest.approx(1.0)
    assert list(ow.summary().to_frame().index) == ["a"]
