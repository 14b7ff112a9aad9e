"""Tests of sosstats.neighbours.synth and the simplex least-squares kernel."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from sosstats._kernels.simplex import simplex_lstsq, simplex_lstsq_placebo
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.synth import synthetic_control

YEARS = np.arange(2008, 2018)


def make_panel(seed: int = 0, n_units: int = 25, treated: tuple[str, ...] = ("T0", "T1"),
               effect: float = 0.0, noise: float = 1.0, starts=(2014,)):
    """Donors with smooth random paths; treated LAs exact convex combinations of donors.

    Treated LAs get ``effect`` from their start years. Returns long frame, true weights,
    starts and donor codes.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, len(YEARS))
    basis = np.vstack([np.ones_like(t), t, t**2, np.sin(3 * t), np.cos(5 * t)])
    donors = [f"D{i:02d}" for i in range(n_units)]
    paths = rng.normal(size=(n_units, basis.shape[0])) @ basis * 10 + 50
    paths += rng.normal(0, noise, paths.shape)
    rows, truth, start = [], {}, {}
    for i, code in enumerate(treated):
        w = np.zeros(n_units)
        pick = rng.choice(n_units, 3, replace=False)
        w[pick] = rng.dirichlet(np.ones(3))
        s = starts[i % len(starts)]
        rows.append((code, w @ paths + effect * (YEARS >= s)))
        truth[code], start[code] = w, s
    rows += list(zip(donors, paths))
    long = pd.DataFrame({"la_code": np.repeat([c for c, _ in rows], len(YEARS)),
                         "year": np.tile(YEARS, len(rows)), "indicator": "rate",
                         "value": np.concatenate([p for _, p in rows])})
    return long, truth, start, donors


def feasible_slsqp(X, y, w0):
    f = lambda w: float(np.sum((X @ w - y) ** 2))  # noqa: E731
    res = minimize(f, w0, jac=lambda w: 2 * X.T @ (X @ w - y), method="SLSQP",
                   bounds=[(0, None)] * len(w0),
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1,
                                 "jac": lambda w: np.ones_like(w)}],
                   options={"ftol": 1e-15, "maxiter": 500})
    w = np.clip(res.x, 0, None)
    w /= w.sum()
    return f(w)


# -- the kernel ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_kernel_not_beaten_by_slsqp_from_random_starts(seed):
    rng = np.random.default_rng(seed)
    T, J = [(2, 20), (5, 12), (10, 6), (1, 15), (8, 25), (4, 30)][seed]
    X = rng.normal(50, 10, (T, J))
    y = rng.normal(50, 15, T) if seed % 2 else X @ rng.dirichlet(np.ones(J)) + 1.0
    w, obj, conv = simplex_lstsq(X, y)
    assert conv and w.min() >= 0 and w.sum() == pytest.approx(1, abs=1e-14)
    assert obj == pytest.approx(np.sum((X @ w - y) ** 2))
    scale = np.max(np.sum((X - y[:, None]) ** 2, axis=0))
    for _ in range(4):
        assert obj <= feasible_slsqp(X, y, rng.dirichlet(np.ones(J))) + 1e-10 * scale
    # optimality conditions: gradient equal on the support, not smaller off it
    grad = 2 * X.T @ (X @ w - y)
    sup = w > 0
    assert np.ptp(grad[sup]) <= 1e-7 * scale
    assert grad[~sup].min(initial=np.inf) >= grad[sup].max() - 1e-7 * scale


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 8), J=st.integers(1, 20),
       inside=st.booleans())
def test_kernel_weights_on_simplex_and_exact(seed, T, J, inside):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (T, J)) * rng.uniform(0.1, 100)
    w_true = rng.dirichlet(np.ones(J))
    y = X @ w_true if inside else rng.normal(0, 3, T) * np.abs(X).max()
    w, obj, conv = simplex_lstsq(X, y)
    assert conv and np.all(w >= 0) and w.sum() == pytest.approx(1, abs=1e-13)
    assert (w > 0).sum() <= T + 1
    scale = max(np.max(np.sum((X - y[:, None]) ** 2, axis=0)), np.abs(X).max() ** 2)
    if inside:
        assert obj <= 1e-10 * scale
    # permuting the donors permutes the weights (unique optimum; generic data)
    perm = rng.permutation(J)
    _, obj_p, _ = simplex_lstsq(X[:, perm], y)
    assert obj_p == pytest.approx(obj, abs=1e-10 * scale)


