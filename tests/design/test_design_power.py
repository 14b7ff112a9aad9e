"""power_curve and minimum_detectable_effect.

Against the analytic power and MDE of t tests (statsmodels TTestIndPower), monotonicity, seeds
per grid point, methods, plots, bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower

from sosstats.design.designs import two_arm
from sosstats.design.power import (
    MDEResult,
    PowerCurveResult,
    combine_estimators,
    minimum_detectable_effect,
    power_curve,
)
from sosstats.errors import DataError, DesignError

N = 400


@pytest.fixture(scope="module")
def curve() -> PowerCurveResult:
    return power_curve(two_arm, None, {"effect": [0.0, 0.3, 0.6, 0.9], "n_clusters": [10, 25]},
                       N, rng=2017)


def test_power_matches_the_analytic_t_test_power_within_mcse(curve):
    tab = curve.tidy()
    assert len(tab) == 8 and (tab["n_ok"] == N).all() and (tab["n_failed"] == 0).all()
    z = []
    for row in tab.itertuples():
        exact = (TTestIndPower().power(row.effect, row.n_clusters, 0.05) if row.effect
                 else 0.05)
        mcse = math.sqrt(exact * (1 - exact) / N)      # MCSE at the true power
        z.append((row.power - exact) / mcse)
        assert math.isclose(row.power_mcse, math.sqrt(row.power * (1 - row.power) / N))
    # each within 3.5 MCSE; and jointly: sum of squares ~ chi2(8), 0.999 quantile 26.1
    assert max(map(abs, z)) < 3.5, z
    assert sum(v * v for v in z) < 26.1, z


def test_power_rises_with_effect_and_clusters(curve):
    tab = curve.tidy()
    for _, part in tab.groupby("n_clusters"):
        p = part.sort_values("effect")["power"].to_numpy()
        assert (np.diff(p) > 0).all(), p
    wide = tab.pivot(index="effect", columns="n_clusters", values="power")
    assert (wide.loc[[0.3, 0.6, 0.9], 25] > wide.loc[[0.3, 0.6, 0.9], 10]).all()


def test_table_columns_bands_and_results(curve):
    tab = curve.tidy()
    assert list(tab.columns[:3]) == ["effect", "n_clusters", "term"]
    for col in ("power", "power_mcse", "power_lower", "power_upper", "coverage", "bias"):
        assert col in tab.columns
    assert ((tab["power_lower"] <= tab["power"]) & (tab["power"] <= tab["power_upper"])).all()
    assert len(curve.results) == 8 and curve.results[3].n_replicates == N
    assert f"PowerCurveResult: 8 designs x {N} replicates" in str(curve)


def test_a_grid_point_does_not_depend_on_the_other_points():
    one = power_curve(two_arm, None, {"effect": [0.5]}, 50, rng=3)
    two = power_curve(two_arm, None, {"effect": [0.5, 2.0]}, 50, rng=3)
    r1, r2 = one.results[0].replicates, two.results[0].replicates
    pd.testing.assert_frame_equal(r1, r2)
    assert not two.results[1].replicates["estimate"].equals(r1["estimate"])
    # a DataFrame grid runs the same designs as the dict of lists
    frame = power_curve(two_arm, None, pd.DataFrame({"effect": [0.5, 2.0]}), 50, rng=3)
    pd.testing.assert_frame_equal(frame.tidy(), two.tidy())
    again = power_curve(two_arm, None, {"effect": [0.5, 2.0]}, 50, rng=3)
    pd.testing.assert_frame_equal(again.tidy(), two.tidy())


def test_cluster_randomised_power_with_icc_matches_the_design_effect():
    design = two_arm(8, 10, effect=0.5, icc=0.1)
    res = power_curve(two_arm, None, pd.DataFrame({"n_clusters": [8], "cluster_size": [10],
                                                   "effect": [0.5], "icc": [0.1]}), 500,
                      rng=5)
    p = res.tidy()["power"].iloc[0]
    exact = design.analytic_power()
    assert abs(p - exact) < 3.5 * math.sqrt(exact * (1 - exact) / 500), (p, exact)
    # ignoring the clustering (an individual t test on 80 per arm) would promise far more
    naive = TTestIndPower().power(0.5, 80, 0.05)
    assert naive - exact > 0.25, (naive, exact)


def test_mde_is_near_the_analytic_mde():
    analytic = TTestIndPower().solve_power(nobs1=20, alpha=0.05, power=0.8)   # 0.909
    res = minimum_detectable_effect(two_arm, effects=[0.75, 0.85, 0.95, 1.05],
                                    fixed={"n_clusters": 20}, n_replicates=N, rng=11)
    assert isinstance(res, MDEResult)
    row = res.tidy().iloc[0]
    assert row["note"] == ""
    # within 4 MCSE plus the linear-interpolation error (below 0.005 at this spacing)
    assert abs(row["mde"] - analytic) < 4 * row["mde_mcse"] + 0.005, (row["mde"], analytic)
    assert row["mde_lower"] < row["mde"] < row["mde_upper"]
    assert row["effect_below"] < row["mde"] <= row["effect_above"]
    assert row["power_below"] < 0.8 <= row["power_above"]
    assert 0 < row["mde_mcse"] < 0.05
    assert math.isclose(res.mde, row["mde"])


def test_mde_of_negative_effects_and_from_a_curve(curve):
    neg = minimum_detectable_effect(two_arm, effects=[-0.5, -1.0, -1.5],
                                    fixed={"n_clusters": 10}, n_replicates=100, rng=1)
    assert -1.5 < neg.mde < -0.5
    m = curve.minimum_detectable_effect(0.3)
    assert list(m.tidy()["n_clusters"]) == [10, 25]
    assert m.tidy().set_index("n_clusters").loc[25, "mde"] < m.tidy().set_index(
        "n_clusters").loc[10, "mde"]
    assert minimum_detectable_effect(curve, target=0.3).tidy().equals(m.tidy())
    high = curve.minimum_detectable_effect(0.999).tidy().set_index("n_clusters")
    assert np.isnan(high.loc[10, "mde"]) and "simulate larger effects" in high.loc[10, "note"]
    low = minimum_detectable_effect(two_arm, effects=[3.0, 4.0], n_replicates=50, rng=1)
    assert np.isnan(low.mde) and "simulate smaller effects" in low.tidy()["note"].iloc[0]


def test_mde_by_bisection():
    analytic = TTestIndPower().solve_power(nobs1=20, alpha=0.05, power=0.8)
    res = minimum_detectable_effect(two_arm, bracket=(0.3, 1.5), method="bisect",
                                    fixed={"n_clusters": 20}, n_replicates=250,
                                    max_evaluations=5, rng=4)
    grid = res.curve.grid["effect"].tolist()
    assert grid[:3] == [0.3, 1.5, 0.9] and len(grid) == 5
    assert abs(res.mde - analytic) < 0.12
    assert "bisection" in res.method


def test_several_estimators_on_the_same_replicates():
    est = two_arm().estimator()

    def shifted(data):
        return est(data.assign(y=data["y"] + 1.5 * data["arm"]))

    res = power_curve(two_arm, {"t": est, "shifted": shifted}, {"effect": [0.0]}, 100, rng=9)
    tab = res.tidy()
    assert list(tab["method"]) == ["t", "shifted"] and list(tab["term"]) == ["effect"] * 2
    assert tab["power"].iloc[0] < 0.15 and tab["power"].iloc[1] > 0.95
    assert tab["truth"].tolist() == [0.0, 0.0] and tab["coverage"].iloc[0] > 0.85
    reps = res.results[0].replicates
    a = reps[reps["term"] == "t: effect"]["estimate"].to_numpy()
    b = reps[reps["term"] == "shifted: effect"]["estimate"].to_numpy()
    np.testing.assert_allclose(b - a, 1.5)              # the same data sets
    direct = power_curve(two_arm, combine_estimators({"t": est, "shifted": shifted}),
                         {"effect": [0.0]}, 100, rng=9, term="effect")
    pd.testing.assert_frame_equal(direct.tidy(), tab)
    with pytest.raises(DataError, match="non-empty dict"):
        combine_estimators({})


def test_plot_draws_one_line_per_other_factor(curve):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = curve.plot(target=0.8)
    assert ax.get_xlabel() == "effect"
    assert len(ax.containers) == 2                      # two error-bar lines (10, 25 clusters)
    ax2 = curve.plot("n_clusters")
    assert len(ax2.containers) == 4
    plt.close("all")
    with pytest.raises(DataError, match="`x` must be a grid column"):
        curve.plot("nope")


def test_process_pool_gives_the_same_curve():
    grid = {"effect": [0.4]}
    here = power_curve(two_arm, None, grid, 24, rng=8)
    pool = power_curve(two_arm, None, grid, 24, rng=8, n_jobs=2)
    pd.testing.assert_frame_equal(here.tidy(), pool.tidy())


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(grid={}), DataError, "`grid` is empty"),
    (dict(grid=[0.1, 0.2]), DataError, "`grid` must be a dict of lists"),
    (dict(grid={"effect": []}), DataError, "`grid\\['effect'\\]` is empty"),
    (dict(grid={"term": [1]}), DataError, "may not use the names"),
    (dict(grid={"effectt": [1]}), DataError, "does not accept the grid point"),
    (dict(grid={"effect": [1]}, term="slope"), DataError, "`term` \\['slope'\\] not reported"),
    (dict(grid={"effect": [1]}, n_replicates=0), DesignError, "`n_replicates` must be at least 1"),
    (dict(grid={"n_clusters": [1]}), DesignError, "`n_clusters` must be at least 2"),
    (dict(grid={"effect": [1]}, estimator=3), DataError, "`estimator` must be a callable"),
    (dict(grid=None), DataError, "`grid` is required"),
])
def test_power_curve_bad_input(kwargs, error, text):
    args = dict(design_factory=two_arm, estimator=None, n_replicates=5, rng=1) | kwargs
    with pytest.raises(error, match=text):
        power_curve(**args)


def test_power_curve_rejects_a_factory_that_is_not_callable():
    with pytest.raises(DataError, match="`design_factory` must be a callable"):
        power_curve("two_arm", None, {"effect": [1]}, 5)


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(effects=[0.5]), DataError, "at least two effects"),
    (dict(effects=[0.5, 1], target=1.2), DataError, "`target` must be a power"),
    (dict(effects=[0.5, 1], method="newton"), DataError, "`method` must be one of"),
    (dict(effects=[0.5, 1], fixed={"effect": 1}), DataError, "must not hold the effect"),
    (dict(method="bisect"), DataError, "`bracket` must be"),
    (dict(method="bisect", bracket=(-1, 1)), DataError, "same sign"),
    (dict(method="bisect", bracket=(1.5, 2.0)), DesignError, "does not bracket power"),
])
def test_mde_bad_input(kwargs, error, text):
    with pytest.raises(error, match=text):
        minimum_detectable_effect(two_arm, n_replicates=20, rng=1, **kwargs)


@pytest.mark.slow
def test_study_2017_size_of_cr1_cr2_and_wild_with_ten_pilots():
    """docs/panel.md: CR1's 95% intervals cover 81-83% with ten pilots, CR2's about 95%."""
    from sosstats.design.designs import study_2017

    design = study_2017(structure="fixed")
    methods = {k: design.estimator(k) for k in ("cr1", "cr2", "wild")}
    res = power_curve(study_2017, methods, {"structure": ["fixed"]}, 1000,
                      term="C(experience)[T.2 years plus]", rng=2017)
    tab = res.tidy().set_index("method")
    assert (tab["n_failed"] == 0).all()
    # CR1 over-rejects a true null by far more than Monte Carlo error; CR2 is near nominal
    assert tab.loc["cr1", "power"] > 0.05 + 4 * tab.loc["cr1", "power_mcse"], tab
    assert tab.loc["cr1", "coverage"] < 0.9, tab
    assert abs(tab.loc["cr2", "power"] - 0.05) < 3.5 * math.sqrt(0.05 * 0.95 / 1000), tab
    assert abs(tab.loc["cr2", "coverage"] - 0.95) < 3.5 * math.sqrt(0.05 * 0.95 / 1000), tab
    assert tab.loc["wild", "power"] < tab.loc["cr1", "power"]


def test_power_curve_and_study_2017_on_a_dask_cluster_equal_in_process():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from sosstats.design import simulate_study
    from sosstats.design.designs import study_2017

    study = study_2017(structure="fixed")
    here_curve = power_curve(two_arm, None, {"effect": [0.4, 0.8]}, 30, rng=8)
    here_study = simulate_study(study, study.estimator("cr2"), 6, rng=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        dask_curve = power_curve(two_arm, None, {"effect": [0.4, 0.8]}, 30, rng=8,
                                 client=client)
        dask_study = simulate_study(study, study.estimator("cr2"), 6, rng=1, client=client)
    pd.testing.assert_frame_equal(dask_curve.tidy(), here_curve.tidy())
    pd.testing.assert_frame_equal(dask_study.replicates, here_study.replicates)
    assert dask_study.settings["backend"] == "dask"
