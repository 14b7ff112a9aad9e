"""Probabilistic sensitivity analysis: distribution parameters, Monte Carlo, bad inputs."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.vfm import unit_cost
from sosstats.vfm.budget import budget, training_cost
from sosstats.vfm.psa import (
    BetaProbability,
    GammaCost,
    LognormalRatio,
    NormalParameter,
    PSAResult,
    beta_probability,
    gamma_cost,
    lognormal_ratio,
    normal,
    psa,
)

matplotlib.use("Agg")

N_MC = 200_000


def _mc_check(dist, mean, sd, seed=0):
    """Draws recover mean and SD within Monte Carlo error (5 standard errors)."""
    x = dist.draws(N_MC, rng=seed)
    assert x.shape == (N_MC,)
    assert abs(x.mean() - mean) < 5 * sd / math.sqrt(N_MC)
    # SE of the sample SD ~ sd * sqrt((kurtosis - 1) / (4 n)); 2% is > 5 SE for these shapes
    assert x.std(ddof=1) == pytest.approx(sd, rel=0.02)


def test_gamma_method_of_moments():
    g = gamma_cost(400.0, 100.0)
    assert isinstance(g, GammaCost)
    assert g.shape == pytest.approx(16.0) and g.scale == pytest.approx(25.0)
    assert g.parameters == {"shape": pytest.approx(16.0), "scale": pytest.approx(25.0)}
    # `params` is the estimates Series of a result; a distribution has `parameters` only
    assert not hasattr(g, "params")
    assert g.mean == pytest.approx(400.0, rel=1e-12) and g.sd == pytest.approx(100.0, rel=1e-12)
    lo, hi = g.interval(0.9)
    assert (lo, hi) == pytest.approx(stats.gamma(16, scale=25).interval(0.9))
    _mc_check(g, 400.0, 100.0)
    assert "Gamma" in str(g)


def test_beta_method_of_moments_and_counts():
    b = beta_probability(0.3, 0.1)
    alpha = 0.3 * (0.3 * 0.7 / 0.01 - 1)
    assert isinstance(b, BetaProbability)
    assert b.alpha == pytest.approx(alpha) and b.beta == pytest.approx(alpha * 0.7 / 0.3)
    assert (b.alpha, b.beta) == pytest.approx((6.0, 14.0))
    assert b.mean == pytest.approx(0.3) and b.sd == pytest.approx(0.1)
    _mc_check(b, 0.3, 0.1, seed=1)
    c = beta_probability(events=30, n=100)
    assert (c.alpha, c.beta) == (30.0, 70.0)
    assert c.mean == pytest.approx(0.3)
    assert c.sd == pytest.approx(math.sqrt(30 * 70 / (100**2 * 101)))


def test_lognormal_from_interval_and_log_se():
    z = stats.norm.ppf(0.975)
    lo, hi = 0.8 * math.exp(-z * 0.2), 0.8 * math.exp(z * 0.2)
    r = lognormal_ratio(0.8, lo, hi)
    assert isinstance(r, LognormalRatio)
    assert r.mu == pytest.approx(math.log(0.8)) and r.sigma == pytest.approx(0.2)
    assert r.mean == pytest.approx(0.8 * math.exp(0.02))
    assert r.sd == pytest.approx(math.sqrt((math.exp(0.04) - 1) * math.exp(2 * math.log(0.8)
                                                                           + 0.04)))
    assert lognormal_ratio(0.8, log_se=0.2).parameters == pytest.approx(r.parameters)
    x = r.draws(N_MC, rng=2)
    assert np.median(x) == pytest.approx(0.8, rel=0.01)
    _mc_check(r, r.mean, r.sd, seed=2)
    r90 = lognormal_ratio(0.8, 0.8 * math.exp(-0.2 * stats.norm.ppf(0.95)),
                          0.8 * math.exp(0.2 * stats.norm.ppf(0.95)), level=0.9)
    assert r90.sigma == pytest.approx(0.2)


def test_normal_and_draw_conventions():
    d = normal(-50.0, 20.0)
    assert isinstance(d, NormalParameter) and (d.mu, d.sigma) == (-50.0, 20.0)
    _mc_check(d, -50.0, 20.0, seed=3)
    g = gamma_cost(100.0, 30.0)
    np.testing.assert_array_equal(g.draws(50, rng=4), g.dist.rvs(size=50,
                                                                 random_state=np.random.default_rng(4)))
    gen = np.random.default_rng(5)
    first = g.draws(10, rng=gen)
    assert not np.array_equal(first, g.draws(10, rng=gen))  # a Generator moves on


def test_distributions_feed_unit_cost():
    """The helpers behave like scipy frozen distributions where sosstats expects one."""
    sal = gamma_cost(35_000, 2_000)
    uc = unit_cost(salary=sal, working_hours=1_500, price_year=2016, n_draws=100, rng=7)
    expected = stats.gamma(sal.shape, scale=sal.scale).rvs(
        size=100, random_state=np.random.default_rng(7))
    np.testing.assert_allclose(uc.items["salary"], expected)


def _model(cost, p, value):
    return p * value - cost


def test_psa_vectorised_equals_loop_and_manual_draws():
    inputs = {"cost": gamma_cost(2_000, 400), "p": beta_probability(events=30, n=100),
              "value": 10_000.0}
    res = psa(_model, inputs, n=500, rng=11, name="net benefit")
    loop = psa(_model, inputs, n=500, rng=11, vectorised=False, name="net benefit")
    np.testing.assert_allclose(res.outcome, loop.outcome, rtol=1e-12)
    gen = np.random.default_rng(11)
    cost = inputs["cost"].dist.rvs(size=500, random_state=gen)
    p = inputs["p"].dist.rvs(size=500, random_state=gen)
    np.testing.assert_allclose(res.outcome, p * 10_000 - cost)
    assert isinstance(res, PSAResult) and res.nobs == 500 and res.seed == 11
    assert list(res.inputs.columns) == ["cost", "p"] and res.constants == {"value": 10_000.0}
    assert res.prob_positive == pytest.approx(np.mean(p * 10_000 - cost > 0))
    assert res.share_above(1_000) == pytest.approx(np.mean(p * 10_000 - cost > 1_000))
    assert res.interval(0.9) == pytest.approx(tuple(np.quantile(p * 10_000 - cost, [0.05, 0.95])))
    tidy = res.tidy().set_index("term")
    assert tidy.loc["net benefit", "estimate"] == pytest.approx(res.mean)
    assert tidy.loc["net benefit", "std_error"] == pytest.approx(res.sd)
    assert tidy.loc["cost", "ci_lower"] == pytest.approx(np.quantile(cost, 0.025))
    assert tidy.loc["net benefit", "share_above"] == res.prob_positive
    assert "P(net benefit > 0)" in str(res)
    assert res.draws.shape == (500, 3)


def test_psa_mean_recovers_closed_form_and_records_rng():
    res = psa(_model, {"cost": gamma_cost(2_000, 400), "p": beta_probability(0.3, 0.05),
                       "value": 10_000}, n=20_000, rng=3)
    # E[p * 10,000 - cost] = 3,000 - 2,000; SD = sqrt((10,000 * 0.05)^2 + 400^2)
    sd = math.hypot(500, 400)
    assert res.mean == pytest.approx(1_000, abs=5 * sd / math.sqrt(20_000))
    assert res.sd == pytest.approx(sd, rel=0.03)
    assert res.prob_positive == pytest.approx(stats.norm.sf(0, 1_000, sd), abs=0.02)
    again = psa(_model, {"cost": gamma_cost(2_000, 400), "p": beta_probability(0.3, 0.05),
                         "value": 10_000}, n=20_000, rng=3)
    np.testing.assert_array_equal(res.outcome, again.outcome)
    assert "state" in res.rng_state


def test_psa_arrays_of_draws_scalar_outcome_and_rank_correlation():
    x = np.linspace(0, 1, 101)
    res = psa(lambda a, b: 5 * a + 0 * b, {"a": x, "b": normal(0, 1)}, rng=0)
    assert res.n_draws == 101
    np.testing.assert_allclose(res.inputs["a"], x)
    np.testing.assert_allclose(res.outcome, 5 * x)
    rc = res.rank_correlations
    assert rc.index[0] == "a" and rc["a"] == pytest.approx(1.0)
    const = psa(lambda a: 7.0, {"a": normal(0, 1)}, n=10, rng=0)
    np.testing.assert_array_equal(const.outcome, np.full(10, 7.0))


def test_psa_with_budget_npv():
    """PSA of a budget's NPV equals the budget of the same draws (draws x years)."""
    n, years = 400, 5
    cost_day = gamma_cost(350, 60).draws(n, rng=1)
    saving = normal(9_000, 2_500).draws(n, rng=2)
    first = np.eye(years)[0]

    def npv(cost_per_day, saving):
        inv = training_cost(5, 40, cost_per_day)[..., None] * first
        avoided = np.asarray(saving)[..., None] * (1 - first)
        return budget(inv, avoided).npv

    res = psa(npv, {"cost_per_day": cost_day, "saving": saving}, name="NPV")
    view = budget(training_cost(5, 40, cost_day)[:, None] * first,
                  saving[:, None] * (1 - first))
    np.testing.assert_allclose(res.outcome, view.npv)
    assert res.prob_positive == pytest.approx(view.prob_positive)