def test_kernel_edge_cases_and_placebo():
    w, obj, conv = simplex_lstsq(np.array([[1.0, 2.0, 3.0]]), np.array([2.0]))
    assert obj == pytest.approx(0) and w @ [1, 2, 3] == pytest.approx(2)
    w, obj, _ = simplex_lstsq(np.ones((3, 1)), np.zeros(3))
    assert w.tolist() == [1.0] and obj == pytest.approx(3)
    w, obj, _ = simplex_lstsq(np.ones((3, 4)), np.ones(3))
    assert w.sum() == 1 and obj == 0
    Z = np.random.default_rng(0).normal(size=(4, 7))
    W, objs, conv = simplex_lstsq_placebo(Z)
    assert conv.all() and np.allclose(np.diag(W), 0) and np.allclose(W.sum(1), 1)
    for j in range(7):
        others = np.arange(7) != j
        assert objs[j] == pytest.approx(simplex_lstsq(Z[:, others], Z[:, j])[1])


# -- synthetic control ---------------------------------------------------------------------------
def test_recovers_exact_convex_combination():
    long, truth, start, donors = make_panel(1, n_units=6, treated=("T0",), effect=4.0)
    res = synthetic_control(long, "T0", indicator="rate", start_year=2014, placebo=False)
    w = res.weights.set_index("donor")["weight"].reindex(donors, fill_value=0.0)
    assert np.allclose(w.to_numpy(), truth["T0"], atol=1e-8)
    path = res.paths.set_index("year")
    assert np.allclose(path.loc[:2013, "gap"], 0, atol=1e-8)
    assert np.allclose(path.loc[2014:, "gap"], 4.0, atol=1e-8)
    assert res.estimate == pytest.approx(4.0)
    assert res.by_la["pre_rmspe"].item() < 1e-8


def test_weights_nonnegative_sum_to_one_and_tables():
    long, truth, start, donors = make_panel(2, noise=2.0, treated=("T0", "T1", "T2"),
                                            starts=(2013, 2015, 2016))
    res = synthetic_control(long, list(truth), indicator="rate", start_year=start, rng=1)
    sums = res.weights.groupby("la_code")["weight"].sum()
    assert np.allclose(sums, 1, atol=1e-12) and (res.weights.weight > 0).all()
    assert set(res.weights.donor) <= set(donors)
    # synthetic path = weights @ donor paths; gaps and summaries consistent
    wide = long.pivot(index="la_code", columns="year", values="value")
    for code in truth:
        w = res.weights.loc[res.weights.la_code == code].set_index("donor")["weight"]
        synth = w @ wide.loc[w.index]
        p = res.paths.loc[res.paths.la_code == code].set_index("year")
        assert np.allclose(p["synthetic"], synth) and np.allclose(p["gap"], p["value"] - synth)
        row = res.by_la.set_index("la_code").loc[code]
        post = p.loc[p.index >= start[code], "gap"]
        assert row.mean_post_gap == pytest.approx(post.mean())
        assert row.post_rmspe == pytest.approx(np.sqrt((post**2).mean()))
        assert row.pre_rmspe == pytest.approx(
            np.sqrt((p.loc[p.index < start[code], "gap"] ** 2).mean()))
    # pooled by event time = mean of the LAs' gaps at that event time
    ev = res.event_study.set_index("event_time")
    hand = res.paths.groupby("event_time")["gap"].mean()
    assert np.allclose(ev["estimate"], hand.loc[ev.index])
    assert res.estimate == pytest.approx(res.by_la["mean_post_gap"].mean())
    assert res.p_value_method.startswith("Monte Carlo")
    assert 0 < res.p_value <= 1 and ((res.by_la.p_value > 0) & (res.by_la.p_value <= 1)).all()


