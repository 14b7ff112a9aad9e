"""The plot contract of every public plot in sosstats.

Each public ``plot()`` / ``*_plot()``:

* with ``ax`` (or ``axes``) passed, draws into it, creates no figure and returns that Axes;
* without, creates exactly one figure and returns its Axes, or, for a multi-panel plot, the
  Figure itself (documented in its Returns section);
* leaves no figure behind other than the one it returned (checked through pyplot).

The results are built small (a few hundred rows, few resamples) so the file runs in seconds;
the Bayesian multilevel results need a sampler and are under ``@pytest.mark.slow``.
"""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sosstats.datasets import load_statistical_neighbours, simulate_evaluation


@pytest.fixture(scope="module")
def ev():
    return simulate_evaluation(rng=3)


@pytest.fixture(autouse=True)
def _close_all():
    plt.close("all")
    yield
    plt.close("all")


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# -- builders: each returns (plot callable taking ax=..., kind of return) ---------------------
def _neighbour_world():
    codes = load_statistical_neighbours()["la_code"].drop_duplicates().sort_values()
    codes = codes.tolist()[:16]
    years = np.arange(2012, 2018)
    rng = np.random.default_rng(0)
    x = rng.normal(size=len(codes))
    y = 50 + 10 * x[:, None] + rng.normal(0, 1, (len(codes), len(years)))
    long = pd.DataFrame({"la_code": np.repeat(codes, len(years)),
                         "year": np.tile(years, len(codes)), "indicator": "rate",
                         "value": y.ravel()})
    from sosstats.neighbours.ranking import NeighbourRanking

    ranking = NeighbourRanking.from_distances(np.array(codes, dtype=object),
                                              np.abs(x[:, None] - x[None, :]))
    return long, codes[:3], {c: 2015 for c in codes[:3]}, ranking


def b_compare_one(ev):
    from sosstats.neighbours import compare

    long, treated, _, ranking = _neighbour_world()
    wide = long[long["year"] == 2016].pivot(index="la_code", columns="indicator",
                                            values="value").reset_index()
    wide["other"] = wide["rate"] * 2
    res = _quiet(compare, wide, treated, ranking, k=4, n_draws=0, n_resamples=0)
    return (lambda ax=None: res.plot("rate", ax=ax)), "axes"


def b_compare_all(ev):
    from sosstats.neighbours import compare

    long, treated, _, ranking = _neighbour_world()
    wide = long[long["year"] == 2016].pivot(index="la_code", columns="indicator",
                                            values="value").reset_index()
    wide["other"] = wide["rate"] * 2
    res = _quiet(compare, wide, treated, ranking, k=4, n_draws=0, n_resamples=0)
    return (lambda ax=None: res.plot()), "figure only"


def b_forest(ev):
    from sosstats.neighbours.plots import forest_plot

    per_la = pd.DataFrame({"la_code": ["E06000023", "E08000036"], "difference": [1.0, -0.5]})
    return (lambda ax=None: forest_plot(per_la, estimate=0.2, lower=-1, upper=1, ax=ax)), "axes"


def b_funnel(ev):
    from sosstats.neighbours import funnel_plot

    rng = np.random.default_rng(1)
    pop = rng.uniform(2e4, 2e5, 40)
    data = pd.DataFrame({"la_code": [f"E{i:02d}" for i in range(40)],
                         "n": rng.poisson(40 * pop / 1e4).astype(float), "pop": pop})
    return (lambda ax=None: funnel_plot(data, count="n", population="pop", ax=ax)), "axes"


def b_did(ev):
    from sosstats.neighbours import neighbour_did

    long, treated, start, ranking = _neighbour_world()
    res = _quiet(neighbour_did, long, treated, ranking, indicator="rate", start_year=start, k=4)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


