"""The survey strand (6) of `sosstats reproduce`, run once under --quick on the simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sosstats.errors import DataError
from sosstats.report._context import StrandContext
from sosstats.report._section import Section
from sosstats.report.strands import survey

SEED = 0


@pytest.fixture(scope="module")
def ctx() -> StrandContext:
    return StrandContext(seed=SEED, quick=True)


@pytest.fixture(scope="module")
def section(ctx: StrandContext) -> Section:
    return survey.run(ctx)


def test_contract(section: Section) -> None:
    assert survey.KEY == "survey" == section.key
    assert section.simulated is True
    assert section.question and section.method and section.naive and section.caveats
    assert set(section.tables) == {"tool_use", "tools_by_experience", "tool_tests", "views",
                                   "helpful_contrasts", "agreement", "kappa"}
    assert all(isinstance(t, pd.DataFrame) and len(t) for t in section.tables.values())
    from matplotlib.figure import Figure
    assert set(section.figures) == {"proportions_by_group", "tool_use_by_group",
                                    "helpful_contrasts", "coder_table"}
    assert all(isinstance(f, Figure) and f.axes for f in section.figures.values())
    assert "$" not in section.method + section.naive
    assert "500 resamples" in section.method                 # quick: fewer bootstrap draws


def test_truth(section: Section) -> None:
    truth = section.truth
    assert list(truth.columns[:6]) == ["quantity", "truth", "estimate", "ci_lower", "ci_upper",
                                       "covered"]
    assert len(truth) == 12 and truth["quantity"].is_unique
    inside = (truth["ci_lower"] <= truth["truth"]) & (truth["truth"] <= truth["ci_upper"])
    assert (inside == truth["covered"]).all()
    # 12 nominal 95% intervals: P(two or more miss) is about 0.12 at nominal coverage, P(three
    # or more) 0.02; this seed misses one (a 2-years-plus share with a design effect of 0.02)
    assert (~truth["covered"]).sum() <= 1
    kappa = truth[truth["quantity"].str.startswith("Cohen's kappa")].set_index("quantity")
    assert len(kappa) == 2 and kappa["covered"].all()
    assert (kappa["estimate"] - kappa["truth"]).abs().max() < 0.06
    # the caveats name the interval that misses
    missed = truth.loc[~truth["covered"], "quantity"]
    assert all(any(q in c for c in section.caveats) for q in missed)


def test_design_intervals_wider_than_naive(section: Section) -> None:
    by = section.tables["tools_by_experience"]
    alls = by[by["level"] == "all families"]
    width = alls["ci_upper (%)"] - alls["ci_lower (%)"]
    naive = alls["naive_ci_upper (%)"] - alls["naive_ci_lower (%)"]
    assert (width > naive).mean() >= 5 / 6
    tests = section.tables["tool_tests"]
    assert len(tests) == 7
    assert (tests["naive_pearson_p"] < 0.05).sum() > (tests["rao_scott_p_holm"] < 0.05).sum()


def test_published_beside_simulated(section: Section) -> None:
    pub = section.published
    assert {"quantity", "published", "recomputed", "difference", "source"} <= set(pub.columns)
    assert pub["quantity"].str.contains("SIMULATED").all()
    assert len(pub) == 2 + 21 + 1 + 3 + 3 + 4 + 3
    counts = pub.set_index("published").loc[[165.0, 262.0], "recomputed"]
    assert list(counts) == [165.0, 262.0]
    # the simulator is calibrated to the published shares: within sampling and pilot noise
    shares = pub[pub["quantity"].str.contains("%")]
    assert (shares["difference"].abs() < 15).all()
    assert shares["difference"].abs().median() < 3


def test_kappa_and_agreement(section: Section) -> None:
    k = section.tables["kappa"].set_index("weights")
    assert k.loc["quadratic", "estimate"] > k.loc["unweighted", "estimate"]
    assert (k["df"] == 9).all()
    a = section.tables["agreement"]
    assert "Krippendorff's alpha (nominal)" in set(a["method"])


@pytest.mark.parametrize("name, column", [("worker_survey", "tool_mapping"),
                                          ("family_views", "contact"),
                                          ("case_records", "coder_2")])
def test_user_frame_missing_column(ctx: StrandContext, name: str, column: str) -> None:
    frame = getattr(ctx.evaluation(), name).drop(columns=column)
    with pytest.raises(DataError, match=rf"'{column}'.*frames\['{name}'\]"):
        survey.run(StrandContext(seed=SEED, quick=True, frames={name: frame}))


def test_user_frame_text_experience(ctx: StrandContext) -> None:
    ws = ctx.evaluation().worker_survey
    before = ws.copy()
    user = ws.assign(experience=ws["experience"].astype(str))
    sec = survey.run(StrandContext(seed=SEED, quick=True, frames={"worker_survey": user}))
    # the families' views and case records are still simulated: the banner stays, no truth
    assert sec.simulated is True and sec.truth is None
    assert "the user's `worker_survey` and otherwise `simulate_evaluation" in sec.method
    assert list(dict.fromkeys(sec.tables["tools_by_experience"]["domain"].astype(str))) == [
        "new", "2 years", "2 years plus"]
    pd.testing.assert_frame_equal(ws, before)


def test_unused_answer_level() -> None:
    """Seed 5: no worker answers 'not at all' for danger statements (an unused category).

    The share is 0% with an upper bound; the Rao-Scott test, which refuses an empty row, runs
    on the levels that occur (before, the strand failed with a DataError).
    """
    sec = survey.run(StrandContext(seed=5, quick=True))
    use = sec.tables["tool_use"].set_index(["tool", "use"])
    row = use.loc[("danger_statements", "not at all")]
    assert row["share (%)"] == 0 and 0 < row["ci_upper (%)"] < 10
    tests = sec.tables["tool_tests"].set_index("item")
    assert 0 < tests.loc["tool_danger_statements", "rao_scott_p"] <= 1


def test_domain_df_text_matches_the_data(section: Section) -> None:
    # The caveats said a group lives in "two or three pilots" with "1-2 domain df" while the
    # method and the tools_by_experience table have 3 or 4 pilots and 2 or 3 df; "1 miss";
    # the published rows read "safety planning used with not at all".
    dfs = sorted(set(section.tables["tools_by_experience"]["domain_df"].astype(int)))
    text = section.method + " ".join(section.caveats)
    assert "two or three pilots" not in text and "1-2 domain df" not in text
    expect = f"{dfs[0]} or {dfs[-1]}" if len(dfs) > 1 else f"{dfs[0]}"
    assert f"domain df is {expect}" in section.method
    assert f"has {expect} domain df" in " ".join(section.caveats)
    assert " 1 miss " not in " ".join(section.caveats)
    assert not section.published["quantity"].str.contains("used with not at all").any()
    assert section.published["quantity"].str.contains("not used at all").any()


def test_one_unit_for_shares(section: Section) -> None:
    """Every share in the strand's tables is a percentage in a %-named column.

    tool_use and the published table showed percentages (0-100) while tools_by_experience,
    views, helpful_contrasts, percent agreement and the truth table showed proportions (0-1)
    under the same column names.
    """
    t = section.tables
    share_cols = ["share (%)", "ci_lower (%)", "ci_upper (%)"]
    for name in ("tool_use", "tools_by_experience", "views"):
        table = t[name]
        assert set(share_cols) <= set(table.columns), (name, list(table.columns))
        assert not {"estimate", "percent", "ci_lower", "ci_upper"} & set(table.columns), name
        values = table[[c for c in table.columns if c.endswith("(%)")]]
        assert ((values >= 0) & (values <= 100)).all().all(), name
        assert (table["share (%)"] > 1).any(), name             # percent, not proportions
    # the same share, in the same unit, in the tables and the published comparison
    lib = section.results["tools_by_experience"].tidy()
    np.testing.assert_allclose(t["tools_by_experience"]["share (%)"], 100 * lib["estimate"])
    use = t["tool_use"].set_index(["tool", "use"])
    pub = section.published.set_index("quantity")["recomputed"]
    row = [q for q in pub.index if q.startswith("safety planning used with all families")][0]
    assert use.loc[("safety_planning", "all families"), "share (%)"] == pytest.approx(pub[row])
    # differences of shares in percentage points; the tests' statistics unchanged
    contr = t["helpful_contrasts"].set_index("term")
    assert {"difference (% points)", "ci_lower (% points)", "ci_upper (% points)"} <= set(
        contr.columns)
    raw = section.results["helpful"].tidy().set_index("term")
    assert contr.loc["2 years - rest", "difference (% points)"] == pytest.approx(
        100 * raw.loc["2 years - rest", "estimate"])
    assert contr.loc["2 years - rest", "statistic"] == raw.loc["2 years - rest", "statistic"]
    # percent agreement in %, the chance-corrected coefficients on their own scale
    agree = t["agreement"].set_index("method")
    assert agree.loc["Percent agreement", "unit"] == "%"
    assert 50 < agree.loc["Percent agreement", "estimate"] <= 100
    assert (agree.drop(index="Percent agreement")["unit"] == "coefficient").all()
    assert (agree.drop(index="Percent agreement")["estimate"] <= 1).all()
    # truth: shares in %, the contrast in % points, kappas as coefficients
    truth = section.truth.set_index("quantity")
    shares = truth[truth.index.str.endswith("(%)")]
    assert len(shares) == 9 and (shares["estimate"] > 1).any()
    assert ((shares["truth"] > 0) & (shares["truth"] < 100)).all()
    points = truth[truth.index.str.contains("% points", regex=False)]
    assert len(points) == 1
    assert points["estimate"].iloc[0] == pytest.approx(
        100 * raw.loc["2 years - rest", "estimate"])