def test_placebo_is_a_synthetic_control_of_the_donor():
    long, truth, start, donors = make_panel(3, noise=2.0, treated=("T0",))
    res = synthetic_control(long, "T0", indicator="rate", start_year=2014)
    d = donors[4]
    direct = synthetic_control(long, d, indicator="rate", start_year=2014, placebo=False,
                               exclude=["T0"])
    pl = res.placebos.set_index("placebo").loc[d]
    assert pl.pre_rmspe == pytest.approx(direct.by_la.pre_rmspe.item(), rel=1e-8, abs=1e-10)
    assert pl.mean_post_gap == pytest.approx(direct.estimate, rel=1e-8, abs=1e-10)
    ratios = res.placebos.rmspe_ratio.to_numpy()
    r = res.by_la.rmspe_ratio.item()
    assert res.by_la.p_value.item() == pytest.approx((1 + (ratios >= r).sum()) / (len(donors) + 1))


def test_huge_effect_gives_smallest_p_values():
    long, truth, start, donors = make_panel(4, noise=1.0, effect=1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SosstatsWarning)
        res = synthetic_control(long, list(truth), indicator="rate", start_year=start,
                                n_draws=1000, rng=0)
    assert np.allclose(res.by_la.p_value, 1 / (len(donors) + 1))
    # 25 * 25 = 625 placebo sets <= n_draws: exact enumeration
    assert res.p_value_method.startswith("exact") and len(res.null_distribution) == 625
    assert res.p_value == pytest.approx(1 / 626)


def test_exact_pooled_null_by_hand():
    long, truth, start, donors = make_panel(5, n_units=5, noise=3.0, effect=2.0)
    res = synthetic_control(long, list(truth), indicator="rate", start_year=start)
    m = res.placebos.pivot(index="placebo", columns="la_code", values="mean_post_gap")
    null = np.add.outer(m["T0"].to_numpy(), m["T1"].to_numpy()).ravel() / 2
    assert np.allclose(np.sort(res.null_distribution), np.sort(null))
    p = (1 + np.sum(np.abs(null) >= abs(res.estimate) - 1e-12)) / (len(null) + 1)
    assert res.p_value == pytest.approx(p)


def test_monte_carlo_p_value_reproducible_with_rng():
    long, truth, start, donors = make_panel(6, noise=2.0, effect=1.0)
    a = synthetic_control(long, list(truth), indicator="rate", start_year=start, n_draws=50,
                          rng=3)
    b = synthetic_control(long, list(truth), indicator="rate", start_year=start, n_draws=50,
                          rng=3)
    assert np.array_equal(a.null_distribution, b.null_distribution)
    assert a.p_value == b.p_value and len(a.null_distribution) == 50


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_donor_order_does_not_change_weights(seed):
    long, truth, start, donors = make_panel(seed % 7, n_units=12, noise=2.0, treated=("T0",))
    rng = np.random.default_rng(seed)
    base = synthetic_control(long, "T0", indicator="rate", start_year=2014, placebo=False,
                             donors=donors)
    shuffled = long.sample(frac=1.0, random_state=seed % 1000)
    res = synthetic_control(shuffled, "T0", indicator="rate", start_year=2014, placebo=False,
                            donors=list(rng.permutation(donors)))
    a = base.weights.set_index("donor")["weight"].sort_index()
    b = res.weights.set_index("donor")["weight"].sort_index()
    pd.testing.assert_series_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)


def test_recovers_simulated_pilot_effect():
    from sosstats.datasets.simulate import simulate_evaluation

    ev = simulate_evaluation(rng=2, years=range(2009, 2018))
    pil = ev.las[ev.las["pilot"]]
    starts = dict(zip(pil["la_code"], pil["sos_start_year"].astype(int)))
    res = synthetic_control(ev.la_indicators, list(starts), indicator="assessment_duration_days",
                            start_year=starts, rng=0)
    truth = ev.truth["pilot_effects"]["assessment_duration_days"]
    assert abs(res.estimate - truth) < 1.0
    assert res.p_value < 0.01
    assert res.event_study.query("event_time < 0")["estimate"].abs().max() < 1.5


