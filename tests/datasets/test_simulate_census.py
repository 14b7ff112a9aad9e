"""``simulate_census``: census-shaped child-level data with a known multilevel logit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.datasets import Census, simulate_census
from sosstats.errors import DataError


@pytest.fixture(scope="module")
def census() -> Census:
    return simulate_census(5, n_children=40_000, n_workers=1_500, n_las=152, n_pilots=10)


def test_shape_and_columns(census):
    ch = census.children
    assert len(ch) == 40_000
    assert list(ch.columns) == ["child_id", "worker_id", "la_code", "pilot", "age_band",
                                "previous_referral", "rereferred"]
    assert ch["child_id"].is_unique
    assert ch["worker_id"].cat.categories.size == 1_500
    assert ch["la_code"].nunique() == 152
    assert set(ch["rereferred"].unique()) <= {0, 1}
    assert ch["rereferred"].dtype == np.int64 and ch["pilot"].dtype == bool
    assert list(ch["age_band"].cat.categories) == ["0-4", "5-9", "10-15", "16-17"]
    assert census.las["pilot"].sum() == 10
    assert census.workers["caseload"].sum() == 40_000


def test_workers_nested_in_las_and_every_la_has_one(census):
    ch = census.children
    per_worker = ch.groupby("worker_id", observed=True)["la_code"].nunique()
    assert (per_worker == 1).all()
    assert census.workers["la_code"].nunique() == 152
    # pilot is an LA attribute
    assert (ch.groupby("la_code", observed=True)["pilot"].nunique() == 1).all()


def test_default_size_is_the_national_shape():
    c = simulate_census(0, n_children=1000)  # full worker / LA counts, few children
    assert c.workers.shape[0] == 20_000 and c.las.shape[0] == 152
    assert c.sizes == {"n_children": 1000, "n_workers": 20_000, "n_las": 152, "n_pilots": 10}


def test_reproducible_and_seed_dependent():
    a = simulate_census(9, n_children=2000, n_workers=300, n_las=30, n_pilots=3)
    b = simulate_census(9, n_children=2000, n_workers=300, n_las=30, n_pilots=3)
    c = simulate_census(10, n_children=2000, n_workers=300, n_las=30, n_pilots=3)
    pd.testing.assert_frame_equal(a.children, b.children)
    assert not a.children["rereferred"].equals(c.children["rereferred"])


def test_truth_matches_the_data(census):
    """The outcome rates follow the truth: a plain logit on the rows recovers the fixed part."""
    t = census.truth
    ch = census.children
    assert t["formula"].startswith("rereferred ~")
    assert len(t["u_la"]) == 152 and len(t["u_worker"]) == 1_500
    assert t["u_la"].std() == pytest.approx(t["sigma_la"], rel=0.25)
    assert t["u_worker"].std() == pytest.approx(t["sigma_worker"], rel=0.1)
    # The previous-referral log odds ratio, conditional on the true random effects.
    eta_re = (t["u_la"].loc[ch["la_code"].astype(str)].to_numpy()
              + t["u_worker"].loc[ch["worker_id"].astype(str)].to_numpy())
    y = ch["rereferred"].to_numpy()
    prev = ch["previous_referral"].to_numpy()
    young = (ch["age_band"] == "0-4").to_numpy() & ~ch["pilot"].to_numpy()
    from scipy.optimize import minimize_scalar
    from scipy.special import expit

    def nll(g, a):
        p = expit(a + g * prev[young] + eta_re[young])
        return -np.sum(y[young] * np.log(p) + (1 - y[young]) * np.log1p(-p))

    a_hat = minimize_scalar(lambda a: nll(t["previous_referral"], a), bounds=(-4, 2),
                            method="bounded").x
    assert a_hat == pytest.approx(t["intercept"], abs=0.1)
    g_hat = minimize_scalar(lambda g: nll(g, t["intercept"]), bounds=(-2, 3),
                            method="bounded").x
    assert g_hat == pytest.approx(t["previous_referral"], abs=0.1)


def test_pilot_effect_changes_outcomes():
    null = simulate_census(4, n_children=60_000, n_workers=1000, pilot_effect=0.0,
                           sigma_la=0.0, sigma_worker=0.0)
    big = simulate_census(4, n_children=60_000, n_workers=1000, pilot_effect=-1.0,
                          sigma_la=0.0, sigma_worker=0.0)
    gap = [c.children.groupby("pilot")["rereferred"].mean() for c in (null, big)]
    assert abs(gap[0][True] - gap[0][False]) < 0.03
    assert gap[1][False] - gap[1][True] > 0.1


@pytest.mark.parametrize("kwargs, word", [
    ({"n_children": 0}, "n_children"),
    ({"n_workers": 10}, "n_workers"),
    ({"n_pilots": 152}, "n_pilots"),
    ({"sigma_la": -1.0}, "sigma_la"),
    ({"sigma_worker": float("nan")}, "sigma_worker"),
    ({"age_effects": (0.1,)}, "age_effects"),
    ({"rng": "x"}, "rng"),
])
def test_bad_input(kwargs, word):
    with pytest.raises(DataError, match=word):
        simulate_census(**({"rng": 0, "n_children": 100} | kwargs))
