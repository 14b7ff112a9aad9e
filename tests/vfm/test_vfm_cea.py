"""cea(): point arithmetic, bootstrap conventions, clusters, weights, warnings and bad input."""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.vfm import cea
from sosstats.vfm.cea import FEW_CLUSTERS

matplotlib.use("Agg")


def _trial(n=(60, 80), seed=0, gain=0.1, extra=300.0, scale=1.0):
    rng = np.random.default_rng(seed)
    arm = np.repeat(["control", "sos"], n)
    rng.shuffle(arm)
    sos = arm == "sos"
    return pd.DataFrame({"arm": arm,
                         "cost": rng.gamma(2.0, 500.0, arm.size) * np.where(sos, scale, 1.0)
                         + extra * sos,
                         "effect": rng.normal(0.5, 0.3, arm.size) + gain * sos,
                         "worker": [f"w{k}" for k in rng.integers(0, 12, arm.size)]})


def test_point_arithmetic_closed_form():
    df = pd.DataFrame({"g": ["a", "a", "b", "b", "b"], "c": [100.0, 300, 400, 500, 600],
                       "e": [1.0, 2, 2, 3, 4]})
    res = cea(df, cost="c", effect="e", group="g", n_resamples=20, rng=0, wtp=[0, 100, 1000])
    inc = res.increments.loc["b"]
    assert inc["delta_cost"] == pytest.approx(500 - 200)
    assert inc["delta_effect"] == pytest.approx(3 - 1.5)
    assert inc["icer"] == pytest.approx(300 / 1.5)
    assert inc["quadrant"] == "NE"
    nmb = res.nmb().set_index(["wtp", "option"])
    assert nmb.loc[(100.0, "b"), "nmb"] == pytest.approx(100 * 3 - 500)
    assert nmb.loc[(1000.0, "b"), "incremental_nmb"] == pytest.approx(1000 * 1.5 - 300)
    assert np.isnan(nmb.loc[(1000.0, "a"), "ci_lower"])
    assert res.params["icer[b vs a]"] == pytest.approx(200.0)
    assert res.params["cost[a]"] == pytest.approx(200.0)


def test_weighted_ratio_means():
    df = pd.DataFrame({"g": ["a", "a", "a", "b", "b"], "c": [100.0, 300, 50, 400, 600],
                       "e": [1.0, 2, 9, 2, 4], "w": [1.0, 3.0, 0.0, 2.0, 2.0]})
    res = cea(df, cost="c", effect="e", group="g", weights="w", n_resamples=20, rng=0)
    assert res.means.loc["a", "cost"] == pytest.approx((100 + 900) / 4)
    assert res.means.loc["a", "effect"] == pytest.approx((1 + 6) / 4)
    assert res.n_dropped == 1 and res.nobs == 4
    assert res.means.loc["a", "n_units"] == 2


def test_icer_interval_equals_scipy_percentile():
    df = _trial(gain=0.4)
    res = cea(df, cost="cost", effect="effect", group="arm", n_resamples=400, rng=3,
              wtp=[0.0, 20_000.0])
    i0 = np.flatnonzero(df["arm"] == "control")
    i1 = np.flatnonzero(df["arm"] == "sos")
    c, e = df["cost"].to_numpy(), df["effect"].to_numpy()

    def stat(a, b, axis=-1):
        return ((c[i1][b].mean(axis) - c[i0][a].mean(axis))
                / (e[i1][b].mean(axis) - e[i0][a].mean(axis)))

    ref = stats.bootstrap((np.arange(i0.size), np.arange(i1.size)), stat, n_resamples=400,
                          method="percentile", rng=np.random.default_rng(3), vectorized=True)
    ci = res.conf_int().loc["icer[sos vs control]"]
    assert res.increments.loc["sos", "share_NE"] + res.increments.loc["sos", "share_SE"] == 1
    # other draws than scipy's (the kernel's fast draws; with draws="scipy" the kernel equals
    # scipy to rounding, tests/_kernels/test_bootstrap_cea.py): equal up to Monte Carlo error
    width = ref.confidence_interval.high - ref.confidence_interval.low
    np.testing.assert_allclose(ci, [ref.confidence_interval.low, ref.confidence_interval.high],
                               atol=0.15 * width)
    np.testing.assert_allclose(res.replicates[("cost", "sos")] - res.replicates[("cost",
                                                                                 "control")],
                               res._reps.d_cost[:, 1])