def test_plot():
    res = psa(_model, {"cost": gamma_cost(2_000, 400), "p": beta_probability(0.3, 0.05),
                       "value": 10_000}, n=300, rng=0)
    ax = res.plot(bins=20)
    assert ax.get_title().startswith("P(outcome > 0)")
    assert len(ax.patches) >= 20  # the histogram's bars


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-2, 1e7), st.floats(1e-3, 10.0))
def test_gamma_parameters_property(mean, cv):
    g = gamma_cost(mean, cv * mean)
    assert g.shape * g.scale == pytest.approx(mean, rel=1e-9)
    assert math.sqrt(g.shape) * g.scale == pytest.approx(cv * mean, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_beta_parameters_property(mean, frac):
    limit = math.sqrt(mean * (1 - mean))
    se = frac * limit
    b = beta_probability(mean, se)
    assert b.alpha > 0 and b.beta > 0
    assert b.mean == pytest.approx(mean, rel=1e-9)
    assert b.sd == pytest.approx(se, rel=1e-7)
    with pytest.raises(DataError, match="too large"):
        beta_probability(mean, limit * 1.0001)


@pytest.mark.parametrize("call, match", [
    (lambda: gamma_cost(-100.0, 10.0), "`mean` of a gamma cost must be positive"),
    (lambda: gamma_cost(0.0, 10.0), "positive"),
    (lambda: gamma_cost(100.0, 0.0), "`se` must be greater than 0"),
    (lambda: gamma_cost(100.0, -5.0), "`se`"),
    (lambda: gamma_cost(100.0, np.nan), "`se` must be a finite"),
    (lambda: gamma_cost("a lot", 5.0), "`mean` must be a number"),
    (lambda: beta_probability(0.5, 0.6), "`se` 0.6 is too large"),
    (lambda: beta_probability(0.3, 0.0), "`se`"),
    (lambda: beta_probability(1.2, 0.1), "strictly between 0 and 1"),
    (lambda: beta_probability(0.3), "give `mean` and `se`"),
    (lambda: beta_probability(events=0, n=10), "`events`"),
    (lambda: beta_probability(events=12, n=10), "`events`"),
    (lambda: beta_probability(events=3), "both `events` and `n`"),
    (lambda: beta_probability(0.3, 0.1, events=3, n=10), "not both"),
    (lambda: lognormal_ratio(-0.8, 0.5, 1.2), "`point`"),
    (lambda: lognormal_ratio(0.8, 1.2, 0.5), "surround"),
    (lambda: lognormal_ratio(0.8, 0.0, 1.2), "`ci_low`"),
    (lambda: lognormal_ratio(0.8, 0.6, 1.1, log_se=0.1), "not both"),
    (lambda: lognormal_ratio(0.8), "not both nor neither"),
    (lambda: lognormal_ratio(0.8, 0.6), "both `ci_low` and `ci_high`"),
    (lambda: lognormal_ratio(0.8, log_se=0.0), "`log_se`"),
    (lambda: normal(0.0, 0.0), "`se`"),
    (lambda: normal(np.inf, 1.0), "`mean`"),
])
def test_distribution_bad_inputs(call, match):
    with pytest.raises(DataError, match=match):
        call()


def test_asymmetric_interval_warns_and_bad_draw_count():
    with pytest.warns(SosstatsWarning, match="not symmetric"):
        lognormal_ratio(0.8, 0.75, 1.5)
    with pytest.raises(DesignError, match="`n`"):
        gamma_cost(1.0, 1.0).draws(0)


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "npv"}, "`model` must be callable"),
    ({"inputs": {}}, "non-empty mapping"),
    ({"inputs": [("cost", 1.0)]}, "non-empty mapping"),
    ({"inputs": {"cost": np.ones(5), "p": np.ones(6), "value": 1.0}, "n": None}, "same length"),
    ({"inputs": {"cost": np.ones(5), "p": 0.3, "value": 1.0}, "n": 6}, "`n` = 6"),
    ({"inputs": {"cost": np.ones((5, 2)), "p": 0.3, "value": 1.0}}, "shape"),
    ({"inputs": {"cost": np.array([1.0, np.nan]), "p": 0.3, "value": 1.0}}, "cost"),
    ({"inputs": {"cost": "x", "p": 0.3, "value": 1.0}}, "cost"),
    ({"model": lambda cost, p, value: np.ones(3)}, "returned shape"),
    ({"model": lambda cost, p, value: cost / 0.0}, "non-finite"),
    ({"n": 0}, "`n`"),
    ({"level": 1.5}, "level"),
])
def test_psa_bad_inputs(kwargs, match):
    args = dict(model=_model, inputs={"cost": gamma_cost(100, 10), "p": 0.3, "value": 1.0},
                n=20, rng=0)
    args.update(kwargs)
    with np.errstate(divide="ignore"), pytest.raises((DataError, DesignError), match=match):
        psa(**args)


def test_inputs_untouched():
    x = np.arange(5.0)
    before = x.copy()
    res = psa(lambda a: a * 2, {"a": x})
    res.inputs.iloc[0, 0] = 99.0
    np.testing.assert_array_equal(x, before)
    assert isinstance(res.inputs, pd.DataFrame)
