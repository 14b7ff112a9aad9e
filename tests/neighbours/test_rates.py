"""Rates per 10,000 with exact Poisson intervals; funnel limits and plot."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.errors import DataError
from sosstats.neighbours.rates import funnel_limits, funnel_plot, poisson_interval, rate_per_10k

matplotlib.use("Agg")


def test_rates_match_closed_form_and_gamma_quantiles():
    count = np.array([0, 1, 5, 44, 362, 10_000])
    pop = np.array([1_000, 2_500.0, 20_000, 100_000, 250_000, 1e6])
    out = rate_per_10k(count, pop)
    np.testing.assert_allclose(out["rate"], count / pop * 1e4)
    lo = np.where(count > 0, stats.gamma.ppf(0.025, np.maximum(count, 1)), 0.0)
    hi = stats.gamma.ppf(0.975, count + 1)
    np.testing.assert_allclose(out["lower"], lo / pop * 1e4, rtol=1e-10)
    np.testing.assert_allclose(out["upper"], hi / pop * 1e4, rtol=1e-10)
    # count 0: lower 0, upper -log(alpha/2) (closed form)
    assert out["lower"].iloc[0] == 0.0
    assert out["upper"].iloc[0] == pytest.approx(-np.log(0.025) / 1000 * 1e4, rel=1e-12)
    # count 1: lower = -log(1 - alpha/2)
    assert out["lower"].iloc[1] == pytest.approx(-np.log(0.975) / 2500 * 1e4, rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(x=st.integers(1, 5000), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_garwood_limits_are_exact_tail_inversions(x, level):
    lo, hi = poisson_interval(np.array([x]), level=level)
    a = (1 - level) / 2
    assert stats.poisson.sf(x - 1, lo[0]) == pytest.approx(a, rel=1e-8)
    assert stats.poisson.cdf(x, hi[0]) == pytest.approx(a, rel=1e-8)


def test_series_in_frame_out_and_missing_stays_missing():
    count = pd.Series([10.0, np.nan, 3.0], index=["E1", "E2", "E3"])
    pop = pd.Series([5000, 6000, 7000], index=["E1", "E2", "E3"])
    out = rate_per_10k(count, pop, per=1000, level=0.9)
    assert list(out.index) == ["E1", "E2", "E3"]
    assert list(out.columns) == ["rate", "lower", "upper"]
    assert out.loc["E2"].isna().all()
    assert out.loc["E1", "rate"] == pytest.approx(2.0)
    assert (out["lower"] < out["rate"]).iloc[[0, 2]].all()
    wide = rate_per_10k(count, pop, per=1000, level=0.99)
    assert (wide["upper"] > out["upper"]).iloc[[0, 2]].all()
    scalar = rate_per_10k(7, 20_000)
    assert scalar.shape == (1, 3)


def test_rate_bad_inputs():
    with pytest.raises(DataError, match="negative"):
        rate_per_10k([-1, 2], [10, 10])
    with pytest.raises(DataError, match="population"):
        rate_per_10k([1, 2], [10, 0])
    with pytest.raises(DataError, match="population"):
        rate_per_10k([1, 2], [10, -5])
    with pytest.raises(DataError, match="match"):
        rate_per_10k([1, 2, 3], [10, 20])
    with pytest.raises(DataError, match="numeric"):
        rate_per_10k(pd.Series(["a", "b"]), [10, 20])
    with pytest.raises(DataError, match="per"):
        rate_per_10k([1], [10], per=0)
    with pytest.raises(DataError, match="level"):
        rate_per_10k([1], [10], level=1.5)
    with pytest.raises(DataError, match="infinite"):
        rate_per_10k([np.inf], [10])


def _brute_limit(n, rate, q, per=10_000):
    mu = rate * n / per
    r = stats.poisson.ppf(q, mu)
    f_r, f_r1 = stats.poisson.cdf(r, mu), stats.poisson.cdf(r - 1, mu)
    return (r - (f_r - q) / (f_r - f_r1)) / n * per


def test_funnel_limits_against_brute_force_and_normal_approximation():
    pops = np.array([500.0, 5_000, 30_000, 120_000, 400_000])
    lim = funnel_limits(pops, 41.0)
    assert list(lim.columns) == ["population", "lower_95", "upper_95", "lower_99.8",
                                 "upper_99.8"]
    for i, n in enumerate(pops):
        assert lim["upper_95"].iloc[i] == pytest.approx(_brute_limit(n, 41.0, 0.975))
        assert lim["lower_99.8"].iloc[i] == pytest.approx(max(_brute_limit(n, 41.0, 0.001), 0))
    # nested and narrowing with population
    assert (lim["lower_99.8"] <= lim["lower_95"]).all()
    assert (lim["upper_99.8"] >= lim["upper_95"]).all()
    assert (np.diff(lim["upper_95"]) < 0).all() and (np.diff(lim["lower_95"]) > 0).all()
    # large populations: close to target +/- z * sqrt(target * per / n)
    n = 400_000
    half = 1.96 * np.sqrt(41.0 * 1e4 / n)
    assert lim["upper_95"].iloc[-1] == pytest.approx(41.0 + half, rel=0.01)
    assert lim["lower_95"].iloc[-1] == pytest.approx(41.0 - half, rel=0.01)
    custom = funnel_limits([1000], 10.0, levels=(0.9,), per=1000)
    assert list(custom.columns) == ["population", "lower_90", "upper_90"]


def test_funnel_limits_bad_inputs():
    with pytest.raises(DataError, match="population"):
        funnel_limits([0, 10], 5.0)
    with pytest.raises(DataError, match="rate"):
        funnel_limits([10], -1.0)
    with pytest.raises(DataError, match="level"):
        funnel_limits([10], 1.0, levels=(95,))


def test_funnel_plot_labels_outliers_and_marks_highlights():
    rng = np.random.default_rng(0)
    pop = rng.integers(20_000, 300_000, 60).astype(float)
    count = rng.poisson(40 * pop / 1e4).astype(float)
    count[5] = 3 * count[5]                       # a clear outlier
    count[7] = np.nan                             # suppressed: left out, not zero
    data = pd.DataFrame({"la_code": [f"E{i:02d}" for i in range(60)], "n": count,
                         "pop": pop})
    before = data.copy()
    ax = funnel_plot(data, count="n", population="pop", highlight=["E10", "E11"])
    texts = {t.get_text() for t in ax.texts}
    assert "E05" in texts and {"E10", "E11"} <= texts and "E07" not in texts
    assert len(ax.lines) >= 5                     # 4 limit curves + target
    pd.testing.assert_frame_equal(data, before)
    target = float(np.nansum(count) / pop[~np.isnan(count)].sum() * 1e4)
    assert ax.lines[-1].get_ydata()[0] == pytest.approx(target)
    with pytest.raises(DataError, match="'missing'"):
        funnel_plot(data, count="missing", population="pop")
    import matplotlib.pyplot as plt

    plt.close("all")


def _interpolated_quantile_from_pmf(mu: float, q: float) -> float:
    """Spiegelhalter's interpolated Poisson quantile from first principles.

    The CDF is built by summing the pmf (log-gamma form, no scipy.stats); the limit is the
    inverse of the piecewise-linear CDF through the points (r, F(r)), r = 0, 1, 2, ...
    """
    import math

    top = int(mu + 20 * math.sqrt(mu) + 50)
    r = np.arange(top + 1)
    logpmf = r * math.log(mu) - mu - np.array([math.lgamma(x + 1.0) for x in r])
    cdf = np.cumsum(np.exp(logpmf))
    if q <= cdf[0]:
        return 0.0
    return float(np.interp(q, cdf, r))


@pytest.mark.parametrize("n", [700.0, 4_321.0, 25_000.0, 160_000.0])
@pytest.mark.parametrize("rate", [12.5, 41.0, 480.0])
def test_funnel_limits_equal_independent_pmf_construction(n, rate):
    lim = funnel_limits(np.array([n]), rate).iloc[0]
    mu = rate * n / 1e4
    for col, q in [("lower_95", 0.025), ("upper_95", 0.975), ("lower_99.8", 0.001),
                   ("upper_99.8", 0.999)]:
        expected = _interpolated_quantile_from_pmf(mu, q) * 1e4 / n
        assert lim[col] == pytest.approx(expected, rel=1e-9, abs=1e-12)