def test_ceac_at_zero_is_share_with_lower_cost_and_rows_sum_to_one():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"g": rng.choice(["x", "y", "z"], 150), "c": rng.gamma(2, 100, 150),
                       "e": rng.normal(0, 1, 150)})
    res = cea(df, cost="c", effect="e", group="g", n_resamples=300, rng=1)
    reps = res.replicates["cost"].to_numpy()
    cheapest = reps.argmin(axis=1)
    np.testing.assert_allclose(res.ceac.iloc[0], [(cheapest == j).mean() for j in range(3)])
    np.testing.assert_allclose(res.ceac.sum(axis=1), 1.0)
    two = cea(df[df.g != "z"], cost="c", effect="e", group="g", n_resamples=300, rng=1)
    assert two.ceac.loc[0.0, "y"] == pytest.approx((two._reps.d_cost[:, 1] < 0).mean())
    assert (res.evpi >= 0).all()
    front = res.ceaf
    assert front["probability"].between(0, 1).all()
    assert set(front["option"]) <= {"x", "y", "z"}


def test_cluster_bootstrap_equals_unit_bootstrap_for_singletons():
    df = _trial(n=(20, 25))
    df["id"] = np.arange(len(df))
    a = cea(df, cost="cost", effect="effect", group="arm", n_resamples=200, rng=9)
    b = cea(df, cost="cost", effect="effect", group="arm", cluster="id", n_resamples=200, rng=9)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)
    pd.testing.assert_frame_equal(a.ceac, b.ceac)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())


