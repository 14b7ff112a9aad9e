"""Weighting results: public homes of the public names, and the one result protocol."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sosstats.weighting as weighting
from sosstats._results import Result, TableResult
from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError


@pytest.mark.parametrize("module, names", [
    ("sosstats.weighting.effect", ["WeightingEffect", "weighting_effect"]),
    ("sosstats.weighting.tipping", ["TippingPoint", "tipping_point"]),
    ("sosstats.weighting.rubin", ["PooledResult", "pool", "pool_estimates"]),
])
def test_public_names_live_in_public_modules(module, names):
    mod = importlib.import_module(module)
    for name in names:
        obj = getattr(mod, name)
        assert obj is getattr(weighting, name)          # from sosstats.weighting import X
        assert obj.__module__ == module
        assert name in mod.__all__


def test_no_public_weighting_name_is_defined_in_a_private_module():
    for name in weighting.__all__:
        obj = getattr(weighting, name)
        home = getattr(obj, "__module__", "sosstats.weighting")
        assert not any(part.startswith("_") for part in home.split(".")), (name, home)


# ------------------------------------------------------------------ one result protocol

@pytest.fixture(scope="module")
def fam():
    return simulate_evaluation(rng=3, n_families=600).families


def _fits(fam, level):
    return {
        "rates": weighting.response_rates(fam, "responded_t2", by=["cohort", "agency_worker"],
                                          level=level),
        "manski": weighting.manski_bounds(fam, "knows_goals_t2", "responded_t2",
                                          group="cohort", level=level),
        "lee": weighting.lee_bounds(fam, "sdq_t2", "cohort", "responded_t2", level=level),
        "tipping": weighting.tipping_point(fam, "sdq_t2", "responded_t2", group="cohort",
                                           estimand="difference", level=level),
    }


def test_table_results_recompute_intervals_at_another_level(fam):
    at95, at90 = _fits(fam, 0.95), _fits(fam, 0.90)
    for name, res in at95.items():
        assert isinstance(res, TableResult), name
        got = res.tidy(level=0.90)
        want = at90[name].tidy()
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
        assert not np.allclose(res.tidy()["ci_lower"], got["ci_lower"]), name
        pd.testing.assert_frame_equal(res.summary(level=0.9).to_frame().reset_index(), want,
                                      check_exact=False, rtol=1e-12)


def test_table_results_share_the_protocol(fam):
    fits = _fits(fam, 0.95)
    fits["nonresponse"] = weighting.nonresponse_tests(
        fam, "responded_t2", ["agency_worker", "sdq_t1", "referral_reason"])
    for name, res in fits.items():
        assert isinstance(res, TableResult), name
        assert type(res).__str__ is TableResult.__str__, name       # no own copy
        assert type(res).tidy is TableResult.tidy, name
        json.dumps(res.to_dict())
        assert str(res) == str(res.summary())
        assert res._repr_html_().startswith("<h4>")
        assert callable(res.plot)                                    # each has a picture
        with pytest.raises(DataError, match="level"):
            res.tidy(level=95)
        # the tidy table is the summary's table
        pd.testing.assert_frame_equal(res.tidy(), res.summary().to_frame().reset_index())


def test_tidy_keeps_the_old_columns(fam):
    fits = _fits(fam, 0.95)
    assert list(fits["rates"].tidy().columns) == ["variable", "level", "n", "respondents",
                                                  "rate", "ci_lower", "ci_upper"]
    assert fits["rates"].tidy().equals(fits["rates"].table)
    assert list(fits["manski"].tidy()["term"]) == ["1", "2", "difference"]
    assert list(fits["lee"].tidy()["term"]) == ["difference"]
    assert fits["tipping"].tidy().equals(fits["tipping"].table)


def test_nonresponse_tidy_is_the_table_with_the_tests_merged(fam):
    nr = weighting.nonresponse_tests(fam, "responded_t2", ["agency_worker", "sdq_t1",
                                                           "referral_reason"])
    t = nr.tidy()
    assert len(t) == len(nr.table)
    assert {"smd", "test", "statistic", "df", "p_value", "p_holm"} <= set(t.columns)
    by_cov = t.groupby("covariate", sort=False)["p_holm"].first()
    np.testing.assert_allclose(by_cov[nr.tests["covariate"]], nr.tests["p_holm"])
    assert nr.tidy(level=0.9).equals(t)                   # no intervals: level checked only
    assert nr.flagged(1.0) == list(nr.tests["covariate"]) and "statistic" in nr.overall
    assert nr.nobs == len(fam)


def test_estimate_results_have_no_plot_and_no_own_interval(fam):
    aw = weighting.attrition_weights(fam, responded="responded_t2",
                                     covariates=["agency_worker", "feelings_t1"])
    eff = weighting.weighting_effect(fam, "sdq_t2", aw, cluster="la_code")
    wm = weighting.weighted_mean(fam, "sdq_t2", weights=aw)
    pooled = weighting.pool_estimates(np.array([[1.0], [1.2], [0.9]]),
                                      np.array([[0.04], [0.05], [0.04]]))
    for res in (eff, wm, pooled):
        assert isinstance(res, Result)
        assert not hasattr(res, "plot")
    for res in (eff, pooled):
        assert "_interval" not in type(res).__dict__
        ci = res.conf_int(0.9)
        est = res._estimates()
        q = stats.t.ppf(0.95, est["df"])
        np.testing.assert_allclose(ci["upper"], est["estimate"] + q * est["std_error"])