@pytest.fixture(scope="module")
def synth_result():
    from sosstats.neighbours import synthetic_control

    long, treated, start, _ = _neighbour_world()
    return _quiet(synthetic_control, long, treated, indicator="rate", start_year=start,
                  n_draws=20, rng=1, progress=False)


def b_synth_all(ev, synth_result=None):
    return (lambda ax=None: synth_result.plot(ax=ax)), "axes"


def b_synth_gaps(ev, synth_result=None):
    code = synth_result.by_la["la_code"].iloc[0]
    return (lambda ax=None: synth_result.plot(code, ax=ax, kind="gaps")), "axes"


def b_neighbour_model(ev):
    from sosstats.neighbours import StatisticalNeighbours

    covs = ["deprivation_score", "low_income_children_pct", "fsm_pct"]
    fit = StatisticalNeighbours(covs, k=5).fit(ev.las)
    la = ev.las["la_code"].iloc[0]
    return (lambda ax=None: fit.plot(la=la, kind="map", ax=ax)), "axes"


def _match_frame():
    rng = np.random.default_rng(2)
    n = 120
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int)
    return pd.DataFrame({"t": t, "x": x, "z": rng.normal(size=n), "y": x + t})


def b_balance(ev):
    from sosstats.matching import balance_table

    bal = balance_table(_match_frame(), "t", ["x", "z"])
    return (lambda ax=None: bal.plot(ax=ax)), "axes"


def b_match(ev):
    from sosstats.matching import match

    m = _quiet(match, _match_frame(), treatment="t", covariates=["x", "z"])
    return (lambda ax=None: m.plot(ax=ax)), "axes"


def b_rosenbaum(ev):
    from sosstats.matching import rosenbaum_bounds

    rng = np.random.default_rng(3)
    res = rosenbaum_bounds(rng.normal(1, 1, 30), rng.normal(0, 1, 30), gammas=[1, 2, 3],
                           exact=False)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def _survey_design(ev):
    from sosstats.survey import SurveyDesign

    ws = ev.worker_survey
    return SurveyDesign(ws, cluster="la_code")


def b_survey_mean(ev):
    res = _quiet(_survey_design(ev).mean, "confidence", by="experience")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_survey_proportion(ev):
    res = _quiet(_survey_design(ev).proportion, "sos_supervision", by="experience")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_survey_compare(ev):
    res = _quiet(_survey_design(ev).compare, "confidence", "experience", contrast="pairwise")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_kappa(ev):
    from sosstats.survey import cohens_kappa

    res = cohens_kappa(ev.case_records, "coder_1", "coder_2", n_resamples=0)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


COVS = ["sdq_t1", "previous_referral"]


def b_attrition(ev):
    from sosstats.weighting import attrition_weights

    res = _quiet(attrition_weights, ev.families, responded="responded_t2", covariates=COVS)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_response_rates(ev):
    from sosstats.weighting import response_rates

    res = _quiet(response_rates, ev.families, "responded_t2", by="experience")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_nonresponse(ev):
    from sosstats.weighting import nonresponse_tests

    res = _quiet(nonresponse_tests, ev.families, "responded_t2", COVS)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_manski(ev):
    from sosstats.weighting import manski_bounds

    res = manski_bounds(ev.families, "knows_goals_t2", "responded_t2", group="cohort")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_tipping(ev):
    from sosstats.weighting import tipping_point

    res = _quiet(tipping_point, ev.families, "sdq_t2", "responded_t2")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_imputation(ev):
    from sosstats.weighting import impute_chained

    fam = ev.families[["sdq_t1", "sdq_t2", "previous_referral"]]
    imp = _quiet(impute_chained, fam, ["sdq_t2"], n_imputations=2, n_iter=2, rng=0)
    return (lambda ax=None: imp.plot(axes=ax)), "figure"