def test_cluster_bootstrap_equals_cluster_loop():
    df = _trial(n=(40, 50), seed=5)
    df["worker"] = df["arm"] + "-" + df["worker"]
    with pytest.warns(SosstatsWarning, match="few clusters"):   # 12 workers per arm
        res = cea(df, cost="cost", effect="effect", group="arm", cluster="worker",
                  n_resamples=50, rng=2)
    rng = np.random.default_rng(2)
    expected = np.empty((50, 2))
    for j, arm in enumerate(["control", "sos"]):
        sub = df[df.arm == arm]
        workers = list(pd.unique(sub["worker"]))  # order of first appearance
        sums = sub.groupby("worker")["cost"].agg(["sum", "size"]).loc[workers].to_numpy()
        n_g = len(workers)  # the kernel's documented draws (one block: 50 * 12 < 262,144)
        raw = rng.bit_generator.random_raw(-(-50 * n_g // 4)).astype("<u8")
        x = raw.view("<u2")[: 50 * n_g].reshape(50, n_g)
        idx = (x % n_g).astype(np.intp)
        redo = x >= n_g * (65_536 // n_g)
        if redo.any():
            idx[redo] = rng.integers(0, n_g, size=redo.sum(), dtype=np.uint16)
        for b in range(50):
            pick = sums[idx[b]]
            expected[b, j] = pick[:, 0].sum() / pick[:, 1].sum()
    np.testing.assert_allclose(res.replicates["cost"].to_numpy(), expected, rtol=1e-12)
    assert list(res.means["n_clusters"]) == [df[df.arm == a].worker.nunique()
                                             for a in ("control", "sos")]


def test_bootstrap_se_recovers_analytic_se():
    df = _trial(n=(300, 300), seed=11)
    res = cea(df, cost="cost", effect="effect", group="arm", n_resamples=2000, rng=0, wtp=[0.0])
    by = df.groupby("arm")["cost"]
    se = np.sqrt((by.var(ddof=0) / by.size()).sum())
    assert res.std_errors["delta_cost[sos vs control]"] == pytest.approx(se, rel=0.08)


def test_effects_all_equal_icer_undefined_with_warning():
    df = _trial()
    df["effect"] = 1.0
    with pytest.warns(SosstatsWarning, match="ICER is undefined"):
        res = cea(df, cost="cost", effect="effect", group="arm", n_resamples=100, rng=0)
    assert np.isnan(res.icer["sos"])
    assert res.increments.loc["sos", "quadrant"] == "none"
    assert res.conf_int().loc["icer[sos vs control]"].isna().all()
    assert np.isnan(res._reps.icer).all()
    # the NMB and CEAC still answer: with no effect difference only cost matters at any WTP
    np.testing.assert_allclose(res.ceac["sos"], (res._reps.d_cost[:, 1] < 0).mean())
    assert "undefined" in str(res.summary())


def test_quadrants_dominant_and_dominated():
    cheap_better = _trial(gain=1.0, extra=0.0, scale=0.3)
    res = cea(cheap_better, cost="cost", effect="effect", group="arm", n_resamples=100, rng=0)
    assert res.increments.loc["sos", "quadrant"] == "SE"
    res2 = cea(cheap_better, cost="cost", effect="effect", group="arm", reference="sos",
               n_resamples=100, rng=0)
    assert res2.increments.loc["control", "quadrant"] == "NW"
    assert res2.options == ("sos", "control")


def test_row_order_does_not_change_point_estimates():
    df = _trial()
    a = cea(df, cost="cost", effect="effect", group="arm", n_resamples=50, rng=0)
    b = cea(df.sample(frac=1, random_state=1), cost="cost", effect="effect", group="arm",
            n_resamples=50, rng=0)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 2.0), st.floats(-250, 500))
def test_ceac_monotone_when_every_replicate_gains(seed, gain, extra):
    rng = np.random.default_rng(seed)
    n0, n1 = 6, 7
    df = pd.DataFrame({"g": ["a"] * n0 + ["b"] * n1,
                       "c": np.r_[rng.gamma(2, 100, n0), rng.gamma(2, 100, n1) + 250 + extra],
                       "e": np.r_[rng.uniform(0, 1, n0), rng.uniform(1, 2, n1) + gain]})
    res = cea(df, cost="c", effect="e", group="g", n_resamples=80, rng=seed)
    curve = res.ceac["b"].to_numpy()
    assert np.all(np.diff(curve) >= 0)
    assert curve[0] == pytest.approx((res._reps.d_cost[:, 1] < 0).mean())
    assert np.all(res.evpi.to_numpy() >= 0)
    flipped = cea(df, cost="c", effect="e", group="g", reference="b", n_resamples=80, rng=seed)
    assert np.all(np.diff(flipped.ceac["a"].to_numpy()) <= 0)


def test_plots_and_outputs():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["x", "y", "z"], 90), "c": rng.gamma(2, 100, 90),
                       "e": rng.normal(0, 1, 90)})
    res = cea(df, cost="c", effect="e", group="g", n_resamples=100, rng=0)
    for kind in ("plane", "ceac", "evpi"):
        ax = res.plot(kind=kind)
        assert ax.get_title()
    assert len(res.plot(kind="ceac").get_lines()) == 4  # three options and the frontier
    d = res.to_dict()
    assert d["nobs"] == 90 and len(d["estimates"]) == 6 + 6
    assert res.seed == 0 and "state" in res.rng_state
    with pytest.raises(DataError, match="kind"):
        res.plot(kind="tornado")