def test_donor_restrictions_and_dropped_donors():
    long, truth, start, donors = make_panel(7, noise=2.0, treated=("T0", "T1"))
    ranking = NeighbourRanking.from_distances(
        ["T0", "T1"] + donors, np.random.default_rng(0).uniform(size=(27, 27)))
    table = ranking.to_frame(8)
    res = synthetic_control(long, ["T0", "T1"], indicator="rate", start_year=2014,
                            donors=table, placebo=False)
    for code in ("T0", "T1"):
        allowed = set(table.loc[table.la_code == code, "neighbour"]) - {"T0", "T1"}
        assert set(res.weights.loc[res.weights.la_code == code, "donor"]) <= allowed
        assert res.by_la.set_index("la_code").loc[code, "n_donors"] == len(allowed)
    res = synthetic_control(long, ["T0", "T1"], indicator="rate", start_year=2014,
                            donors={"T0": donors[:5], "T1": donors[5:9]}, placebo=False)
    assert res.by_la.n_donors.tolist() == [5, 4]
    gappy = long.copy()
    gappy.loc[(gappy.la_code == donors[0]) & (gappy.year == 2016), "value"] = np.nan
    gappy.loc[(gappy.la_code == "T0") & (gappy.year == 2010), "value"] = np.nan
    res = synthetic_control(gappy, ["T0", "T1"], indicator="rate", start_year=2014,
                            exclude=[donors[1]], placebo=False)
    assert res.by_la.n_donors.tolist() == [23, 23]
    assert donors[0] not in set(res.weights.donor) and donors[1] not in set(res.weights.donor)
    assert ((res.dropped.la_code == donors[0]) & (res.dropped.role == "donor")).sum() == 2
    assert res.by_la.set_index("la_code").loc["T0", "n_pre"] == 5
    res = synthetic_control(long, "T0", indicator="rate", start_year=2014, placebo=False,
                            pre_years=[2011, 2012, 2013])
    assert res.by_la.n_pre.item() == 3
    assert (res.paths.set_index("year").loc[2008:2010, "period"] == "pre").all()


def test_result_protocol_plot_and_progress(capsys):
    long, truth, start, donors = make_panel(8, noise=2.0, effect=3.0, n_units=10)
    res = synthetic_control(long, list(truth), indicator="rate", start_year=start,
                            progress=True)
    assert "synthetic control placebos: 10/10" in capsys.readouterr().err
    tid = res.tidy()
    assert tid.term.tolist() == ["att", "att_T0", "att_T1"]
    assert tid.ci_lower.isna().all() and tid.std_error.isna().all()
    assert tid.statistic.iloc[1] == pytest.approx(res.by_la.rmspe_ratio.iloc[0])
    assert "att" in str(res.summary()) and res.to_dict()["nobs"] == 2
    import matplotlib.pyplot as plt
    ax = res.plot()
    assert len(ax.lines) >= 2 * 10 + 3
    ax = res.plot("T0")
    assert len(ax.lines) >= 2
    ax = res.plot("T1", kind="gaps")
    assert len(ax.lines) >= 11
    with pytest.raises(DataError, match="XX"):
        res.plot("XX")
    with pytest.raises(DataError, match="kind"):
        res.plot("T0", kind="bars")
    plt.close("all")
    quiet = synthetic_control(long, list(truth), indicator="rate", start_year=start,
                              progress=False)
    assert capsys.readouterr().err == "" and quiet.p_value == res.p_value


def test_few_pre_years_warns():
    long, truth, start, donors = make_panel(9)
    with pytest.warns(SosstatsWarning, match="fewer than three pre-period years"):
        synthetic_control(long, "T0", indicator="rate", start_year=2010, placebo=False)


