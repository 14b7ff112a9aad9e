"""Budget view: NPV, benefit-cost ratio and payback by hand, draws, properties, bad inputs."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import DataError
from sosstats.vfm import discount_factors, present_value
from sosstats._results import format_number
from sosstats.vfm import BudgetView
from sosstats.vfm._format import format_money
from sosstats.vfm.budget import budget, training_cost
from sosstats.vfm.psa import gamma_cost

matplotlib.use("Agg")

#: An illustrative price index made up for these tests (not real data): +2% a year from 2014.
ILLUSTRATIVE_INDEX = pd.Series({2014 + k: 100 * 1.02**k for k in range(6)})


def _payback(view):
    """Payback position, with 'never' as infinity (for monotonicity checks)."""
    pos = view.payback_positions
    return np.where(np.isnan(pos), np.inf, pos)


def test_npv_and_payback_by_hand_at_3_5_percent():
    view = budget([1_000.0, 0.0, 0.0], [0.0, 600.0, 600.0], rate=0.035)
    assert isinstance(view, BudgetView)
    npv = -1_000 + 600 / 1.035 + 600 / 1.035**2
    assert view.npv == pytest.approx(npv, rel=1e-12)
    assert view.pv_investment == pytest.approx(1_000.0)
    assert view.pv_avoided == pytest.approx(npv + 1_000)
    assert view.bcr == pytest.approx((npv + 1_000) / 1_000)
    assert view.payback_year == 2
    t = view.table
    np.testing.assert_allclose(t["cumulative_net"], [-1_000, -400, 200])
    np.testing.assert_allclose(t["cumulative_discounted_net"],
                               [-1_000, -1_000 + 600 / 1.035, npv])
    np.testing.assert_allclose(t["discount_factor"], 1.035 ** -np.arange(3))
    # the Green Book default is 3.5% for the first 30 years
    assert budget([1_000.0, 0.0, 0.0], [0.0, 600.0, 600.0]).npv == pytest.approx(npv)
    assert "Pays back in year 2" in view.payback_explanation
    text = str(view)
    assert "cumulative_discounted_net" in text and f"NPV {npv:.2f}" in text
    tidy = view.tidy().set_index("term")
    assert tidy.loc["npv", "estimate"] == pytest.approx(npv)
    assert tidy.loc["net_undiscounted", "estimate"] == pytest.approx(200.0)
    assert np.isnan(tidy.loc["npv", "ci_lower"])


def test_training_cost_components_and_year_labels():
    assert training_cost(5, 40, 350.0) == 70_000.0
    np.testing.assert_allclose(training_cost([5, 2, 0], 40, 350.0), [70_000, 28_000, 0])
    inv = {"training": training_cost([5, 2, 0, 0], 40, 350.0),
           "fees": [20_000.0, 20_000.0, 20_000.0, 20_000.0]}
    avoided = {"assessments": [0.0, 40_000, 60_000, 60_000], "plans": 10_000.0}
    view = budget(inv, avoided, years=[2014, 2015, 2016, 2017], rate=0.035, price_year=2016)
    total_inv = np.array([90_000, 48_000, 20_000, 20_000.0])
    total_av = np.array([10_000, 50_000, 70_000, 70_000.0])
    d = 1.035 ** -np.arange(4)
    assert view.npv == pytest.approx(((total_av - total_inv) * d).sum())
    np.testing.assert_allclose(view.table["investment"], total_inv)
    assert list(view.table.index) == [2014, 2015, 2016, 2017]
    assert view.components[("investment", "fees")].tolist() == [20_000.0] * 4
    assert view.components[("avoided", "plans")].tolist() == [10_000.0] * 4
    cum = np.cumsum((total_av - total_inv) * d)
    assert view.payback_year == [2014, 2015, 2016, 2017][int(np.argmax(cum >= 0))]
    assert view.payback_year == 2017
    assert view.tidy()["price_year"].eq("2016").all()


def test_no_payback_and_no_investment_explained():
    never = budget([1_000.0, 0.0, 0.0], [0.0, 100.0, 100.0], rate=0.035)
    assert never.payback_year is None
    assert "No payback within the horizon" in never.payback_explanation
    assert f"{np.cumsum([-1000, 100 / 1.035, 100 / 1.035**2])[-1]:,.0f}" in \
        never.payback_explanation
    free = budget([0.0, 0.0], [5.0, 5.0])
    assert free.payback_year is None and "No investment" in free.payback_explanation
    assert np.isnan(free.bcr)
    # pays back, then a second investment pushes it below zero again
    dip = budget([100.0, 0.0, 500.0, 0.0], [0.0, 200.0, 0.0, 0.0], rate=0.0)
    assert dip.payback_year == 1 and "below zero again in year 2" in dip.payback_explanation
    # nothing spent or saved before the investment starts: year 0 is not a payback year
    late = budget([0.0, 100.0, 0.0], [0.0, 0.0, 150.0], rate=0.0)
    assert late.payback_year == 2


def test_draws_npv_interval_and_probability():
    rng = np.random.default_rng(1)
    n, years = 2_000, 6
    cost = gamma_cost(350, 80).draws(n, rng=rng)
    inv = training_cost(5, 40, cost)[:, None] * np.eye(years)[0]
    avoided = rng.normal(20_000, 6_000, (n, years)) * (np.arange(years) > 0)
    view = budget(inv, pd.DataFrame(avoided))
    d = discount_factors(years)
    npv = (avoided - inv) @ d
    np.testing.assert_allclose(view.npv, npv)
    np.testing.assert_allclose(view.npv, present_value(avoided - inv))
    assert view.n_draws == n and view.nobs == n
    assert view.prob_positive == pytest.approx(np.mean(npv > 0))
    ci = view.conf_int(0.9).loc["npv"]
    np.testing.assert_allclose(ci, np.quantile(npv, [0.05, 0.95]))
    est = view.params
    assert est["npv"] == pytest.approx(npv.mean())  # NPV of the mean flows = mean NPV
    assert view.std_errors["npv"] == pytest.approx(npv.std(ddof=1))
    assert view.prob_payback == pytest.approx(np.mean(np.cumsum((avoided - inv) * d, 1)[:, -1]
                                                      >= 0))
    band = view.cumulative_interval()
    assert (band["lower"] <= view.table["cumulative_discounted_net"]).all()
    assert "P(NPV > 0)" in str(view)


def test_repricing_to_a_common_price_year():
    view = budget({"training": [1_000.0, 0.0]}, {"saved": [0.0, 1_500.0]}, rate=0.0,
                  price_year=2016, price_years={"training": 2014, "saved": 2016},
                  index=ILLUSTRATIVE_INDEX)
    np.testing.assert_allclose(view.table["investment"], [1_000 * 1.02**2, 0.0])
    assert view.npv == pytest.approx(1_500 - 1_000 * 1.02**2)
    same = budget([1_000.0, 0.0], [0.0, 1_500.0], rate=0.0, price_year=2017,
                  price_years={"investment": 2014, "avoided": 2014}, index=ILLUSTRATIVE_INDEX)
    assert same.npv == pytest.approx(500 * 1.02**3)
    one = budget([1_000.0, 0.0], [0.0, 1_500.0], rate=0.0, price_year=2017, price_years=2014,
                 index=ILLUSTRATIVE_INDEX)
    assert one.npv == pytest.approx(same.npv)


def test_plot():
    view = budget([1_000.0, 0.0, 0.0], [0.0, 600.0, 600.0], years=["14/15", "15/16", "16/17"])
    ax = view.plot()
    assert any("payback: 16/17" in t.get_text() for t in ax.get_legend().get_texts())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["14/15", "15/16", "16/17"]
    rng = np.random.default_rng(0)
    draws = budget(np.tile([1_000.0, 0.0, 0.0], (50, 1)),
                   rng.normal(600, 50, (50, 3)) * [0, 1, 1])
    ax2 = draws.plot()
    assert len(ax2.collections) == 1  # the interval band



@settings(max_examples=50, deadline=None)
@given(st.data(), st.floats(0, 10), st.floats(0, 10))
def test_npv_linear_in_flows(data, a, b):
    n = data.draw(st.integers(1, 25))
    vec = st.lists(st.floats(0, 1e6), min_size=n, max_size=n)
    i1, i2, a1 = (np.array(data.draw(vec)) for _ in range(3))
    a2 = np.array(data.draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n)))
    combined = budget(a * i1 + b * i2, a * a1 + b * a2).npv
    parts = a * budget(i1, a1).npv + b * budget(i2, a2).npv
    assert combined == pytest.approx(parts, rel=1e-9, abs=1e-3)
    assert budget(i1, a1).npv == pytest.approx(present_value(a1) - present_value(i1),
                                               rel=1e-12, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.data(), st.floats(1.0, 20.0))
def test_payback_monotone_when_avoided_costs_scale_up(data, scale):
    n = data.draw(st.integers(2, 15))
    inv = np.array(data.draw(st.lists(st.floats(0, 1e5), min_size=n, max_size=n)))
    avoided = np.array(data.draw(st.lists(st.floats(0, 1e5), min_size=n, max_size=n)))
    base = budget(inv, avoided)
    more = budget(inv, scale * avoided)
    assert _payback(more)[0] <= _payback(base)[0]
    assert more.npv >= base.npv - 1e-6


@pytest.mark.parametrize("kwargs, match", [
    ({"investment": [-1.0, 0.0, 0.0]}, "`investment` has negative values"),
    ({"investment": {"fees": [0.0, -5.0, 0.0]}}, r"`investment\['fees'\]` has negative"),
    ({"avoided": [0.0, 1.0]}, "mismatched lengths"),
    ({"avoided": {"a": [0.0, 1.0, 2.0], "b": [1.0, 2.0]}}, "mismatched lengths"),
    ({"years": 4}, "mismatched lengths"),
    ({"years": [2014, 2014, 2015]}, "repeats"),
    ({"investment": np.ones((3, 3)), "avoided": np.ones((4, 3))}, "numbers of draws"),
    ({"investment": 5.0, "avoided": 6.0}, "give `years`"),
    ({"avoided": [0.0, np.nan, 1.0]}, "NaN"),
    ({"avoided": [0.0, np.inf, 1.0]}, "infinite"),
    ({"avoided": ["a", "b", "c"]}, "numeric"),
    ({"avoided": np.ones((2, 2, 3))}, "shape"),
    ({"avoided": gamma_cost(5.0, 1.0)}, "distribution"),
    ({"investment": {}}, "empty"),
    ({"price_years": 2014, "index": ILLUSTRATIVE_INDEX}, "`price_year` is missing"),
    ({"price_years": {"investment": 2014}, "price_year": 2016, "index": ILLUSTRATIVE_INDEX},
     r"missing price year for `avoided`"),
    ({"price_years": {"investment": 2014, "avoided": None}, "price_year": 2016,
      "index": ILLUSTRATIVE_INDEX}, "missing price year"),
    ({"price_years": {"training": 2014}, "price_year": 2016, "index": ILLUSTRATIVE_INDEX},
     "not flows"),
    ({"price_years": 2014, "price_year": 2016}, "`index`"),
    ({"price_year": 2016, "index": ILLUSTRATIVE_INDEX}, "without `price_years`"),
    ({"price_years": 2010, "price_year": 2016, "index": ILLUSTRATIVE_INDEX}, "no value"),
    ({"rate": -1.0}, "greater than -1"),
    ({"level": 2}, "level"),
])
def test_bad_inputs(kwargs, match):
    args = dict(investment=[1_000.0, 0.0, 0.0], avoided=[0.0, 600.0, 600.0])
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        budget(**args)


@pytest.mark.parametrize("args, match", [
    ((-1, 40, 350.0), "days"),
    ((5, 40, -350.0), "cost_per_day"),
    ((5, [1, 2], [1.0, 2.0, 3.0]), "broadcast"),
    ((5, 40, gamma_cost(350, 50)), "distribution"),
    ((5, np.nan, 350.0), "trainees"),
])
def test_training_cost_bad_inputs(args, match):
    with pytest.raises(DataError, match=match):
        training_cost(*args)


def test_inputs_untouched():
    inv = np.array([1_000.0, 0.0, 0.0])
    frame = pd.DataFrame([[0.0, 600.0, 600.0]])
    budget(inv, frame, price_year=2016, price_years=2015, index=ILLUSTRATIVE_INDEX)
    np.testing.assert_array_equal(inv, [1_000.0, 0.0, 0.0])
    assert frame.iloc[0, 1] == 600.0


@pytest.mark.parametrize("x, money", [
    (4_091_234.5, "4,091,234"), (-2_269_000.4, "-2,269,000"), (1_000.0, "1,000"),
    (999.996, "1,000"), (39.854, "39.85"), (0.149897, "0.15"), (-0.0, "0.00"),
    (-0.001, "0.00"), (5e7, "50,000,000"), (np.nan, "nan"), (2.5e12, "2.5e+12"),
])
def test_money_format(x, money):
    assert format_money(x) == money


@pytest.mark.parametrize("x", [999.996, 1_234.56, 9_999.7, 12_345.6, -2_269_000.4, 3e12, np.nan])
def test_money_from_1000_up_is_the_one_number_format(x):
    # vfm has no number formatter of its own: money from 1,000 up prints as format_number
    assert format_money(x) == format_number(x)


def test_str_prints_money_with_thousands_separators():
    inv = [4_091_234.4, 677_000.0, 677_000.0]
    view = budget(inv, [1_821_000.0, 3_643_000.0, 3_643_000.0], rate=0.035)
    text = str(view)
    assert "e+0" not in text
    assert "4,091,234" in text and "677,000" in text and "0.9662" in text
    assert f"NPV {view.npv:,.0f};" in text
    summary = view.summary()
    assert "e+0" not in str(summary) and f"{view.npv:,.0f}" in str(summary)
    frame = summary.to_frame()                          # the numbers stay numbers
    assert frame.loc["npv", "estimate"] == pytest.approx(view.npv)
    assert "e+0" not in summary._repr_html_()


def test_bcr_headline_is_the_ratio_of_mean_present_values():
    rng = np.random.default_rng(7)
    n = 400
    inv = np.c_[rng.gamma(2.0, 500.0, n), np.zeros((n, 2))]     # investment varies by draw
    avoided = np.c_[np.zeros(n), rng.normal(800.0, 100.0, (n, 2))]
    view = budget(inv, avoided, rate=0.035)
    d = discount_factors(3)
    per_draw = (avoided @ d) / (inv @ d)
    np.testing.assert_allclose(view.bcr, per_draw)              # per draw
    headline = (avoided @ d).mean() / (inv @ d).mean()
    assert view.params["bcr"] == pytest.approx(headline)        # ratio of mean PVs
    assert per_draw.mean() > headline * 1.1                     # not the mean of the ratios
    np.testing.assert_allclose(view.conf_int().loc["bcr"], np.quantile(per_draw, [0.025, 0.975]))
    text = str(view)
    assert f"benefit-cost ratio {headline:.3g} (ratio of the mean PVs" in text
    assert f"mean of the per-draw ratios is {per_draw.mean():.3g}" in text