@pytest.mark.parametrize("change, kwargs, error, match", [
    (lambda d: d.assign(cost=d.cost - 2_000), {}, DataError, "negative cost"),
    (lambda d: d.assign(cost=d.cost.where(d.index != 3)), {}, DataError, "NaN"),
    (lambda d: d.assign(effect=d.effect.where(d.index != 3)), {}, DataError, "NaN"),
    (lambda d: d.assign(effect=d.effect.where(d.index != 3, np.inf)), {}, DataError,
     "column 'effect' has 1 infinite value"),
    (lambda d: d.assign(w=np.where(d.index == 3, np.nan, 1.0)), {"weights": "w"}, DataError,
     r"weights column 'w' has 1 missing \(NaN\) value\(s\)"),
    (lambda d: d.assign(w=np.where(d.index == 3, np.inf, 1.0)), {"weights": "w"}, DataError,
     r"weights column 'w' has 1 infinite value"),
    (lambda d: d.assign(w=True), {"weights": "w"}, DataError, r"weights column 'w' must be "
     "numeric"),
    (lambda d: d.assign(arm=d.arm.where(d.index != 3)), {}, DataError, "missing"),
    (lambda d: d.assign(arm="sos"), {}, DesignError, "one option"),
    (lambda d: pd.concat([d[d.arm == "sos"], d[d.arm == "control"].iloc[:1]]), {}, DesignError,
     "at least two units"),
    (lambda d: d, {"reference": "usual"}, DataError, "reference"),
    (lambda d: d, {"cost": "price"}, DataError, "not found"),
    (lambda d: d.assign(cost=d.cost.astype(str)), {}, DataError, "numeric"),
    (lambda d: d, {"n_resamples": 1}, DesignError, "n_resamples"),
    (lambda d: d, {"wtp": [-1.0, 10.0]}, DataError, "wtp"),
    (lambda d: d, {"wtp": [np.nan]}, DataError, "wtp"),
    (lambda d: d, {"level": 95}, DataError, "level"),
    (lambda d: d.assign(w=-1.0), {"weights": "w"}, DataError,
     "weights column 'w' must be non-negative"),
    (lambda d: d.assign(w=np.where(d.arm == "sos", 0.0, 1.0)), {"weights": "w"}, DesignError,
     "positive weight"),
    (lambda d: d, {"cluster": "worker"}, DesignError, "nested"),
    (lambda d: d.assign(worker=d.arm), {"cluster": "worker"}, DesignError, "two clusters"),
    (lambda d: d, {"effect": "cost"}, DataError, "different columns"),
])
def test_bad_inputs(change, kwargs, error, match):
    df = change(_trial())
    args = dict(cost="cost", effect="effect", group="arm", n_resamples=20, rng=0)
    args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        with pytest.raises(error, match=match):
            cea(df, **args)


def test_input_frame_untouched():
    df = _trial()
    before = df.copy()
    cea(df, cost="cost", effect="effect", group="arm", cluster=None, n_resamples=20, rng=0)
    pd.testing.assert_frame_equal(df, before)


def _repro():
    """Return the review's reproduction: NaN effects in two rows that have weight 0."""
    return pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4,
                         "cost": [1.0, 2, 3, 4, 2, 3, 4, 5],
                         "effect": [1.0, np.nan, 2, 1, 2, 2, np.nan, 1],
                         "w": [1.0, 0, 1, 1, 1, 1, 0, 1]})