def test_inputs_are_not_modified():
    long, truth, start, donors = make_panel(10, noise=2.0)
    long.loc[3, "value"] = np.nan
    before, start_before, donors_before = long.copy(), dict(start), list(donors)
    synthetic_control(long, list(truth), indicator="rate", start_year=start, donors=donors)
    pd.testing.assert_frame_equal(long, before)
    assert start == start_before and donors == donors_before


@pytest.mark.parametrize("change, exc, match", [
    (dict(indicator="nope"), DataError, "nope"),
    (dict(treated=["T0", "XX"]), DesignError, "XX"),
    (dict(treated=[]), DataError, "empty"),
    (dict(start_year=2008), DesignError, "no pre-period"),
    (dict(start_year=2030), DesignError, "no post-period"),
    (dict(start_year={"T0": 2014}), DataError, "T1"),
    (dict(donors=["D00"]), DesignError, "at least 2"),
    (dict(donors=["D00", "QQ"]), DataError, "QQ"),
    (dict(donors={"T0": ["D00", "D01"]}), DataError, "T1"),
    (dict(exclude=["ZZ"]), DataError, "ZZ"),
    (dict(pre_years=[2015]), DataError, "pre_years"),
    (dict(pre_years=[1999]), DataError, "1999"),
    (dict(pre_years=["a"]), DataError, "pre_years"),
    (dict(n_draws=0), DesignError, "n_draws"),
    (dict(rng="seed"), DataError, "rng"),
    (dict(progress="yes"), DataError, "progress"),
])
def test_bad_inputs(change, exc, match):
    long, truth, start, donors = make_panel(11)
    args = dict(indicators=long, treated=["T0", "T1"], indicator="rate", start_year=2014)
    args.update(change)
    with pytest.raises(exc, match=match):
        synthetic_control(**args)


def test_bad_data():
    long, truth, start, donors = make_panel(12)
    gone = long.copy()
    gone.loc[(gone.la_code == "T0") & (gone.year < 2014), "value"] = np.nan
    with pytest.raises(DesignError, match="T0 has no pre-period"):
        synthetic_control(gone, "T0", indicator="rate", start_year=2014)
    gone = long.copy()
    gone.loc[gone.la_code.str.startswith("D") & (gone.year == 2015), "value"] = np.nan
    with pytest.raises(DesignError, match="T0 has 1 eligible donor"):
        synthetic_control(gone, "T0", indicator="rate", start_year=2014)
    with pytest.raises(DataError, match="more than one row"):
        synthetic_control(pd.concat([long, long.iloc[:1]]), "T0", indicator="rate",
                          start_year=2014)


def test_suppression_markers_and_bad_text():
    long, truth, start, donors = make_panel(13, noise=2.0)
    cells = [(donors[0], 2012), (donors[1], 2016), ("T0", 2010)]
    nan = long.copy()
    text = long.astype({"value": object})
    for (code, yr), marker in zip(cells, ["c", " x", ".."]):
        at = (long["la_code"] == code) & (long["year"] == yr)
        nan.loc[at, "value"] = np.nan
        text.loc[at, "value"] = marker
    before = text.copy()
    res = synthetic_control(nan, list(truth), indicator="rate", start_year=start, placebo=False)
    res_t = synthetic_control(text, list(truth), indicator="rate", start_year=start,
                              placebo=False)
    pd.testing.assert_frame_equal(text, before)
    assert res_t.estimate == pytest.approx(res.estimate, rel=1e-12)
    pd.testing.assert_frame_equal(res_t.weights, res.weights)
    assert res.dropped["flag"].isna().all()
    flags = {(r.la_code, r.year): r.flag for r in res_t.dropped.itertuples()}
    assert flags[(donors[0], 2012)] == "c" and flags[(donors[1], 2016)] == "x"
    assert flags[("T0", 2010)] == ".."
    assert set(res_t.dropped["role"]) == {"treated", "donor"}
    text.loc[4, "value"] = "<5"
    with pytest.raises(DataError, match="'value'.*not numeric: '<5' \\(indicator 'rate'\\)"):
        synthetic_control(text, list(truth), indicator="rate", start_year=start, placebo=False)
    wide = long.pivot(index=["la_code", "year"], columns="indicator", values="value")
    wide = wide.reset_index().astype({"rate": object})
    wide.loc[0, "rate"] = "high"
    with pytest.raises(DataError, match="column 'rate'.*not numeric: 'high'"):
        synthetic_control(wide, list(truth), indicator="rate", start_year=start, placebo=False)


