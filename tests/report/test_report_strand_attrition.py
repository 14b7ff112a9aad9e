"""The attrition strand (3) of `sosstats reproduce`, run once under --quick on the simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError
from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands import attrition

SEED = 0


@pytest.fixture(scope="module")
def ctx() -> StrandContext:
    return StrandContext(seed=SEED, quick=True)


@pytest.fixture(scope="module")
def section(ctx: StrandContext) -> Section:
    return attrition.run(ctx)


def test_contract(section: Section) -> None:
    assert attrition.KEY == "attrition" == section.key
    assert section.simulated is True
    assert section.question and section.method and section.naive and section.caveats
    assert set(section.tables) == {"response_rates", "response_tests", "nonresponse", "weights",
                                   "balance", "t2_estimates", "weighting_effect", "bounds",
                                   "tipping_point"}
    for name, table in section.tables.items():
        assert isinstance(table, pd.DataFrame) and len(table), name
    from matplotlib.figure import Figure
    assert set(section.figures) == {"love_plot", "weighted_vs_unweighted", "sensitivity"}
    assert all(isinstance(f, Figure) and f.axes for f in section.figures.values())
    assert not set(section.tables) & set(section.figures)   # captions are keyed by name
    assert "$" not in section.method + section.naive
    assert "60 Rao-Wu bootstrap resamples" in section.method   # quick: fewer replicates


def test_counts_and_published(ctx: StrandContext, section: Section) -> None:
    fam = ctx.evaluation().families
    rates = section.tables["response_rates"].set_index(["variable", "level"])
    assert rates.loc[("(all)", "(all)"), "n"] == len(fam) == 270
    assert rates.loc[("(all)", "(all)"), "respondents"] == int(fam["responded_t2"].sum())
    pub = section.published.set_index("published")
    assert {270.0, 184.0, 32.0} == set(pub.index)
    assert pub.loc[184.0, "recomputed"] == fam["responded_t2"].sum()
    assert section.published["quantity"].str.contains("simulated").all()
    assert section.published["source"].str.contains("SIMULATED").all()


def test_weights_balance(section: Section) -> None:
    w = section.tables["weights"].set_index("method")
    # entropy balancing meets the means exactly; the logit weights nearly
    assert w.loc["entropy balancing", "max_abs_smd_after"] < 1e-6
    assert w.loc["logit propensity", "max_abs_smd_after"] < 0.05
    assert (w["max_abs_smd_after"] < w["max_abs_smd_before"]).all()
    assert ((w["design_effect"] > 1) & (w["design_effect"] < 1.5)).all()


def test_truth(section: Section) -> None:
    truth = section.truth
    assert list(truth.columns[:6]) == ["quantity", "truth", "estimate", "ci_lower", "ci_upper",
                                       "covered"]
    assert truth["quantity"].is_unique and len(truth) == 14
    inside = (truth["ci_lower"] <= truth["truth"]) & (truth["truth"] <= truth["ci_upper"])
    assert (inside == truth["covered"]).all()
    weighted = truth[truth["quantity"].str.endswith("attrition-weighted")]
    assert len(weighted) == 6 and weighted["covered"].all()
    # Manski's identified set contains the truth by construction: a check of the bookkeeping
    assert truth[truth["quantity"].str.contains("Manski")]["covered"].all()
    # SDQ at T2: the respondents look better (lower SDQ) than all families; weighting closes
    # most of the gap
    sdq = truth[truth["quantity"].str.startswith("SDQ at T2")].set_index("method")
    cc = sdq.loc["complete case, families independent"]
    wt = sdq.loc["weighted, replicate SE"]
    assert cc["estimate"] < cc["truth"]
    assert abs(wt["estimate"] - wt["truth"]) < 0.5 * abs(cc["estimate"] - cc["truth"])


def test_sensitivity(section: Section) -> None:
    s = section.tables["tipping_point"].iloc[0]
    assert s["mar_ci_upper"] < 0                       # the SDQ fall is significant at MAR
    assert 0 < s["tipping_point"] < s["estimate_tipping_point"]
    # in the simulator attrition is MAR: the true delta is small, far inside the tipping point
    assert abs(s["true_delta"]) < 1.0 < s["tipping_point"]


def test_weighting_effect(section: Section) -> None:
    e = section.tables["weighting_effect"].set_index("outcome")
    assert e.loc["SDQ at T2 (0-40)", "difference"] > 0
    assert (e["df"] == 9).all()


def test_user_frame_missing_column(ctx: StrandContext) -> None:
    fam = ctx.evaluation().families.drop(columns="responded_t2")
    with pytest.raises(DataError, match=r"'responded_t2'.*frames\['families'\]"):
        attrition.run(StrandContext(seed=SEED, quick=True, frames={"families": fam}))


def test_user_frame_without_optional_outcomes(ctx: StrandContext) -> None:
    fam = ctx.evaluation().families
    user = fam[list(attrition.FRAMES["families"])]
    sec = attrition.run(StrandContext(seed=SEED, quick=True, frames={"families": user}))
    assert sec.simulated is False and sec.truth is None
    assert set(sec.tables["t2_estimates"]["column"]) == {"sdq_t2", "sdq_change"}
    assert set(sec.figures) == {"love_plot", "weighted_vs_unweighted", "sensitivity"}
    assert list(user.columns) == list(attrition.FRAMES["families"])   # caller's frame intact


@pytest.mark.slow
def test_full_run(ctx: StrandContext) -> None:
    """Without quick: 400 replicates of the pilots; the weighted T2 intervals still cover."""
    sec = attrition.run(StrandContext(seed=SEED, quick=False))
    assert "400 Rao-Wu bootstrap resamples" in sec.method
    weighted = sec.truth[sec.truth["quantity"].str.endswith("attrition-weighted")]
    assert weighted["covered"].all()


def test_sensitivity_figure_uses_the_reports_words(section) -> None:
    # The library plots labelled with column names ('shared_understanding_t2', 'mean of
    # sdq_change') and a single y tick 'all'.
    fig = section.figures["sensitivity"]
    for ax in fig.axes:
        words = " ".join([ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
                         + [t.get_text() for t in ax.get_yticklabels()])
        for raw in ("shared_understanding_t2", "sdq_change", "sdq_t2"):
            assert raw not in words, (raw, words)
    assert "shared understanding at T2" in fig.axes[0].get_xlabel()


def test_love_plot_rows_in_words(section: Section) -> None:
    # The rows were labelled with the column names ('agency_worker', 'sdq_t1'); the points
    # must stay those of the library's love plot, row for row.
    from matplotlib.figure import Figure

    ax = section.figures["love_plot"].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "agency worker" in labels and "previous referral" in labels
    assert "SDQ at T1 (0-40)" in labels
    assert not any("_" in label for label in labels)
    library = Figure().add_subplot()
    section.results["logit"].plot(ax=library)
    raw = [t.get_text() for t in library.get_yticklabels()]
    assert labels == [attrition._covariate_label(c) for c in raw]
    assert list(ax.get_yticks()) == list(library.get_yticks())
    for ours, theirs in zip(ax.collections, library.collections):
        np.testing.assert_array_equal(ours.get_offsets(), theirs.get_offsets())