def test_zero_weight_rows_may_hold_nan_and_are_left_out():
    d = _repro()
    before = d.copy()
    res = cea(d, cost="cost", effect="effect", group="arm", weights="w", n_resamples=50, rng=0)
    pd.testing.assert_frame_equal(d, before)
    assert res.nobs == 6 and res.n_dropped == 2 and res.n_dropped_missing == 2
    assert "2 rows with weight 0 left out (2 of them with a missing cost or effect)" in str(
        res.summary())
    # the same numbers as on the frame without those rows, replicate for replicate
    kept = cea(d[d["w"] > 0], cost="cost", effect="effect", group="arm", weights="w",
               n_resamples=50, rng=0)
    pd.testing.assert_frame_equal(res.tidy(), kept.tidy())
    pd.testing.assert_frame_equal(res.replicates, kept.replicates)
    pd.testing.assert_frame_equal(res.ceac, kept.ceac)
    assert res.means.loc["a", "effect"] == pytest.approx((1 + 2 + 1) / 3)
    assert kept.n_dropped == 0
    # a zero-weight row may also lack its cost and its cluster label
    d2 = d.assign(cost=d["cost"].where(d["w"] > 0), cl=[f"c{i}" for i in range(8)])
    d2.loc[d2["w"] == 0, "cl"] = None
    with pytest.warns(SosstatsWarning, match="few clusters"):
        clus = cea(d2, cost="cost", effect="effect", group="arm", weights="w", cluster="cl",
                   n_resamples=50, rng=0)
    np.testing.assert_allclose(clus.params, res.params)


def test_nan_with_a_positive_weight_raises_naming_column_and_count():
    d = _repro()
    with pytest.raises(DataError, match=r"column 'effect' has 1 missing value\(s\) \(NaN\) in "
                       r"rows with a positive weight in 'w' \(rows \[6\]\)"):
        cea(d.assign(w=np.where(d.index == 6, 2.0, d["w"])), cost="cost", effect="effect",
            group="arm", weights="w", n_resamples=50, rng=0)
    with pytest.raises(DataError, match=r"column 'effect' has 2 missing value\(s\) \(NaN\) "
                       r"\(rows \[1, 6\]\); drop or impute") as err:
        cea(d, cost="cost", effect="effect", group="arm", n_resamples=50, rng=0)
    assert "contain NaN" not in str(err.value)
    with pytest.raises(DataError, match="column 'cost' has 1 missing"):
        cea(d.assign(cost=d["cost"].where(d.index != 0)), cost="cost", effect="effect",
            group="arm", weights="w", n_resamples=50, rng=0)
    # negative costs are still refused among the rows used
    with pytest.raises(DataError, match="negative cost"):
        cea(d.assign(cost=d["cost"] - 10), cost="cost", effect="effect", group="arm",
            weights="w", n_resamples=50, rng=0)


def test_few_clusters_warn_with_counts_and_size_of_the_understatement():
    df = _trial(n=(40, 50), seed=5)
    df["worker"] = df["arm"] + "-" + df["worker"]
    per_arm = df.groupby("arm")["worker"].nunique()
    with pytest.warns(SosstatsWarning, match="few clusters of 'worker'") as rec:
        cea(df, cost="cost", effect="effect", group="arm", cluster="worker", n_resamples=50,
            rng=2)
    msgs = [str(w.message) for w in rec if "few clusters" in str(w.message)]
    assert len(msgs) == 1
    g = int(per_arm.min())
    # percentile interval of a mean of g clusters vs the t interval on g - 1 df
    narrower = 1 - np.sqrt((g - 1) / g) * stats.norm.ppf(0.975) / stats.t.ppf(0.975, g - 1)
    assert f"'control' {per_arm['control']}, 'sos' {per_arm['sos']}" in msgs[0]
    assert f"with G = {g} a 95% interval is about {narrower:.0%} narrower" in msgs[0]
    assert "understates uncertainty" in msgs[0]
    # enough clusters (FEW_CLUSTERS in every option, the boundary included): no warning
    big = _trial(n=(FEW_CLUSTERS, 30))
    big["id"] = np.arange(len(big))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SosstatsWarning)
        res = cea(big, cost="cost", effect="effect", group="arm", cluster="id", n_resamples=20,
                  rng=0)
        cea(df, cost="cost", effect="effect", group="arm", n_resamples=20, rng=0)  # no cluster
    assert list(res.n_clusters) == [FEW_CLUSTERS, 30]
