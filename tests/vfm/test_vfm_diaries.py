"""diary_costs(): closed forms, the worker bootstrap against a plain loop, recovery, properties."""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sosstats.datasets import simulate_evaluation
from sosstats.errors import DataError, DesignError
from sosstats.vfm import unit_cost
from sosstats._kernels.resample import resample_group_sums
from sosstats.vfm.diaries import diary_costs

matplotlib.use("Agg")

ACTS = ["direct contact", "case recording", "travel"]


def _small():
    """Four workers in two teams; worker 1's recording split over two rows."""
    return pd.DataFrame({
        "worker_id": [1, 1, 1, 2, 2, 2, 3, 3, 4, 4],
        "activity": ["direct contact", "case recording", "case recording", "direct contact",
                     "case recording", "travel", "direct contact", "case recording",
                     "direct contact", "case recording"],
        "minutes": [60.0, 100, 20, 30, 30, 60, 100, 100, 50, 150],
        "team": ["A", "A", "A", "A", "A", "A", "B", "B", "B", "B"],
        "cases": [5, 5, 5, 10, 10, 10, 4, 4, 6, 6]})


def _random_diaries(seed, n_workers=12, groups=("x", "y")):
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(100, 100 + n_workers))
    return pd.DataFrame({
        "worker_id": np.repeat(ids, len(ACTS)),
        "activity": np.tile(ACTS, n_workers),
        "minutes": rng.gamma(2.0, 200.0, n_workers * len(ACTS)).round(),
        "grp": np.repeat(np.resize(groups, n_workers), len(ACTS))})


def test_closed_form_shares_and_costs():
    res = diary_costs(_small(), 30.0, by="team", cases="cases", n_resamples=50, rng=0)
    sh = res.shares["share"]
    assert sh[("A", "direct contact")] == pytest.approx(90 / 300)
    assert sh[("A", "case recording")] == pytest.approx(150 / 300)
    assert sh[("A", "travel")] == pytest.approx(60 / 300)
    assert sh[("B", "direct contact")] == pytest.approx(150 / 400)
    assert sh[("B", "travel")] == 0.0
    g = res.by_group
    assert g.loc["A", "n_workers"] == 2
    assert g.loc["A", "direct_share"] == pytest.approx(0.3)
    assert g.loc["A", "hours_per_worker"] == pytest.approx(300 / 60 / 2)
    assert g.loc["A", "cost_per_worker"] == pytest.approx(300 / 60 * 30 / 2)
    assert g.loc["A", "cost_per_direct_hour"] == pytest.approx(150 / 1.5)
    assert g.loc["A", "cost_per_case"] == pytest.approx(150 / 15)
    assert g.loc["B", "cost_per_case"] == pytest.approx(400 / 60 * 30 / 10)
    costs = res.costs["cost_per_worker"]
    assert costs[("A", "direct contact")] == pytest.approx(90 / 60 * 30 / 2)
    assert costs.groupby(level=0).sum()["A"] == pytest.approx(g.loc["A", "cost_per_worker"])
    w = res.workers
    assert w.loc[1, "minutes"] == 180 and w.loc[2, "direct_share"] == pytest.approx(0.25)
    assert w.loc[4, "cost"] == pytest.approx(200 / 60 * 30)


def test_per_worker_unit_costs_and_workers_frame():
    d = _small()
    rates = pd.Series({1: 30.0, 2: 60.0, 3: 40.0, 4: 40.0})
    res = diary_costs(d.drop(columns=["team", "cases"]), rates, by="team",
                      workers=d[["worker_id", "team"]].drop_duplicates(), n_resamples=20, rng=0)
    g = res.by_group
    assert g.loc["A", "cost_per_worker"] == pytest.approx((180 / 60 * 30 + 120 / 60 * 60) / 2)
    assert res.costs.loc[("A", "direct contact"), "cost_per_worker"] == pytest.approx(30.0)
    d["rate"] = d["worker_id"].map(rates)
    col = diary_costs(d, "rate", by="team", n_resamples=20, rng=0)
    pd.testing.assert_frame_equal(col.tidy(), res.tidy())