def b_reliable_change(ev):
    from sosstats.panel import reliable_change

    res = _quiet(reliable_change, ev.families, "sdq_t1", "sdq_t2", reliability=0.8,
                 better="lower")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_ordered(ev):
    from sosstats.panel import ordered_change

    res = _quiet(ordered_change, ev.families, "feelings_t1", "feelings_t2")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def _long(ev):
    from sosstats.panel import wide_to_long

    return _quiet(wide_to_long, ev.families, entity="family_id", stubs=["sdq"])


def b_change_model(ev):
    from sosstats.panel import change_model

    fam = ev.families.dropna(subset=["sdq_t1", "sdq_t2"])
    long = pd.concat([fam.assign(wave=1, sdq=fam["sdq_t1"]),
                      fam.assign(wave=2, sdq=fam["sdq_t2"])])
    res = _quiet(change_model, "sdq ~ C(experience)", long, entity="family_id", time="wave",
                 cluster="la_code")
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_change_plot(ev):
    from sosstats.panel import change_plot

    fam = ev.families.dropna(subset=["sdq_t1", "sdq_t2"])
    long = pd.concat([fam.assign(wave="T1", sdq=fam["sdq_t1"]),
                      fam.assign(wave="T2", sdq=fam["sdq_t2"])])
    return (lambda ax=None: _quiet(change_plot, long, "sdq", "wave", by="experience",
                                   entity="family_id", ax=ax)), "axes"


def b_study(ev):
    from sosstats.design import simulate_study, two_arm

    design = two_arm(n_clusters=10)
    res = _quiet(simulate_study, design, design.estimator(), 20, truth=design.truth, rng=1)
    return (lambda ax=None: res.plot("coverage", ax=ax)), "axes"


def b_power(ev):
    from sosstats.design import power_curve, two_arm

    res = _quiet(power_curve, two_arm, None, {"effect": [0.0, 0.5], "n_clusters": [8, 12]},
                 10, rng=2)
    return (lambda ax=None: res.plot("n_clusters", ax=ax)), "axes"


def b_sbc(ev):
    from sosstats.design import sbc

    def prior(rng):
        return {"mu": rng.normal(0, 1)}

    def simulate(theta, rng):
        return rng.normal(theta["mu"], 1.0, size=10)

    def fit(y, rng):
        prec = 1 + y.size
        return {"mu": rng.normal(y.sum() / prec, prec ** -0.5, size=19)}

    res = sbc(prior, simulate, fit, 20, rng=1)
    return (lambda ax=None: res.plot(axes=ax)), "figure"


@pytest.fixture(scope="module")
def cea_result():
    from sosstats.vfm import cea

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["x", "y", "z"], 90), "c": rng.gamma(2, 1e5, 90),
                       "e": rng.normal(0, 1, 90)})
    return cea(df, cost="c", effect="e", group="g", n_resamples=40, rng=0)


def b_cea_plane(ev, cea_result=None):
    return (lambda ax=None: cea_result.plot(ax=ax, kind="plane")), "axes"


def b_cea_ceac(ev, cea_result=None):
    return (lambda ax=None: cea_result.plot(ax=ax, kind="ceac")), "axes"


def b_cea_evpi(ev, cea_result=None):
    return (lambda ax=None: cea_result.plot(ax=ax, kind="evpi")), "axes"


def b_budget(ev):
    from sosstats.vfm import budget

    view = budget([1e6, 0.0, 0.0], [0.0, 6e5, 6e5])
    return (lambda ax=None: view.plot(ax=ax)), "axes"


def b_avoided(ev):
    from sosstats.vfm import avoided_costs

    wide = pd.DataFrame({"la_code": ["T1", "T2", "N1", "N2", "N3", "N4", "N5", "N6"],
                         "icpc": [40.0, 80, 50, 70, 10, 70, 60, 5]})
    nb = pd.DataFrame({"la_code": ["T1"] * 3 + ["T2"] * 3,
                       "neighbour": ["N1", "N2", "N3", "N4", "N5", "N6"], "rank": [1, 2, 3] * 2})
    res = _quiet(avoided_costs, wide, ["T1", "T2"], nb, {"icpc": 1_000.0},
                 {"T1": 20_000, "T2": 10_000}, k=2)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_tornado(ev):
    from sosstats.vfm import one_way

    ow = one_way(lambda a, b: 3 * a - b, {"a": 1e5, "b": 2e5}, {"a": (5e4, 2e5), "b": (1e5, 3e5)})
    return (lambda ax=None: ow.plot(ax=ax)), "axes"