def test_fitted_models_contaminated_las_are_never_donors():
    from sosstats.neighbours.model import StatisticalNeighbours

    long, truth, start, donors = make_panel(11, noise=2.0)
    codes = pd.unique(long["la_code"])
    las = pd.DataFrame({"la_code": codes,
                        "x": np.random.default_rng(3).normal(size=len(codes))})
    plain = synthetic_control(long, list(truth), indicator="rate", start_year=2014,
                              donors=StatisticalNeighbours(["x"], k=3).fit(las), placebo=False)
    bad = plain.weights.sort_values("weight").donor.iloc[-2:].tolist()  # influential donors
    fit = StatisticalNeighbours(["x"], k=3, contaminated=bad).fit(las)
    res = synthetic_control(long, list(truth), indicator="rate", start_year=2014, donors=fit,
                            rng=0)
    assert not res.weights.donor.isin(bad).any() and not res.placebos.placebo.isin(bad).any()
    assert (res.by_la.n_donors == plain.by_la.n_donors - len(bad)).all()
    ref = synthetic_control(long, list(truth), indicator="rate", start_year=2014,
                            donors=fit.ranking, exclude=bad, rng=0)
    pd.testing.assert_frame_equal(res.weights, ref.weights)
    assert res.p_value == ref.p_value


def test_listed_neighbour_without_data_is_dropped_and_recorded():
    # review case: a neighbour table naming an LA with no row for the indicator (KeyError)
    long, truth, start, donors = make_panel(12, n_units=8, treated=("T0",))
    nb = pd.DataFrame({"la_code": "T0", "neighbour": donors[:3] + ["NEW99"],
                       "rank": [1, 2, 3, 4]})
    res = synthetic_control(long, ["T0"], indicator="rate", start_year=2014, donors=nb,
                            placebo=False)
    assert res.by_la.n_donors.item() == 3
    assert set(res.weights.donor) <= set(donors[:3])
    gone = res.dropped[res.dropped.la_code == "NEW99"]
    assert len(gone) == len(YEARS)  # one row per fitting and post-period year
    assert (gone.reason == "LA not in the data").all() and (gone.role == "donor").all()
    assert (gone.treated_la == "T0").all()
    # the same through a fitted model built from the published-style list
    from sosstats.neighbours.model import from_published
    res2 = synthetic_control(long, ["T0"], indicator="rate", start_year=2014,
                             donors=from_published(nb, k=4), placebo=False)
    pd.testing.assert_frame_equal(res.weights, res2.weights)
    # fewer than two donors left: a DesignError naming the LA
    with pytest.raises(DesignError, match=r"T0 has 1 eligible donor"):
        synthetic_control(long, ["T0"], indicator="rate", start_year=2014, placebo=False,
                          donors=nb.assign(neighbour=[donors[0], "NEW1", "NEW2", "NEW3"]))


