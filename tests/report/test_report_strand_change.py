"""The change strand (2) of `sosstats reproduce`, run once under --quick on the simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError
from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands import change

SEED = 0


@pytest.fixture(scope="module")
def ctx() -> StrandContext:
    return StrandContext(seed=SEED, quick=True)


@pytest.fixture(scope="module")
def section(ctx: StrandContext) -> Section:
    return change.run(ctx)


def test_contract(section: Section) -> None:
    assert change.KEY == "change" == section.key
    assert section.title == change.TITLE
    assert section.simulated is True
    assert section.question and section.method and section.naive and section.caveats
    assert set(section.tables) >= {"coefficients", "mean_change", "joint_tests", "contrasts",
                                   "binary_change"}
    for name, table in section.tables.items():
        assert isinstance(table, pd.DataFrame) and len(table), name
        assert name == name.lower() and " " not in name
    from matplotlib.figure import Figure
    assert set(section.figures) == {"coefficient_plot", "intervals", "change_by_group"}
    assert not set(section.tables) & set(section.figures)   # captions are keyed by name
    for fig in section.figures.values():
        assert isinstance(fig, Figure) and fig.axes
    assert "$" not in section.method + section.naive   # no LaTeX: the HTML has no MathJax
    assert all(isinstance(n, str) for n in section.notes)
    # the few-cluster warning of the CR1 fit is captured, not lost
    assert any("CR1" in n for n in section.notes)


def test_truth_frame(section: Section) -> None:
    truth = section.truth
    assert list(truth.columns[:6]) == ["quantity", "truth", "estimate", "ci_lower", "ci_upper",
                                       "covered"]
    assert len(truth) == 8 and truth["quantity"].is_unique
    assert (truth["ci_lower"] < truth["estimate"]).all()
    assert (truth["estimate"] < truth["ci_upper"]).all()
    covered = (truth["ci_lower"] <= truth["truth"]) & (truth["truth"] <= truth["ci_upper"])
    assert (covered == truth["covered"].astype(bool)).all()
    # CR2 and the wild bootstrap are built to cover: with 8 intervals all should here
    assert truth["covered"].all()
    # SDQ: the change is -1.5 for every family, cohort and experience change it by 0
    sdq = truth[truth["quantity"].str.contains("SDQ")]
    assert set(sdq["truth"]) == {-1.5, 0.0}
    mean = truth[truth["quantity"].str.startswith("mean SDQ change")].iloc[0]
    assert mean["truth"] == -1.5 and abs(mean["estimate"] + 1.5) < 0.6


def test_estimates_near_truth(section: Section) -> None:
    coef = section.tables["coefficients"]
    cr2 = coef[coef["inference"].str.startswith("CR2")].set_index("term")
    assert list(cr2.index) == ["Intercept", "C(cohort)[T.2]", "C(experience)[T.2 years]",
                               "C(experience)[T.2 years plus]"]
    z = (cr2["estimate"] - cr2["truth"]) / cr2["std_error"]
    assert (z.abs() < 3.5).all(), z
    # every kind of inference has the same point estimates
    assert coef.groupby("term")["estimate"].nunique().eq(1).all()


def test_naive_intervals_narrower_than_cr2(section: Section) -> None:
    coef = section.tables["coefficients"].set_index(["inference", "term"])["ci_width"]
    cr1 = coef.xs(change.INFERENCE_LABELS["cr1"])
    cr2 = coef.xs(change.INFERENCE_LABELS["cr2"])
    assert (cr1 < cr2).all()
    assert "CR1" in section.naive and f"{section.tables['joint_tests']['p_value'].iloc[0]:.3f}" \
        in section.naive


def test_joint_tests(section: Section) -> None:
    joint = section.tables["joint_tests"].set_index("test")
    assert list(joint.index) == ["f", "htz", "wild"]
    assert (joint["df_num"] == 2).all()
    assert joint.loc["f", "df_denom"] == 9
    assert 1 < joint.loc["htz", "df_denom"] < 9          # HTZ: few denominator df
    assert ((joint["p_value"] > 0) & (joint["p_value"] <= 1)).all()


def test_mean_change_wild_enumerated(section: Section) -> None:
    mean = section.tables["mean_change"].set_index("inference")
    wild = mean.loc[change.INFERENCE_LABELS["wild"]]
    assert "1,024 sign vectors" in wild["p_value_text"]


def test_published_beside_simulated(section: Section) -> None:
    pub = section.published
    assert {"quantity", "published", "recomputed", "source"} <= set(pub.columns)
    assert pub["quantity"].str.contains("simulated").all()
    assert pub["source"].str.contains("SIMULATED").all()
    fewer = pub[pub["quantity"].str.contains("fewer concerns")].iloc[0]
    assert fewer["published"] == 63.0 and 40 < fewer["recomputed"] < 85


def test_binary_change(section: Section) -> None:
    b = section.tables["binary_change"]
    assert set(b["outcome"]) == {"shared understanding", "knows the goals"}
    assert (b.loc[b["term"] == "time", "truth"].to_numpy() == [0.2, 0.3]).all()


def test_user_frame_missing_column(ctx: StrandContext) -> None:
    families = ctx.evaluation().families.drop(columns="sdq_t2")
    user = StrandContext(seed=SEED, quick=True, frames={"families": families})
    with pytest.raises(DataError, match=r"'sdq_t2'.*frames\['families'\]"):
        change.run(user)


def test_user_frame_replaces_simulation(ctx: StrandContext) -> None:
    fam = ctx.evaluation().families
    before = fam.copy()
    # a user's frame with experience as plain text: 'new' must stay the reference group
    user_frame = fam.assign(experience=fam["experience"].astype(str),
                            sdq_t2=fam["sdq_t2"] + 1.0)
    sec = change.run(StrandContext(seed=SEED, quick=True, frames={"families": user_frame}))
    assert sec.simulated is False and sec.truth is None
    mean = sec.tables["mean_change"]["estimate"].iloc[0]
    sim = change.run(StrandContext(seed=SEED, quick=True)).tables["mean_change"]
    assert mean == pytest.approx(sim["estimate"].iloc[0] + 1.0)
    assert "C(experience)[T.2 years plus]" in set(sec.tables["coefficients"]["term"])
    pd.testing.assert_frame_equal(fam, before)      # the caller's data untouched
    assert np.isfinite(sec.tables["coefficients"]["estimate"]).all()


def test_separation_falls_back_and_is_noted() -> None:
    """Seed 2: every discordant '2 years plus' family changes one way on knowing the goals.

    The conditional logit by experience is then not estimable (DesignError); the strand fits
    the time effect alone, says so in the notes and labels the truth row accordingly (before,
    the whole strand failed).
    """
    sec = change.run(StrandContext(seed=2, quick=True))
    assert any("knows the goals by experience group not estimable" in n for n in sec.notes)
    b = sec.tables["binary_change"]
    assert list(b.loc[b["outcome"] == "knows the goals", "term"]) == ["time"]
    row = sec.truth[sec.truth["quantity"].str.startswith("knows the goals")].iloc[0]
    assert "without experience" in row["quantity"] and row["truth"] == 0.3


def test_figure_and_note_words_are_the_reports(section: Section) -> None:
    # The library plots labelled with column names and lower case ('t1', 'sdq', 'family_id',
    # 'la_code', 'cr2'); the CR1 warning read as if the strand used CR1.
    ax = section.figures["change_by_group"].axes[0]
    words = " ".join([ax.get_title(), ax.get_ylabel(), ax.get_xlabel()]
                     + [t.get_text() for t in ax.get_xticklabels()])
    for raw in ("family_id", "la_code", "sdq", "t1", "t2"):
        assert raw not in words, raw
    assert {"T1", "T2"} <= {t.get_text() for t in ax.get_xticklabels()}
    legend = ax.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 > ax.bbox.x1 - 1
    assert "CR2" in section.figures["coefficient_plot"].axes[0].get_xlabel()
    cr1 = [n for n in section.notes if "CR1" in n]
    assert cr1 and all(n.startswith("From the CR1 fit shown for comparison") for n in cr1)