def b_diaries(ev):
    from sosstats.vfm import diary_costs

    res = diary_costs(ev.diaries, 30.0, n_resamples=10, rng=0)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_psa(ev):
    from sosstats.vfm import beta_probability, gamma_cost, psa

    def model(cost, p, value):
        return p * value - cost

    res = psa(model, {"cost": gamma_cost(2_000, 400), "p": beta_probability(0.3, 0.05),
                      "value": 10_000}, n=200, rng=0)
    return (lambda ax=None: res.plot(ax=ax)), "axes"


def b_evppi(ev):
    from sosstats.vfm import cea, evppi

    rng = np.random.default_rng(5)
    n = 400
    t1, t2 = rng.normal(0.05, 0.03, n), rng.normal(1000, 400, n)
    wide = pd.DataFrame({("cost", "usual"): np.full(n, 2000.0), ("cost", "sos"): 2000.0 + t2,
                         ("effect", "usual"): np.full(n, 0.5), ("effect", "sos"): 0.5 + t1})
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    res = cea(draws=wide, reference="usual", wtp=np.array([1e4, 2e4, 3e4, 5e4]))
    out = _quiet(evppi, res, pd.DataFrame({"t1": t1, "t2": t2}), smoother="linear")
    return (lambda ax=None: out.plot(ax=ax)), "axes"


BUILDERS = {name[2:]: fn for name, fn in dict(globals()).items() if name.startswith("b_")}
NEEDS = {"synth_all": "synth_result", "synth_gaps": "synth_result", "cea_plane": "cea_result",
         "cea_ceac": "cea_result", "cea_evpi": "cea_result"}


def _build(name, request):
    ev_ = request.getfixturevalue("ev")
    extra = NEEDS.get(name)
    kwargs = {extra: request.getfixturevalue(extra)} if extra else {}
    return BUILDERS[name](ev_, **kwargs)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_plot_without_ax_makes_one_figure_and_returns_its_axes_or_figure(name, request):
    draw, kind = _build(name, request)
    plt.close("all")
    out = draw()
    fignums = plt.get_fignums()
    assert len(fignums) == 1, f"{name}: {len(fignums)} figures open"
    fig = plt.figure(fignums[0])
    if kind == "axes":
        assert isinstance(out, Axes), type(out)
        assert out.figure is fig
        assert out.has_data() or out.texts or out.images
    else:
        assert isinstance(out, Figure), type(out)
        assert out is fig and out.axes
        # still indexes like the array of Axes these plots used to return
        assert isinstance(np.asarray(out.panels).ravel()[0], Axes)
        assert out.flat[0] is np.asarray(out.panels).ravel()[0]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_plot_draws_into_the_given_ax_and_creates_no_figure(name, request):
    draw, kind = _build(name, request)
    if kind == "figure only":
        pytest.skip("several panels on a new figure; one indicator at a time goes into a "
                    "given ax (the compare_one case)")
    plt.close("all")
    fig = Figure()
    if kind == "axes":
        ax = fig.subplots()
        out = draw(ax=ax)
        assert out is ax
        assert ax.has_data() or ax.texts or ax.images
    else:
        axes = fig.subplots(1, 3, squeeze=False)
        out = draw(ax=axes)
        assert all(o is a for o, a in zip(np.asarray(out).ravel(), axes.ravel()))
        assert any(a.has_data() for a in axes.ravel())
    assert plt.get_fignums() == [], f"{name} opened a pyplot figure though given an ax"