def test_unit_cost_object_and_its_draws():
    d = _small()
    uc = unit_cost(salary=36_000, working_hours=1_500, price_year=2016)
    res = diary_costs(d, uc, by="team", n_resamples=30, rng=1)
    assert res.by_group.loc["A", "cost_per_worker"] == pytest.approx(300 / 60 * 24 / 2)
    draws = np.array([20.0, 28.0])
    ucd = unit_cost(salary=draws * 1_500, working_hours=1_500, price_year=2016)
    rd = diary_costs(d, ucd, by="team", n_resamples=30, rng=1)
    fixed = diary_costs(d, 24.0, by="team", n_resamples=30, rng=1)
    j = list(rd.tidy()["term"]).index("cost_per_worker[A]")
    ratio = rd.replicates.reshape(30, -1)[:, j] / fixed.replicates.reshape(30, -1)[:, j]
    np.testing.assert_allclose(ratio, np.resize(draws / 24.0, 30))
    np.testing.assert_allclose(rd.shares["share"], fixed.shares["share"])


def test_kernel_equals_plain_loop_draw_for_draw():
    rng = np.random.default_rng(5)
    values = rng.gamma(2.0, 3.0, (23, 4))
    group = rng.integers(0, 3, 23)
    fast = resample_group_sums(values, group, 3, 301, np.random.default_rng(9), chunk_bytes=999)
    loop = np.empty_like(fast)
    gen = np.random.default_rng(9)
    for g in range(3):
        rows = np.flatnonzero(group == g)
        for b in range(301):
            loop[b, g] = values[rows][gen.integers(0, len(rows), len(rows))].sum(axis=0)
    np.testing.assert_allclose(fast, loop, rtol=1e-12)
    whole = resample_group_sums(values, group, 3, 301, np.random.default_rng(9))
    np.testing.assert_allclose(whole, fast, rtol=1e-12)


def test_result_replicates_equal_plain_loop():
    d = _random_diaries(3, n_workers=9)
    res = diary_costs(d, 35.0, by="grp", n_resamples=200, rng=4)
    gen = np.random.default_rng(4)
    for gi, grp in enumerate(["x", "y"]):     # groups sorted; workers by first appearance
        sub = d[d.grp == grp]
        workers = list(pd.unique(sub["worker_id"]))
        mat = sub.pivot(index="worker_id", columns="activity", values="minutes").loc[
            workers, sorted(ACTS)]
        for b in range(200):
            pick = mat.to_numpy()[gen.integers(0, len(workers), len(workers))]
            shares = pick.sum(axis=0) / pick.sum()
            np.testing.assert_allclose(res.replicates[b, gi, :3], shares, rtol=1e-12)
            assert res.replicates[b, gi, 3] == pytest.approx(
                pick[:, sorted(ACTS).index("direct contact")].sum() / pick.sum(), rel=1e-12)
            assert res.replicates[b, gi, 5] == pytest.approx(pick.sum() / 60 * 35 / len(workers),
                                                             rel=1e-12)


def test_recovers_simulated_activity_shares():
    ev = simulate_evaluation(rng=3, n_workers=3000, n_diarists=3000)
    truth = ev.truth["diaries"]
    res = diary_costs(ev.diaries, 40.0, n_resamples=400, rng=0)
    sh = res.shares.loc["all"]
    for act, share in truth["activity_shares"].items():
        assert abs(sh.loc[act, "share"] - share) < max(4 * sh.loc[act, "std_error"], 1e-3)
        assert abs(sh.loc[act, "share"] - share) < 0.006
    hours = res.by_group.loc["all", "hours_per_worker"]
    assert hours == pytest.approx(truth["mean_total_minutes"] / 60, rel=0.01)
    small = diary_costs(simulate_evaluation(rng=1).diaries, 40.0, n_resamples=1000, rng=0)
    ci = small.shares.loc["all"]
    inside = [(ci.loc[a, "ci_lower"] <= s <= ci.loc[a, "ci_upper"])
              for a, s in truth["activity_shares"].items()]
    assert sum(inside) >= 5 and small.nobs == 121


