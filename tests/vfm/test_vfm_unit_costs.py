"""Unit costs: closed forms, draws for probabilistic sensitivity analysis, bad inputs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.errors import DataError
from sosstats.vfm import Amount, UnitCost, unit_cost

ON_COSTS = {"national_insurance": 0.138, "ni_threshold": 8_000, "pension": 0.2}
OVERHEADS = {"direct": 0.3, "indirect": 0.15, "capital": Amount(2_500)}


def _worker(**kw):
    args = dict(salary=35_000, on_costs=ON_COSTS, overheads=OVERHEADS, working_hours=1_575,
                direct_share=0.25, price_year=2016)
    args.update(kw)
    return unit_cost(**args)


def test_closed_form_itemised():
    uc = _worker()
    ni = 0.138 * (35_000 - 8_000)
    pension = 0.2 * 35_000
    base = 35_000 + ni + pension
    total = base * 1.45 + 2_500
    t = uc.table
    assert list(t.index) == ["salary", "national_insurance", "pension", "direct_overheads",
                             "indirect_overheads", "capital", "total"]
    np.testing.assert_allclose(t["per_year"], [35_000, ni, pension, 0.3 * base, 0.15 * base,
                                               2_500, total])
    assert uc.per_year == pytest.approx(total)
    assert uc.per_hour == pytest.approx(total / 1_575)
    assert uc.per_direct_hour == pytest.approx(total / 1_575 / 0.25)
    assert t["per_working_hour"].iloc[:-1].sum() == pytest.approx(t.loc["total",
                                                                        "per_working_hour"])
    assert t["share"].iloc[:-1].sum() == pytest.approx(1.0)
    assert uc.price_year == 2016 and uc.n_draws is None and uc.draws is None
    tidy = uc.tidy()
    assert tidy.loc[tidy.term == "cost_per_working_hour", "estimate"].item() == pytest.approx(
        total / 1_575)
    assert tidy["ci_lower"].isna().all()
    assert "2016" in str(uc.summary())


def test_overhead_base_salary_and_single_rate():
    uc = unit_cost(salary=30_000, on_costs=0.3, overheads={"direct": 0.2, "indirect": 0.1},
                   overhead_base="salary", working_hours=1_500, price_year="2016/17")
    assert list(uc.items.columns) == ["salary", "on_costs", "direct_overheads",
                                      "indirect_overheads", "total"]
    assert uc.per_year == pytest.approx(30_000 * (1 + 0.3 + 0.2 + 0.1))
    assert np.isnan(uc.per_direct_hour)
    uc2 = unit_cost(salary=30_000, on_costs=Amount(9_000), working_hours=1_500,
                    price_year=2016)
    assert uc2.per_year == pytest.approx(39_000)


def test_salary_below_ni_threshold_pays_no_ni():
    uc = unit_cost(salary=7_000, on_costs={"national_insurance": 0.138, "ni_threshold": 8_000},
                   working_hours=1_000, price_year=2016)
    assert uc.items["national_insurance"].item() == 0.0


def test_distributions_drawn_in_documented_order():
    sal = stats.norm(35_000, 2_000)
    direct = stats.beta(30, 70)
    hours = stats.uniform(1_500, 150)
    uc = unit_cost(salary=sal, on_costs={"pension": 0.2}, overheads={"direct": direct},
                   working_hours=hours, price_year=2016, n_draws=200, rng=7)
    rng = np.random.default_rng(7)
    s = sal.rvs(size=200, random_state=rng)
    d = direct.rvs(size=200, random_state=rng)
    h = hours.rvs(size=200, random_state=rng)
    total = s * 1.2 * (1 + d)
    np.testing.assert_allclose(uc.items["total"], total)
    np.testing.assert_allclose(uc.hourly(), total / h)
    assert uc.n_draws == 200 and uc.nobs == 200
    ci = uc.conf_int(0.9)
    np.testing.assert_allclose(ci.loc["cost_per_working_hour"],
                               np.quantile(total / h, [0.05, 0.95]))
    assert uc.std_errors["cost_per_year"] == pytest.approx(total.std(ddof=1))
    # the itemised table averages the draws and still adds up
    t = uc.table
    assert t["per_year"].iloc[:-1].sum() == pytest.approx(t.loc["total", "per_year"])
    assert t.loc["total", "per_working_hour"] == pytest.approx(uc.per_hour)


def test_arrays_of_draws_and_scalars_broadcast():
    uc = unit_cost(salary=np.array([30_000.0, 40_000.0]), on_costs=0.25,
                   working_hours=[1_500, 1_600], price_year=2016)
    np.testing.assert_allclose(uc.hourly(), [30_000 * 1.25 / 1_500, 40_000 * 1.25 / 1_600])
    assert uc.draws.shape == (2, 5)


def test_same_rng_same_draws():
    a = _worker(salary=stats.gamma(50, scale=700), rng=3, n_draws=50)
    b = _worker(salary=stats.gamma(50, scale=700), rng=3, n_draws=50)
    pd.testing.assert_frame_equal(a.items, b.items)


def test_reprice_unit_cost():
    index = pd.Series({2016: 100.0, 2018: 104.0})  # illustrative index, not real data
    uc = _worker().reprice(2018, index)
    assert isinstance(uc, UnitCost) and uc.price_year == 2018
    assert uc.per_hour == pytest.approx(_worker().per_hour * 1.04)


@settings(max_examples=30, deadline=None)
@given(st.floats(5_000, 200_000), st.floats(0, 0.5), st.floats(0, 1), st.floats(100, 3000),
       st.floats(0.05, 1))
def test_hourly_cost_scales(salary, pension, direct, hours, share):
    uc = unit_cost(salary=salary, on_costs={"pension": pension}, overheads={"direct": direct},
                   working_hours=hours, direct_share=share, price_year=2016)
    assert uc.per_hour == pytest.approx(salary * (1 + pension) * (1 + direct) / hours)
    double = unit_cost(salary=2 * salary, on_costs={"pension": pension},
                       overheads={"direct": direct}, working_hours=hours, direct_share=share,
                       price_year=2016)
    assert double.per_direct_hour == pytest.approx(2 * uc.per_direct_hour)
    assert uc.per_direct_hour >= uc.per_hour


@pytest.mark.parametrize("kwargs, match", [
    ({"salary": -1}, "salary"),
    ({"salary": np.nan}, "salary"),
    ({"working_hours": 0}, "working_hours"),
    ({"working_hours": 9_000}, "working_hours"),
    ({"direct_share": 1.5}, "direct_share"),
    ({"direct_share": 0}, "direct_share"),
    ({"on_costs": {"pension": -0.1}}, "pension"),
    ({"on_costs": {"pension": 1.5}}, "pension"),
    ({"on_costs": {"employer_ni": 0.1}}, "unknown"),
    ({"on_costs": {"ni_threshold": 8000}}, "national_insurance"),
    ({"overheads": {"direct": -0.2}}, "direct"),
    ({"overheads": {"admin": 0.2}}, "unknown"),
    ({"overheads": 0.3}, "overheads"),
    ({"overheads": {"capital": Amount(np.inf)}}, "capital"),
    ({"price_year": None}, "price_year"),
    ({"salary": np.array([1.0, 2.0]), "working_hours": np.array([1.0, 2.0, 3.0])}, "same length"),
    ({"salary": np.array([1.0, 2.0]), "n_draws": 3}, "n_draws"),
    ({"salary": "a lot"}, "salary"),
    ({"overhead_base": "total"}, "overhead_base"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(DataError, match=match):
        _worker(**kwargs)