def test_every_public_plot_has_a_builder():
    """A new public plot method must join this contract (add a builder above)."""
    import importlib
    import inspect
    import pkgutil

    import sosstats

    found = set()
    for mod in pkgutil.walk_packages(sosstats.__path__, "sosstats."):
        if ".report" in mod.name or mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for cname, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ \
                    and not cname.startswith("_") and "plot" in vars(obj):
                found.add(f"{module.__name__}.{cname}")
    covered = {
        "sosstats.neighbours.compare.ComparisonResult", "sosstats.neighbours.did.DiDResult",
        "sosstats.neighbours.synth.SyntheticControlResult",
        "sosstats.neighbours.model.FittedNeighbours", "sosstats.matching.balance.Balance",
        "sosstats.matching.result.MatchResult", "sosstats.matching.rosenbaum.RosenbaumResult",
        "sosstats.survey.contrasts.DomainContrastResult",
        "sosstats.weighting.attrition.AttritionWeights",
        "sosstats.weighting.nonresponse.ResponseRates",
        "sosstats.weighting.nonresponse.NonresponseTests",
        "sosstats.weighting.sensitivity.ManskiBounds", "sosstats.weighting.tipping.TippingPoint",
        "sosstats.weighting.imputation.Imputations",
        "sosstats.panel.reliable_change.ReliableChangeResult",
        "sosstats.panel.ordered_logit.OrderedChangeResult", "sosstats.panel.change.ChangeResult",
        "sosstats.design.result.SimulationResult", "sosstats.design.power.PowerCurveResult",
        "sosstats.design.sbc.SBCResult", "sosstats.vfm.cea_result.CEAResult",
        "sosstats.vfm.budget_view.BudgetView", "sosstats.vfm.avoided_result.AvoidedCosts",
        "sosstats.vfm.sensitivity.OneWay", "sosstats.vfm.diary_result.DiaryCosts",
        "sosstats.vfm.psa.PSAResult", "sosstats.vfm.evppi.EVPPIResult",
    }
    # built under @pytest.mark.slow (a sampler) or not yet in the contract, with the reason
    elsewhere = {
        "sosstats.multilevel.results.MultilevelResult": "slow: needs a PyMC fit",
        "sosstats.multilevel.results.PosteriorPredictiveCheck": "slow: needs a PyMC fit",
        "sosstats.multilevel.compare.ModelComparison": "slow: needs two PyMC fits",
        "sosstats.multilevel.sensitivity.PriorSensitivity": "slow: needs a PyMC fit",
    }
    survey_results = {c for c in found if c.startswith("sosstats.survey.results.")
                      or c.startswith("sosstats.survey._agreement")}
    missing = found - covered - set(elsewhere) - survey_results
    assert not missing, f"plot methods without a contract builder: {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["caterpillar", "shrinkage", "ppc"])
def test_multilevel_plots_follow_the_contract(kind):
    from sosstats.multilevel import MultilevelModel

    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(8), 10)
    df = pd.DataFrame({"grp": g, "x": rng.normal(size=80)})
    df["y"] = 0.5 * df["x"] + rng.normal(0, 0.5, 8)[g] + rng.normal(size=80)
    res = _quiet(MultilevelModel("y ~ x", df, levels=["grp"]).fit, draws=100, tune=100,
                 chains=1, rng=1)
    plt.close("all")
    out = res.plot(kind=kind)
    assert isinstance(out, Axes) and plt.get_fignums() == [out.figure.number]
    plt.close("all")
    fig = Figure()
    ax = fig.subplots()
    assert res.plot(ax=ax, kind=kind) is ax and plt.get_fignums() == []


def test_a_plot_that_refuses_its_arguments_leaves_no_figure(ev):
    from sosstats.errors import DataError
    from sosstats.neighbours import StatisticalNeighbours

    fit = StatisticalNeighbours(["deprivation_score", "fsm_pct"], k=5).fit(ev.las)
    plt.close("all")
    with pytest.raises(DataError, match="`la` is needed"):
        fit.plot()                                # kind="bar" needs an LA
    assert plt.get_fignums() == []


