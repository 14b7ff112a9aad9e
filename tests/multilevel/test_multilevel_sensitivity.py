"""Tests of prior_sensitivity and scale_priors.

Prior rescaling and input checks need no sampling; one small fit on a 10-pilot data set (2
chains x 400 draws; ``pilot_model`` / ``pilot_fit`` of conftest.py, shared with the comparison
tests) serves the power-scaling tests and one cheap refit; the full three-scale
refit runs in a slow test.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pymc")
pytest.importorskip("arviz")

from sosstats.errors import DataError, SosstatsWarning  # noqa: E402
from sosstats.multilevel import MultilevelModel, Prior  # noqa: E402
from sosstats.multilevel.prior_scaling import prior_logpdf  # noqa: E402
from sosstats.multilevel.sensitivity import (  # noqa: E402
    PriorSensitivity,
    _parameters,
    prior_sensitivity,
    scale_priors,
)

@pytest.fixture(scope="module")
def model(pilot_model):
    return pilot_model


@pytest.fixture(scope="module")
def base_fit(pilot_fit):
    return pilot_fit


def test_scale_priors_changes_the_numbers_as_intended(model):
    base = model.priors
    doubled = scale_priors(base, 2.0)
    for name in base.names():
        old, new = base[name], doubled[name]
        assert new.dist == old.dist
        if old.dist == "exponential":
            assert new.params["lam"] == pytest.approx(old.params["lam"] / 2)
        else:
            assert new.params["sigma"] == pytest.approx(2 * old.params["sigma"])
        if "mu" in old.params:
            assert new.params["mu"] == old.params["mu"]
    sd_y = np.std(model.design.rows.y)
    assert doubled["sigma_pilot"].params["sigma"] == pytest.approx(2 * sd_y)
    assert doubled["sigma"].params["lam"] == pytest.approx(1 / (2 * sd_y))
    only = scale_priors(base, 0.5, ["sigma_pilot", "x"])
    assert only["sigma_pilot"].params["sigma"] == pytest.approx(0.5 * sd_y)
    assert only["beta[x]"].params["sigma"] == pytest.approx(0.5 * base["beta[x]"].params["sigma"])
    assert only["beta[expg]"] == base["beta[expg]"] and only["Intercept"] == base["Intercept"]
    coefs = scale_priors(base, 3.0, "beta")
    assert coefs["beta[expg]"].params["sigma"] == pytest.approx(
        3 * base["beta[expg]"].params["sigma"])
    assert coefs["sigma_pilot"] == base["sigma_pilot"]
    assert doubled.to_frame()["role"].equals(base.to_frame()["role"])
    assert model.priors["sigma_pilot"].params["sigma"] == pytest.approx(sd_y)  # unchanged
    studentt = Prior("studentt", {"nu": 4.0, "mu": 1.0, "sigma": 2.0}).scaled(0.5)
    assert studentt.params == {"nu": 4.0, "mu": 1.0, "sigma": 1.0}


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.05, 20), b=st.floats(0.05, 20))
def test_scaling_composes_multiplicatively(model, a, b):
    base = model.priors
    twice, once = scale_priors(scale_priors(base, a), b), scale_priors(base, a * b)
    for name in base.names():
        for key, value in once[name].params.items():
            assert twice[name].params[key] == pytest.approx(value, rel=1e-9)
    same = scale_priors(base, 1.0)
    assert all(same[n] == base[n] for n in base.names())


def test_logpdf_matches_pymc():
    import pymc as pm

    x = np.array([0.3, 1.7, 4.0])
    cases = [(Prior("normal", {"mu": 1.0, "sigma": 2.0}), pm.Normal.dist(mu=1.0, sigma=2.0)),
             (Prior("studentt", {"nu": 3.0, "mu": 0.5, "sigma": 1.5}),
              pm.StudentT.dist(nu=3.0, mu=0.5, sigma=1.5)),
             (Prior("halfnormal", {"sigma": 1.3}), pm.HalfNormal.dist(sigma=1.3)),
             (Prior("exponential", {"lam": 0.7}), pm.Exponential.dist(lam=0.7)),
             (Prior("halfstudentt", {"nu": 5.0, "sigma": 0.8}),
              pm.HalfStudentT.dist(nu=5.0, sigma=0.8)),
             (Prior("halfcauchy", {"beta": 2.5}), pm.HalfCauchy.dist(beta=2.5))]
    for prior, dist in cases:
        ref = pm.logp(dist, x).eval()
        assert prior_logpdf(prior, x) == pytest.approx(ref, rel=1e-6), prior.dist


def test_default_parameters_and_their_levels(model):
    params = _parameters(model.design, None)
    assert params == {"sigma_pilot": "pilot", "x": "row", "expg": "pilot", "sigma": "row"}
    assert _parameters(model.design, ["beta[x]", "Intercept"]) == {"x": "row",
                                                                   "Intercept": "pilot"}


def test_bad_inputs(model):
    for scales in [(0, 1, 2), (-0.5, 2), (1, float("nan")), (), ("a", 1), (np.inf,)]:
        with pytest.raises(DataError, match="`scales`"):
            prior_sensitivity(model, scales=scales)
    with pytest.raises(DataError, match="`parameters` names 'sigma_worker'.*sigma_pilot"):
        prior_sensitivity(model, parameters=["sigma_worker"])
    with pytest.raises(DataError, match="`priors` names 'cohort'.*beta\\[x\\]"):
        prior_sensitivity(model, priors="cohort")
    with pytest.raises(DataError, match="`method`"):
        prior_sensitivity(model, method="laplace")
    with pytest.raises(DataError, match="`threshold`"):
        prior_sensitivity(model, threshold=0)
    with pytest.raises(DataError, match="`model` must be a MultilevelModel"):
        prior_sensitivity("y ~ x")
    with pytest.raises(DataError, match="`base` must be a MultilevelResult"):
        prior_sensitivity(model, base="fit")
    with pytest.raises(DataError, match="`factor`"):
        scale_priors(model.priors, 0.0)
    with pytest.raises(DataError, match="`factor`"):
        scale_priors(model.priors, -2)
    with pytest.raises(DataError, match="no prior in this model"):
        scale_priors(model.priors, 2.0, ["sigma_worker"])


def test_power_scaling_pilot_sd_more_sensitive_than_fixed_effect(model, base_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = prior_sensitivity(model, scales=(0.25, 4), method="power", base=base_fit)
    assert isinstance(sens, PriorSensitivity) and sens.scales == (0.25, 1.0, 4.0)
    shifts = sens.shifts
    assert list(shifts.index) == ["sigma_pilot", "x", "expg", "sigma"]
    assert shifts.loc["sigma_pilot", "max_abs_shift"] > 2 * shifts.loc["x", "max_abs_shift"]
    assert shifts.loc["sigma_pilot", "shift_x0.25"] < 0  # a tighter prior pulls the sd down
    assert shifts.loc["x", "max_abs_shift"] < 0.25
    base_rows = sens.table.xs(1.0, level="scale")
    assert (base_rows["shift"] == 0).all() and base_rows["pareto_k"].isna().all()
    # scale 1 summaries are the plain posterior summaries of the fit
    post = base_fit.idata.posterior["sigma_pilot"].values.reshape(-1)
    assert base_rows.loc["sigma_pilot", "mean"] == pytest.approx(post.mean())
    assert base_rows.loc["sigma_pilot", "upper"] == pytest.approx(np.quantile(post, 0.975))
    k = sens.table.xs(4.0, level="scale")["pareto_k"]
    assert np.isfinite(k).all() and (k == k.iloc[0]).all()
    assert sens.results == {1.0: base_fit}
    assert sens.priors[4.0]["sigma_pilot"].params["sigma"] == pytest.approx(
        4 * model.priors["sigma_pilot"].params["sigma"])
    text = str(sens)
    assert "Prior sensitivity" in text and "Pareto k" in text and "power" in text


def test_sensitivity_is_a_table_result(model, base_fit):
    import json

    from sosstats._results import TableResult
    from sosstats.errors import DesignError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = prior_sensitivity(model, scales=(0.5, 2), method="power", base=base_fit)
    assert isinstance(sens, TableResult)
    assert "__str__" not in PriorSensitivity.__dict__  # the base's, from the one table
    tidy = sens.tidy()
    assert tidy.columns[0] == "parameter" and "note" not in tidy.columns
    assert list(tidy["parameter"]) == list(sens.shifts.index)
    assert tidy.set_index("parameter").equals(sens.summary().to_frame())
    assert sens.tidy(level=0.95).equals(tidy)
    with pytest.raises(DesignError, match="level 0.95"):
        sens.tidy(level=0.9)  # the intervals were computed at 0.95
    json.dumps(sens.to_dict())
    assert str(sens) == str(sens.summary()) and repr(sens) == str(sens)


def test_power_scaling_flags_and_plot(model, base_fit):
    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = prior_sensitivity(model, scales=(0.1, 10), method="power", base=base_fit,
                                 parameters=["sigma_pilot", "x"], priors="sigma_pilot",
                                 threshold=0.2)
    assert sens.scaled == ("sigma_pilot",)
    assert sens.priors[0.1]["beta[x]"] == model.priors["beta[x]"]
    flagged = sens.shifts["flag"]
    assert flagged.loc["sigma_pilot"] and sens.flagged[0] == "sigma_pilot"
    assert sens.shifts.loc["sigma_pilot", "note"] == "pilot-level conclusion depends on the prior"
    assert sens.plot().has_data()


def test_power_scaling_warns_on_large_pareto_k(model, base_fit):
    with pytest.warns(SosstatsWarning, match="prior scale x0.01 are unreliable"):
        sens = prior_sensitivity(model, scales=(0.01,), method="power", base=base_fit)
    assert sens.table.xs(0.01, level="scale")["pareto_k"].iloc[0] > 0.7


def test_refit_uses_scaled_priors(model, base_fit, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sens = prior_sensitivity(model, scales=(3,), base=base_fit, progress=True,
                                 draws=200, tune=200, chains=2, rng=1)
    refit = sens.results[3.0]
    assert sens.results[1.0] is base_fit
    assert refit.priors["sigma_pilot"].params["sigma"] == pytest.approx(
        3 * model.priors["sigma_pilot"].params["sigma"])
    assert refit.priors["sigma"].params["lam"] == pytest.approx(
        model.priors["sigma"].params["lam"] / 3)
    assert model.priors["sigma_pilot"] == base_fit.priors["sigma_pilot"]  # model untouched
    assert sens.table.loc[("x", 3.0), "mean"] == pytest.approx(refit.params["x"])
    assert sens.table["pareto_k"].isna().all()
    assert "prior sensitivity: refits: 1/1" in capsys.readouterr().err
    ours = [str(w.message) for w in caught if issubclass(w.category, SosstatsWarning)]
    assert len(ours) <= 1 and all("prior scale x3: " in m for m in ours)


def test_refit_warnings_are_shown_once_per_call(model, base_fit):
    # two short refits, each failing the ESS check: one warning for the call, naming both
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prior_sensitivity(model, scales=(0.5, 3), base=base_fit, draws=60, tune=100,
                          chains=2, rng=1)
    ours = [str(w.message) for w in caught if issubclass(w.category, SosstatsWarning)]
    assert len(ours) == 1, ours
    assert "prior scale x0.5: " in ours[0] and "prior scale x3: " in ours[0]
    assert "effective sample size" in ours[0]
    others = [(w.category, str(w.message)) for w in caught
              if not issubclass(w.category, SosstatsWarning)]
    assert len(others) == len(set(others))  # other warnings of the refits: once each too
    # power-scaling: one Pareto k warning for every unreliable factor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prior_sensitivity(model, scales=(0.01, 0.02), method="power", base=base_fit)
    ours = [str(w.message) for w in caught if issubclass(w.category, SosstatsWarning)]
    assert len(ours) == 1 and "scales x0.01, x0.02 are unreliable" in ours[0], ours


@pytest.mark.slow
def test_refit_pilot_sd_more_sensitive_than_fixed_effect(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = prior_sensitivity(model, scales=(0.2, 1, 5), draws=500, tune=500, chains=2,
                                 rng=7)
        power = prior_sensitivity(model, scales=(0.5, 2), method="power",
                                  base=sens.results[1.0])
    shifts = sens.shifts
    assert shifts.loc["sigma_pilot", "max_abs_shift"] > 2 * shifts.loc["x", "max_abs_shift"]
    assert shifts.loc["sigma_pilot", "shift_x0.2"] < 0
    for c in (0.2, 1.0, 5.0):
        assert sens.results[c].priors["sigma_pilot"].params["sigma"] == pytest.approx(
            c * model.priors["sigma_pilot"].params["sigma"])
    # importance weighting of the base draws agrees with refitting at the factor 0.2 run's
    # direction and, for the fixed effect, stays within Monte Carlo noise of zero
    assert power.shifts.loc["sigma_pilot", "shift_x0.5"] < 0
    assert abs(power.shifts.loc["x", "shift_x0.5"]) < 0.3