def test_bootstrap_se_matches_linearisation():
    """For a ratio of sums the delta-method (linearised) SE is sd(m - s T) sqrt(n)/sum(T)."""
    ev = simulate_evaluation(rng=2, n_workers=600, n_diarists=600)
    res = diary_costs(ev.diaries, 1.0, n_resamples=2000, rng=1)
    wide = ev.diaries.pivot(index="worker_id", columns="activity", values="minutes")
    m, tot = wide["direct contact"].to_numpy(float), wide.sum(axis=1).to_numpy(float)
    s = m.sum() / tot.sum()
    se = np.sqrt(np.sum((m - s * tot) ** 2)) / tot.sum()
    assert res.std_errors["direct_share"] == pytest.approx(se, rel=0.08)


def test_compare_groups_difference_interval_and_p():
    rng = np.random.default_rng(0)
    n = 40
    minutes = np.column_stack([rng.gamma(20, 20, 2 * n), rng.gamma(20, 30, 2 * n)])
    minutes[n:, 0] *= 1.6                                   # group "b": more direct contact
    d = pd.DataFrame({"worker_id": np.repeat(np.arange(2 * n), 2),
                      "activity": np.tile(["direct contact", "other"], 2 * n),
                      "minutes": minutes.ravel(),
                      "g": np.repeat(np.r_[["a"] * n, ["b"] * n], 2)})
    res = diary_costs(d, 30.0, by="g", n_resamples=500, rng=2, compare=("b", "a"))
    comp = res.comparison
    row = comp.tidy().set_index("term").loc["direct_share[b - a]"]
    assert row["estimate"] == pytest.approx(res.params["direct_share[b]"]
                                            - res.params["direct_share[a]"])
    assert row["ci_lower"] > 0 and row["p_value"] < 0.01
    diff = res.replicates[:, 1] - res.replicates[:, 0]
    j = [q for q, _ in res._layout].index("direct_share")
    assert row["std_error"] == pytest.approx(diff[:, j].std(ddof=1))
    assert row["p_value"] == pytest.approx(2 / 501)       # every replicate above 0
    same = diary_costs(d[d.g == "a"].assign(g=np.tile(np.repeat(["c", "d"], 2), n // 2)), 30.0,
                       by="g", n_resamples=500, rng=3)
    r2 = same.compare("c", "d").tidy().set_index("term").loc["direct_share[c - d]"]
    assert r2["ci_lower"] < 0 < r2["ci_upper"] and r2["p_value"] > 0.05
    assert "b minus a" in str(res)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 100.0), st.floats(0.5, 500.0))
def test_properties_shares_sum_scale_invariance_and_linear_costs(seed, factor, rate):
    d = _random_diaries(seed, n_workers=6)
    res = diary_costs(d, rate, by="grp", n_resamples=40, rng=seed)
    sh = res.shares["share"]
    np.testing.assert_allclose(sh.groupby(level=0).sum(), 1.0)
    np.testing.assert_allclose(res.replicates[:, :, :3].sum(axis=-1), 1.0)
    scaled = diary_costs(d.assign(minutes=d.minutes * factor), rate, by="grp", n_resamples=40,
                         rng=seed)
    np.testing.assert_allclose(scaled.shares["share"], sh, rtol=1e-9)
    np.testing.assert_allclose(scaled.replicates[:, :, :4], res.replicates[:, :, :4], rtol=1e-9)
    doubled = diary_costs(d, 2 * rate, by="grp", n_resamples=40, rng=seed)
    np.testing.assert_allclose(doubled.costs["cost_per_worker"],
                               2 * res.costs["cost_per_worker"], rtol=1e-12)
    np.testing.assert_allclose(doubled.costs["ci_upper"], 2 * res.costs["ci_upper"], rtol=1e-12)
    shuffled = diary_costs(d.sample(frac=1, random_state=seed), rate, by="grp", n_resamples=40,
                           rng=seed)
    np.testing.assert_allclose(shuffled.point, res.point, rtol=1e-12)