def test_caterpillar_labels_las_by_name():
    from sosstats.multilevel._plots import caterpillar

    table = pd.DataFrame({"estimate": [0.1, -0.2], "lower": [-0.5, -0.6],
                          "upper": [0.5, 0.3]}, index=["E06000023", "E06900001"])
    ax = caterpillar(table, "la_code")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["E06900001", "Bristol"]
    named = caterpillar(table, "la_code", names={"E06900001": "Oakford"})
    assert [t.get_text() for t in named.get_yticklabels()] == ["Oakford", "Bristol"]


# -- the shared helpers (sosstats._plotting) ----------------------------------------------------
def test_money_label_and_axis():
    from sosstats._plotting import money_axis, money_label

    assert money_label(1_250_000) == "£1,250,000"
    assert money_label(-30_000) == "\u2212£30,000"
    assert money_label(-0.2) == "£0" and money_label(0.25, decimals=2) == "£0.25"
    assert money_label(float("nan")) == ""
    ax = plt.figure().add_subplot()
    ax.plot([0, 1], [2.0e7, 2.0e7 + 5e4])         # offset territory: "+2e7"
    money_axis(ax, "y")
    ax.figure.canvas.draw()
    assert ax.yaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"£\d{2},\d{3},000", s) for s in labels), labels
    from sosstats.errors import DataError

    with pytest.raises(DataError, match="which"):
        money_axis(ax, "z")


def test_integer_year_axis_never_ticks_half_years():
    from sosstats._plotting import integer_year_axis

    ax = plt.figure().add_subplot()
    ax.plot([2014, 2015, 2016], [1, 2, 3])
    integer_year_axis(ax)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(s.isdigit() and len(s) == 4 for s in labels)
    assert {"2014", "2015", "2016"} <= set(labels)
    ax2 = plt.figure().add_subplot()
    ax2.plot([2014, 2016], [1, 2])
    integer_year_axis(ax2, years=[2014, 2015, 2016])
    assert list(ax2.get_xticks()) == [2014, 2015, 2016]


def test_label_points_is_deterministic_and_checks_lengths():
    from sosstats._plotting import label_points
    from sosstats.errors import DataError

    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=25), rng.uniform(size=25)
    labels = [f"LA number {i}" for i in range(25)]
    offsets = []
    for _ in range(2):
        ax = plt.figure(figsize=(5, 4)).add_subplot()
        ax.scatter(x, y)
        texts = label_points(ax, x, y, labels)
        offsets.append([t.xyann for t in texts])
        boxes = [Text_extent(t) for t in texts if t.get_visible()]
        assert len(boxes) == 25
        assert not any(boxes[i].overlaps(boxes[j]) for i in range(25) for j in range(i + 1, 25))
    assert offsets[0] == offsets[1]
    with pytest.raises(DataError, match="same length"):
        label_points(ax, [1, 2], [1], ["a", "b"])


def Text_extent(t):                                   # noqa: N802 - the label's own box
    from matplotlib.text import Text

    t.figure.canvas.draw()
    return Text.get_window_extent(t)


def test_panel_figure_is_a_figure_that_indexes_like_its_axes_and_pickles():
    import pickle

    from sosstats._plotting import new_figure

    fig, axes = new_figure(2, 2, figsize=(4, 4))
    assert isinstance(fig, Figure) and bool(fig)
    assert fig[1, 0] is axes[1, 0] and fig.shape == (2, 2) and fig.size == 4 and len(fig) == 2
    assert list(fig.flat) == list(axes.flat) and list(fig.ravel()) == list(axes.ravel())
    again = pickle.loads(pickle.dumps(fig))
    assert isinstance(again, Figure) and len(again.axes) == 4
