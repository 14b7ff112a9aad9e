"""Discounting (Green Book), annuities and re-pricing: closed forms, types and bad inputs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosstats.errors import DataError, DesignError
from sosstats.vfm import (
    GREEN_BOOK,
    annuity,
    discount,
    discount_factors,
    discount_rates,
    present_value,
    reprice,
)

#: An illustrative price index made up for these tests (not real data): +2% a year from 2014.
ILLUSTRATIVE_INDEX = pd.Series({2014 + k: 100 * 1.02**k for k in range(6)})


def test_green_book_factors_closed_form():
    d = discount_factors(400)
    assert d[0] == 1.0
    assert d[30] == pytest.approx(1.035**-30)
    assert d[31] == pytest.approx(1.035**-30 / 1.03)
    assert d[75] == pytest.approx(1.035**-30 * 1.03**-45)
    assert d[76] == pytest.approx(1.035**-30 * 1.03**-45 / 1.025)
    expected_300 = 1.035**-30 * 1.03**-45 * 1.025**-50 * 1.02**-75 * 1.015**-100
    assert d[300] == pytest.approx(expected_300)
    assert d[301] == pytest.approx(expected_300 / 1.01)
    rates = discount_rates(400)
    assert rates[30] == 0.035 and rates[31] == 0.030 and rates[125] == 0.025
    assert rates[126] == 0.020 and rates[200] == 0.020 and rates[201] == 0.015
    assert rates[300] == 0.015 and rates[301] == 0.010 and rates[399] == 0.010
    assert GREEN_BOOK[0] == (0, 0.035)


def test_discount_first_year_undiscounted_and_constant_rate():
    flows = np.array([100.0, 100.0, 100.0, 100.0])
    np.testing.assert_allclose(discount(flows), 100 * 1.035 ** -np.arange(4))
    np.testing.assert_allclose(discount(flows, rate=0.05), 100 * 1.05 ** -np.arange(4))
    assert present_value(flows, rate=0.0) == pytest.approx(400.0)
    assert present_value([0, 110.0], rate=0.1) == pytest.approx(100.0)


def test_start_year_and_rate_array():
    flows = np.array([10.0, 20.0])
    out = discount(flows, start_year=30)
    np.testing.assert_allclose(out, [10 * 1.035**-30, 20 * 1.035**-30 / 1.03])
    rates = np.array([0.9, 0.10, 0.20, 0.30])  # rate[0] is not used
    np.testing.assert_allclose(discount([1.0, 1.0, 1.0, 1.0], rates),
                               [1, 1 / 1.1, 1 / 1.1 / 1.2, 1 / 1.1 / 1.2 / 1.3])
    np.testing.assert_allclose(discount([1.0, 1.0], rates, start_year=2),
                               [1 / 1.1 / 1.2, 1 / 1.1 / 1.2 / 1.3])
    custom = discount([1.0, 1.0, 1.0], schedule=[(0, 0.10), (2, 0.0)])
    np.testing.assert_allclose(custom, [1, 1 / 1.1, 1 / 1.1])


def test_vectorised_and_types_kept():
    flows = np.arange(12.0).reshape(3, 4)
    out = discount(flows)
    np.testing.assert_allclose(out, flows * discount_factors(4))
    np.testing.assert_allclose(discount(flows.T, axis=0), out.T)
    frame = pd.DataFrame(flows, index=["low", "mid", "high"], columns=[2016, 2017, 2018, 2019])
    fout = discount(frame, rate=0.05)
    assert isinstance(fout, pd.DataFrame) and list(fout.columns) == [2016, 2017, 2018, 2019]
    pv = present_value(frame, rate=0.05)
    assert isinstance(pv, pd.Series) and list(pv.index) == ["low", "mid", "high"]
    np.testing.assert_allclose(pv, (flows * 1.05 ** -np.arange(4)).sum(axis=1))
    series = pd.Series([1.0, 2.0], index=[2016, 2017], name="cost")
    sout = discount(series)
    assert isinstance(sout, pd.Series) and sout.name == "cost"
    assert frame.iloc[0, 1] == 1.0  # input untouched


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.floats(0, 0.2),
       st.floats(0.1, 10))
def test_linear_and_decreasing(flows, rate, scale):
    arr = np.array(flows)
    a = discount(arr, rate)
    np.testing.assert_allclose(discount(scale * arr, rate), scale * a, rtol=1e-12, atol=1e-6)
    d = discount_factors(len(flows), rate=rate)
    assert np.all(np.diff(d) <= 0) and d[0] == 1.0
    assert np.all(np.diff(discount_factors(len(flows))) < 0)


def test_annuity_closed_form():
    assert annuity(1_000.0, years=1, rate=0.1) == pytest.approx(1_100.0)
    assert annuity(600.0, years=60, rate=0.0) == pytest.approx(10.0)
    r, n = 0.035, 60
    assert annuity(100_000, years=n) == pytest.approx(100_000 * r / (1 - (1 + r) ** -n))
    assert annuity(100_000, years=n, timing="advance") == pytest.approx(
        annuity(100_000, years=n) / (1 + r))
    # the annuity's present value equals the capital
    assert present_value(np.r_[0.0, np.full(n, annuity(1.0, years=n))], rate=r) == \
        pytest.approx(1.0)


def test_reprice_closed_form_and_types():
    assert reprice(1_000.0, from_year=2014, to_year=2016, index=ILLUSTRATIVE_INDEX) == \
        pytest.approx(1_000 * 1.02**2)
    out = reprice(np.array([100.0, 100.0]), from_year=[2014, 2019], to_year=2016,
                  index=ILLUSTRATIVE_INDEX)
    np.testing.assert_allclose(out, [100 * 1.02**2, 100 * 1.02**-3])
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=["x", "y"])
    fout = reprice(frame, from_year=[2015, 2016], to_year=2016, index=ILLUSTRATIVE_INDEX)
    np.testing.assert_allclose(fout.to_numpy(), [[1.02, 3 * 1.02], [2.0, 4.0]])
    assert list(fout.index) == ["x", "y"]
    labels = pd.Series({"2015/16": 98.0, "2016/17": 100.0})
    assert reprice(98.0, from_year="2015/16", to_year="2016/17", index=labels) == \
        pytest.approx(100.0)
    assert reprice(5.0, from_year=2015, to_year=2015, index=ILLUSTRATIVE_INDEX) == 5.0


@pytest.mark.parametrize("kwargs, match", [
    ({"from_year": None}, "missing price year"),
    ({"from_year": [2015, np.nan]}, "missing price year"),
    ({"from_year": 2010}, "no value for price year"),
    ({"to_year": 2030}, "no value for `to_year`"),
    ({"index": pd.Series({2015: 100.0, 2016: -1.0})}, "positive"),
    ({"index": pd.Series(dtype=float)}, "empty"),
    ({"index": [100.0, 101.0]}, "Series"),
    ({"from_year": [2015, 2016, 2017]}, "one per row"),
    ({"values": [1.0, np.nan]}, "NaN"),
])
def test_reprice_bad_inputs(kwargs, match):
    args = dict(values=[1.0, 2.0], from_year=2015, to_year=2016, index=ILLUSTRATIVE_INDEX)
    args.update(kwargs)
    values = args.pop("values")
    with pytest.raises(DataError, match=match):
        reprice(values, **args)


@pytest.mark.parametrize("call, match", [
    (lambda: discount([1.0, np.nan]), "NaN"),
    (lambda: discount([1.0, np.inf]), "infinite"),
    (lambda: discount(5.0), "single number"),
    (lambda: discount([1.0, 2.0], 0.03, schedule="green_book"), "not both"),
    (lambda: discount([1.0, 2.0], -1.0), "greater than -1"),
    (lambda: discount([1.0, 2.0, 3.0], [0.0, 0.03]), "yearly rates"),
    (lambda: discount([1.0], schedule="treasury"), "schedule"),
    (lambda: discount([1.0], schedule=[(1, 0.03)]), "rising from 0"),
    (lambda: discount(["a", "b"]), "numeric"),
    (lambda: annuity(100.0, years=10, timing="midyear"), "timing"),
])
def test_discount_bad_inputs(call, match):
    with pytest.raises(DataError, match=match):
        call()


def test_bad_counts_are_design_errors():
    with pytest.raises(DesignError, match="years"):
        annuity(100.0, years=0)
    with pytest.raises(DesignError, match="start_year"):
        discount([1.0], start_year=-1)


def test_flows_with_text_empty_or_nullable_missing_get_named_errors():
    import pandas as pd

    from sosstats.errors import DataError
    from sosstats.vfm import present_value

    with pytest.raises(DataError, match=r"`flows` must be numeric.*'n/a'"):
        present_value(pd.Series([100.0, "n/a", 100.0], dtype=object), 0.035)
    with pytest.raises(DataError, match="`flows` is empty"):
        present_value(pd.Series([], dtype=float), 0.035)
    with pytest.raises(DataError, match="1 NaN"):      # pd.NA in a nullable column is a NaN
        present_value(pd.Series([100.0, None, 100.0], dtype="Float64"), 0.035)
    assert present_value(pd.Series([100, 100], dtype="Int64"), 0.0) == 200.0