def test_outputs_plot_and_input_untouched():
    d = _small()
    before = d.copy()
    res = diary_costs(d, 30.0, by="team", n_resamples=30, rng=0)
    pd.testing.assert_frame_equal(d, before)
    assert res.plot().get_title() == "Time use by activity"
    assert "cost_per_case" not in set(res.tidy()["quantity"])
    t = res.tidy()
    assert list(t.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                   "ci_lower", "ci_upper"]
    assert res.to_dict()["nobs"] == 4 and res.seed == 0
    assert "share[A: direct contact]" in str(res)
    no_direct = diary_costs(d, 30.0, direct=None, n_resamples=20, rng=0)
    assert "direct_share" not in list(no_direct.params.index)
    assert "share[direct contact]" in list(no_direct.params.index)


@pytest.mark.parametrize("change, kwargs, error, match", [
    (lambda d: d.assign(minutes=d.minutes.where(d.index != 2, -5.0)), {}, DataError,
     "negative"),
    (lambda d: d, {"period_hours": 2.5}, DataError, "more than the 2.5 hours"),
    (lambda d: d, {"period_hours": -1}, DataError, "period_hours"),
    (lambda d: d.assign(team=np.where(d.worker_id == 4, "C", d.team)), {}, DesignError,
     "at least two workers"),
    (lambda d: d, {"minutes": "mins"}, DataError, "'mins' not found"),
    (lambda d: d.drop(columns="worker_id"), {}, DataError, "'worker_id' not found"),
    (lambda d: d, {"by": "pilot"}, DataError, "'pilot'"),
    (lambda d: d, {"direct": ["face to face"]}, DataError, "face to face"),
    (lambda d: d.assign(minutes=d.minutes.where(d.index != 2)), {}, DataError, "NaN"),
    (lambda d: d.assign(minutes=d.minutes.astype(str)), {}, DataError, "numeric"),
    (lambda d: d.assign(activity=d.activity.where(d.index != 2)), {}, DataError, "missing"),
    (lambda d: d.assign(team=np.where(d.index == 0, "B", d.team)), {}, DataError,
     "varies within worker"),
    (lambda d: d.assign(team=d.team.where(d.worker_id != 1)), {}, DataError,
     "missing for worker"),
    (lambda d: d.assign(minutes=np.where(d.worker_id == 3, 0.0, d.minutes)), {}, DataError,
     "no minutes"),
    (lambda d: d, {"unit_costs": -3.0}, DataError, "unit_costs"),
    (lambda d: d, {"unit_costs": pd.Series({1: 30.0, 2: 30.0})}, DataError, "worker"),
    (lambda d: d, {"unit_costs": [30.0]}, DataError, "unit_costs"),
    (lambda d: d.assign(cases=-1), {"cases": "cases"}, DataError, "cases"),
    (lambda d: d.assign(cases=0), {"cases": "cases"}, DataError, "sum to 0"),
    (lambda d: d, {"n_resamples": 1}, DesignError, "n_resamples"),
    (lambda d: d, {"level": 1.5}, DataError, "level"),
    (lambda d: d, {"compare": ("A", "Z")}, DataError, "'Z'"),
    (lambda d: d, {"compare": "A"}, DataError, "pair"),
])
def test_bad_inputs(change, kwargs, error, match):
    args = dict(unit_costs=30.0, by="team", n_resamples=20, rng=0)
    args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match=match):
            diary_costs(change(_small()), **args)


def test_bad_workers_frame():
    d = _small()
    w = pd.DataFrame({"worker_id": [1, 1, 2, 3, 4], "pilot": list("PPPQQ")})
    with pytest.raises(DataError, match="duplicate"):
        diary_costs(d, 30.0, by="pilot", workers=w, n_resamples=20)
    with pytest.raises(DataError, match="missing for worker"):
        diary_costs(d, 30.0, by="pilot", workers=w.iloc[1:4], n_resamples=20)


def test_student_t_sanity_of_percentile_interval():
    """Interval of a share is near the normal interval from its bootstrap SE (large n)."""
    ev = simulate_evaluation(rng=4, n_workers=800, n_diarists=800)
    res = diary_costs(ev.diaries, 1.0, n_resamples=2000, rng=0)
    row = res.tidy().set_index("term").loc["share[meetings]"]
    z = stats.norm.ppf(0.975)
    assert row["ci_lower"] == pytest.approx(row["estimate"] - z * row["std_error"], rel=0.02)
    assert row["ci_upper"] == pytest.approx(row["estimate"] + z * row["std_error"], rel=0.02)
