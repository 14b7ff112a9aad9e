"""The value-for-money strand (5) of `sosstats reproduce`, run once under --quick."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError
from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands import vfm

SEED = 0


@pytest.fixture(scope="module")
def ctx() -> StrandContext:
    return StrandContext(seed=SEED, quick=True)


@pytest.fixture(scope="module")
def section(ctx: StrandContext) -> Section:
    return vfm.run(ctx)


def test_contract(section: Section, capsys: pytest.CaptureFixture[str]) -> None:
    from matplotlib.figure import Figure

    assert vfm.KEY == "vfm" == section.key
    assert section.title == vfm.TITLE
    assert section.simulated is True
    assert section.question and section.method and section.naive and section.caveats
    assert set(section.tables) == {"unit_cost", "unit_cost_items", "time_shares", "diary_costs",
                                   "diary_comparison", "avoided_costs", "budget", "one_way",
                                   "psa", "cea", "frontier", "acceptability", "nmb"}
    for name, table in section.tables.items():
        assert isinstance(table, pd.DataFrame) and len(table), name
        assert name == name.lower() and " " not in name
    assert set(section.figures) == {"ceac", "ce_plane", "tornado"}
    for fig in section.figures.values():
        assert isinstance(fig, Figure) and fig.axes
    assert len(section.figures["ceac"].axes) == 2
    assert "$" not in section.method + section.naive + " ".join(section.caveats)
    assert all(isinstance(n, str) for n in section.notes)
    assert {"cea", "budget", "psa", "avoided_costs", "unit_cost"} <= set(section.results)


def test_quiet(ctx: StrandContext, capfd: pytest.CaptureFixture[str]) -> None:
    vfm.run(ctx)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_truth_frame(section: Section) -> None:
    truth = section.truth
    assert list(truth.columns) == ["quantity", "truth", "estimate", "ci_lower", "ci_upper",
                                   "covered"]
    assert truth["quantity"].is_unique
    covered = (truth["ci_lower"] <= truth["truth"]) & (truth["truth"] <= truth["ci_upper"])
    assert (covered == truth["covered"]).all()
    assert truth["covered"].mean() >= 0.8
    t = truth.set_index("quantity")
    # the diaries: six shares, each within 0.02 of the simulator's
    shares = truth[truth["quantity"].str.startswith("share of diary time")]
    assert len(shares) == 6 and shares["truth"].sum() == pytest.approx(1.0)
    assert ((shares["estimate"] - shares["truth"]).abs() < 0.02).all()
    assert t.loc["direct-contact share, 2 years plus - new", "truth"] == 0.0
    # the neighbour gaps: the simulator's pilot effects, estimated below 0
    assert t.loc["gap per 10,000: assessments", "truth"] == -100.0
    assert t.loc["gap per 10,000: ICPCs", "truth"] == -15.0
    assert t.loc["gap per 10,000: assessments", "estimate"] < 0
    cost = t.loc["process costs avoided a year (£, mean unit costs)"]
    assert 0.5 < cost["estimate"] / cost["truth"] < 1.5
    # the CEA increments against their expected values given the families
    inc = truth[truth["quantity"].str.startswith("delta")]
    assert len(inc) == 4 and np.isfinite(inc["truth"]).all()
    assert (inc["ci_lower"] < inc["ci_upper"]).all()


def test_published_beside(section: Section) -> None:
    pub = section.published
    assert {"quantity", "published", "recomputed", "source"} <= set(pub.columns)
    p = pub.set_index("quantity")
    row = p.loc["assessments per 10,000, pilots - neighbours (2015/16)"]
    assert row["published"] == 362 - 497 and "simulated" in row["source"]
    assert p.loc["social workers keeping time diaries", "recomputed"] == 121
    hour = p.loc["social worker cost per working hour (£)"]
    assert hour["published"] == 40 and 35 < hour["recomputed"] < 45
    assert (pub["difference"] == pub["recomputed"] - pub["published"]).all()


def test_cea_tables(section: Section) -> None:
    acc = section.tables["acceptability"].set_index("WTP (£ per re-referral avoided)")
    options = ["new", "2 years", "2 years plus"]
    assert np.allclose(acc[options].sum(axis=1), 1.0)
    assert (acc["EVPI (£ per family)"] >= 0).all()
    assert set(acc["option"]) <= set(options)
    cea = section.tables["cea"].set_index("term")
    icer = cea.loc["icer[2 years vs new]", "estimate"]
    dc = cea.loc["delta_cost[2 years vs new]", "estimate"]
    de = cea.loc["delta_effect[2 years vs new]", "estimate"]
    assert icer == pytest.approx(dc / de)
    # the naive point ICER is in the text, beside the CEAC and EVPI that qualify it
    assert f"£{abs(icer):,.0f}" in section.naive and "perfect information" in section.naive
    nmb = section.tables["nmb"]
    assert set(nmb["WTP (£ per re-referral avoided)"]) == set(acc.index)


def test_budget_and_sensitivity(section: Section) -> None:
    b = section.tables["budget"].set_index("term")["estimate"]
    assert b["npv"] == pytest.approx(b["pv_avoided"] - b["pv_investment"], rel=1e-9)
    ow = section.tables["one_way"]
    assert (ow["swing (£)"].diff().dropna() <= 0).all()          # sorted largest first
    psa = section.tables["psa"].set_index("term")
    assert psa.loc["NPV", "ci_lower"] < psa.loc["NPV", "estimate"] < psa.loc["NPV", "ci_upper"]


def test_user_frame_missing_column(ctx: StrandContext) -> None:
    d = ctx.evaluation().diaries.drop(columns="minutes")
    with pytest.raises(DataError, match=r"'minutes'.*frames\['diaries'\]"):
        vfm.run(StrandContext(seed=SEED, quick=True, frames={"diaries": d}))
    las = ctx.evaluation().las.drop(columns="child_population")
    with pytest.raises(DataError, match=r"'child_population'.*frames\['las'\]"):
        vfm.run(StrandContext(seed=SEED, quick=True, frames={"las": las}))


def test_user_frame_replaces_simulation(ctx: StrandContext, section: Section) -> None:
    diaries = ctx.evaluation().diaries
    before = diaries.copy()
    doubled = diaries.assign(minutes=diaries["minutes"] * 2)
    sec = vfm.run(StrandContext(seed=SEED, quick=True, frames={"diaries": doubled}))
    assert sec.simulated is False and sec.truth is None
    assert "your data" in " ".join(sec.published["source"])
    # shares are ratios of sums: doubling every minute leaves them; the cost per worker doubles
    pd.testing.assert_series_equal(sec.tables["time_shares"]["share"],
                                   section.tables["time_shares"]["share"])
    cost = sec.tables["diary_costs"].set_index("group")["cost per worker (£)"]
    base = section.tables["diary_costs"].set_index("group")["cost per worker (£)"]
    assert cost["all diarists"] == pytest.approx(2 * base["all diarists"], rel=1e-9)
    pd.testing.assert_frame_equal(diaries, before)


def test_cea_truth_is_the_simulators_expectation() -> None:
    """The truth of the CEA rows: P(re-referred), P(removed) integrated over the family effect.

    On 100,000 simulated families the observed shares by experience group match the mean of
    the computed probabilities within 4 binomial SEs (a wrong sign, a missing pilot or worker
    effect, or not integrating the family effect moves them by 10+ SEs).
    """
    from sosstats.datasets import simulate_evaluation
    from sosstats.report.strands.vfm import _expected

    ev = simulate_evaluation(rng=3, n_families=100_000)
    fam, m = ev.families, ev.memberships
    for name in ("rereferred", "removed"):
        spec = ev.truth["families"]["outcomes"][name]
        mix = (m["weight"] * m["worker_id"].map(spec["worker_effect"])).groupby(
            m["family_id"]).sum()
        p = _expected(spec, fam, mix)
        d = pd.DataFrame({"g": fam["experience"].astype(str), "y": fam[f"{name}_t2"], "p": p})
        g = d.groupby("g").agg(y=("y", "mean"), p=("p", "mean"), n=("y", "size"))
        se = np.sqrt(g["y"] * (1 - g["y"]) / g["n"])
        assert ((g["y"] - g["p"]).abs() < 4 * se).all(), (name, g)


def test_npv_point_estimate_is_one_number(section: Section) -> None:
    # The NPV at the point inputs (the tornado's base) is the truth row's estimate and the
    # naive text's figure; the budget's mean over the input draws is named as such (the two
    # were quoted interchangeably: the naive text paired the point NPV with the draws' interval
    # and the truth table compared the draws' mean with a truth at the base inputs).
    ow = section.tables["one_way"].set_index("parameter")
    point = ow.loc["attribution", "NPV at high (£)"]            # attribution's high end is base
    assert ow.loc["attribution", "high"] == 1.0
    truth = section.truth.set_index("quantity")
    row = truth.loc[[q for q in truth.index if q.startswith("5-year NPV")][0]]
    assert row["estimate"] == pytest.approx(point, rel=1e-9)
    mean = section.tables["budget"].set_index("term").loc["npv", "estimate"]
    assert f"£{point:,.0f}" in section.naive
    assert f"mean over the input draws £{mean:,.0f}" in section.naive


def test_ce_plane_axis_labels(section: Section) -> None:
    # The library labelled them 'incremental cost (cost, £)' / '... (not_rereferred)'.
    ax = section.figures["ce_plane"].axes[0]
    assert "not_rereferred" not in ax.get_xlabel() and "re-referred" in ax.get_xlabel()
    assert ax.get_ylabel() == "incremental cost per family (£)"


def test_notes_as_the_other_strands(ctx: StrandContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """The strand takes notes with captured_notes, like the other strands.

    A sosstats warning from a vfm function becomes one note, however often it is raised; any
    other warning goes on to the runner's log instead of becoming a note (the strand's own
    catch turned every warning into a note).
    """
    import warnings

    import sosstats.vfm
    from sosstats.errors import SosstatsWarning

    real = sosstats.vfm.cea

    def cea(*args, **kwargs):
        for _ in range(2):
            warnings.warn("few clusters in the bootstrap", SosstatsWarning, stacklevel=2)
        warnings.warn("divide by zero", RuntimeWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(sosstats.vfm, "cea", cea)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        sec = vfm.run(ctx)
    assert sec.notes.count("few clusters in the bootstrap") == 1
    assert not any("divide by zero" in n for n in sec.notes)


def test_money_columns_name_the_pound(section: Section, ctx: StrandContext) -> None:
    """Every money figure says it is in pounds, by its column or by a ``unit`` column.

    The tables showed costs, NMB, ICERs and unit costs as bare numbers ('cost_per_case',
    'nmb', 'evpi', 'swing'); the numbers themselves are unchanged.
    """
    t = section.tables
    money = {"unit_cost_items": ["cost per year (£)", "cost per working hour (£)",
                                 "cost per direct hour (£)"],
             "diary_costs": ["cost per worker (£)", "cost per direct hour (£)",
                             "cost per case (£)"],
             "avoided_costs": ["unit cost (£)"],
             "one_way": ["NPV at low (£)", "NPV at high (£)", "swing (£)"],
             "frontier": ["cost (£ per family)", "delta cost (£ per family)",
                          "ICER (£ per re-referral avoided)"],
             "acceptability": ["WTP (£ per re-referral avoided)", "EVPI (£ per family)"],
             "nmb": ["WTP (£ per re-referral avoided)", "NMB (£ per family)",
                     "incremental NMB (£ per family)", "ci_lower (£ per family)",
                     "ci_upper (£ per family)"]}
    for name, columns in money.items():
        assert set(columns) <= set(t[name].columns), (name, list(t[name].columns))
    bare = {"cost", "delta_cost", "icer", "nmb", "incremental_nmb", "evpi", "wtp", "swing",
            "outcome_low", "outcome_high", "unit_cost", "per_year", "cost_per_worker",
            "cost_per_case", "cost_per_direct_hour"}
    for name, table in t.items():
        assert not bare & set(table.columns), (name, bare & set(table.columns))
    # tidy tables mix pounds with shares and counts: a unit per row
    cea = t["cea"].set_index("term")["unit"]
    assert cea["cost[new]"] == "£ per family" and cea["effect[new]"] == "share not re-referred"
    assert cea["icer[2 years vs new]"] == "£ per re-referral avoided"
    budget = t["budget"].set_index("term")["unit"]
    assert budget["npv"] == "£" and budget["bcr"] == "ratio"
    assert t["psa"].set_index("term").loc["NPV", "unit"] == "£"
    assert t["one_way"]["unit"].notna().all() and t["psa"]["unit"].notna().all()
    assert t["avoided_costs"].set_index("term").loc["cost[total: pooled]", "unit"] == "£ a year"
    assert set(t["unit_cost"]["unit"]) == {"£ per year", "£ per working hour",
                                           "£ per direct hour"}
    assert t["diary_comparison"]["unit"].notna().all()
    # the numbers are the library's, unchanged
    res = section.results["cea"]
    np.testing.assert_array_equal(t["frontier"]["ICER (£ per re-referral avoided)"],
                                  res.frontier["icer"])
    np.testing.assert_array_equal(t["cea"]["estimate"], res.tidy()["estimate"])
    quantities = section.truth["quantity"]
    assert quantities.str.contains("delta cost (£ per family)", regex=False).sum() == 2