def test_pre_rmspe_floor_is_1e8_times_largest_absolute_value():
    # T0 is exactly a donor's path: pre-RMSPE 0, so the ratio uses the documented floor
    long, truth, start, donors = make_panel(13, n_units=6, treated=())
    t0 = long[long.la_code == donors[0]].assign(la_code="T0")
    t0.loc[t0.year >= 2014, "value"] += 5.0
    data = pd.concat([long, t0], ignore_index=True)
    far = data[data.la_code == donors[1]].assign(la_code="FAR", value=-1e4)  # sets max |y|
    data = pd.concat([data, far], ignore_index=True)
    res = synthetic_control(data, ["T0"], indicator="rate", start_year=2014, rng=0,
                            donors=donors)  # FAR is in the data but not a donor
    row = res.by_la.iloc[0]
    assert row.pre_rmspe == pytest.approx(0.0, abs=1e-9)
    assert row.rmspe_ratio == pytest.approx(row.post_rmspe / (1e-8 * 1e4), rel=1e-9)
    pl = res.placebos
    floored = np.maximum(pl.pre_rmspe, 1e-8 * 1e4)
    np.testing.assert_allclose(pl.rmspe_ratio, pl.post_rmspe / floored, rtol=1e-12)


# -- identification: perfect pre-period fits, donors restricted to neighbours -------------------
def test_real_pilots_with_every_donor_warn_that_the_fit_is_not_identified():
    """Three pre-period years, 137 donors: nine of ten real pilots are fitted perfectly."""
    from sosstats.datasets import load_la_indicators, signs_of_safety_pilots

    pilots = signs_of_safety_pilots()["la_code"].tolist()
    long = load_la_indicators(indicators="cpp_started_rate_per_10k", years=range(2013, 2020))
    with pytest.warns(SosstatsWarning, match="poorly identified") as rec:
        res = synthetic_control(long, pilots, indicator="cpp_started_rate_per_10k",
                                start_year=2016, placebo=False)
    messages = [str(w.message) for w in rec if "poorly identified" in str(w.message)]
    assert len(messages) == 1                                   # once per call
    assert "perfect pre-period fit" in messages[0] and "more donors than" in messages[0]
    assert (res.by_la["pre_rmspe"] < 1e-6).sum() >= 8


def test_donors_restricted_to_each_units_neighbours():
    long, truth, start, donors = make_panel(7, noise=2.0, treated=("T0", "T1"))
    ids = ["T0", "T1"] + donors
    ranking = NeighbourRanking.from_distances(ids, np.random.default_rng(0).uniform(size=(27, 27)))
    res = synthetic_control(long, ["T0", "T1"], indicator="rate", start_year=2014,
                            donors="neighbours", neighbours=ranking, k=4, placebo=False)
    for i, code in enumerate(("T0", "T1")):
        order = [ids[j] for j in ranking.order[i] if ids[j] not in ("T0", "T1")]
        assert set(res.weights.loc[res.weights.la_code == code, "donor"]) <= set(order[:4])
        assert res.by_la.set_index("la_code").loc[code, "n_donors"] == 4
    # a fitted model's k is the default; an incomplete donor is skipped, the next one used
    from sosstats.neighbours.model import from_published

    fitted = from_published(ranking.to_frame(), k=5)
    res5 = synthetic_control(long, ["T0", "T1"], indicator="rate", start_year=2014,
                             donors="neighbours", neighbours=fitted, placebo=False)
    assert res5.by_la["n_donors"].tolist() == [5, 5]
    with pytest.raises(DesignError, match="fitted with"):
        synthetic_control(long, "T0", indicator="rate", start_year=2014, donors="neighbours",
                          neighbours=fitted, k=6, placebo=False)
    with pytest.raises(DataError, match="needs `neighbours`"):
        synthetic_control(long, "T0", indicator="rate", start_year=2014, donors="neighbours")
    with pytest.raises(DataError, match="must be 'neighbours'"):
        synthetic_control(long, "T0", indicator="rate", start_year=2014, donors="nearest")
    with pytest.raises(DataError, match="only with donors='neighbours'"):
        synthetic_control(long, "T0", indicator="rate", start_year=2014, k=3)


def test_well_identified_fit_does_not_warn():
    long, truth, start, donors = make_panel(3, noise=3.0, treated=("T0",))
    long = long.copy()
    long.loc[long.la_code == "T0", "value"] += np.random.default_rng(1).normal(0, 2, len(YEARS))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SosstatsWarning)
        synthetic_control(long, "T0", indicator="rate", start_year=2014,
                          donors=donors[:4], placebo=False)
