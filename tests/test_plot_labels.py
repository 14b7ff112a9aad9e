"""Figure wording and layering a review found wrong (issue 16).

* the event study's open 'reference' marker is drawn above the filled estimate markers;
* ``change_plot`` labels its axes in words, keeps its legend beside the axes and lists the
  groups in the category order of the ``by`` column;
* the coefficient plot names the inference as the documents do (``CR2``, ``wild bootstrap``);
* the cost-effectiveness plane labels its axes without raw column names, money in pounds.

The figures are inspected through their Axes (texts, labels, legend entries, zorder).
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from sosstats.datasets import simulate_evaluation


@pytest.fixture(autouse=True)
def _close_all():
    plt.close("all")
    yield
    plt.close("all")


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def families() -> pd.DataFrame:
    return simulate_evaluation(rng=3).families


def _two_waves(fam: pd.DataFrame) -> pd.DataFrame:
    fam = fam.dropna(subset=["sdq_t1", "sdq_t2"])
    return pd.concat([fam.assign(survey_wave="T1", sdq_total=fam["sdq_t1"]),
                      fam.assign(survey_wave="T2", sdq_total=fam["sdq_t2"])],
                     ignore_index=True)


# -- 1. event study: the reference marker over the estimates ---------------------------------
def test_event_study_reference_marker_is_drawn_over_the_estimates():
    from test_plot_contract import _neighbour_world  # the plot contract's neighbour data

    from sosstats.neighbours import neighbour_did

    long, treated, start, ranking = _neighbour_world()
    res = _quiet(neighbour_did, long, treated, ranking, indicator="rate", start_year=start,
                 k=4)
    ax = res.plot()
    ref = [ln for ln in ax.get_lines() if ln.get_label() == "reference"]
    assert len(ref) == 1
    assert list(ref[0].get_xdata()) == [res.reference_event]
    assert ref[0].get_markerfacecolor() in ("white", "w", (1.0, 1.0, 1.0, 1.0))
    estimate = ax.containers[0]                      # the errorbar of the estimates
    drawn = [estimate.lines[0], *estimate.lines[1], *estimate.lines[2]]
    assert ref[0].get_zorder() == 3
    assert ref[0].get_zorder() > max(a.get_zorder() for a in drawn if a is not None)


# -- 2. change_plot: words on the axes, legend beside them, category order --------------------
def test_change_plot_axis_labels_are_words_not_column_names(families):
    from sosstats.panel import change_plot

    long = _two_waves(families)
    ax = _quiet(change_plot, long, "sdq_total", "survey_wave", by="experience",
                entity="family_id", cluster="la_code")
    assert ax.get_xlabel() == "survey wave"
    assert ax.get_ylabel() == "mean sdq total\n(95% CI, CR2 by la_code, Satterthwaite df)"
    assert "_" not in ax.get_xlabel() and "sdq_total" not in ax.get_ylabel()
    assert ax.get_legend().get_title().get_text() == "experience"


def test_change_plot_legend_sits_beside_the_axes(families):
    from sosstats.panel import change_plot

    ax = _quiet(change_plot, _two_waves(families), "sdq_total", "survey_wave",
                by="experience", entity="family_id")
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend()
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= ax.bbox.x1 - 1                  # right of the plotting area, not over it
    # the figure it made keeps the legend inside the figure (constrained layout)
    assert box.x1 <= fig.bbox.x1 + 1


def test_change_plot_legend_follows_the_category_order(families):
    from sosstats.panel import change_plot

    long = _two_waves(families)
    assert list(long["experience"].cat.categories) == ["new", "2 years", "2 years plus"]
    ax = _quiet(change_plot, long, "sdq_total", "survey_wave", by="experience",
                entity="family_id")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["new", "2 years",
                                                                   "2 years plus"]
    # an unordered Categorical keeps its categories' order too
    long["grade"] = pd.Categorical(np.where(long["cohort"] == 1, "zeta", "alpha"),
                                   categories=["zeta", "alpha"])
    ax = _quiet(change_plot, long, "sdq_total", "survey_wave", by="grade",
                entity="family_id")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["zeta", "alpha"]


def test_change_plot_lines_keep_their_group_after_reordering(families):
    from sosstats.panel import change_means, change_plot

    long = _two_waves(families)
    table = _quiet(change_means, long, "sdq_total", "survey_wave", by="experience",
                   entity="family_id")
    ax = _quiet(change_plot, long, "sdq_total", "survey_wave", by="experience",
                entity="family_id")
    for text in ax.get_legend().get_texts():
        group = text.get_text()
        drawn = [c for c in ax.containers if c.get_label() == group]
        assert len(drawn) == 1
        want = table.loc[table["experience"] == group, "mean"].to_numpy(float)
        np.testing.assert_allclose(drawn[0].lines[0].get_ydata(), want)


def test_change_plot_text_groups_in_order_of_first_appearance(families):
    from sosstats.panel import change_plot

    long = _two_waves(families)
    long["size"] = np.where(long["cohort"] == long["cohort"].iloc[0], "small", "large")
    ax = _quiet(change_plot, long, "sdq_total", "survey_wave", by="size", entity="family_id")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["small", "large"]


# -- 3. coefficient plot: the inference as the documents write it -----------------------------
@pytest.mark.parametrize(("inference", "shown"), [("cr2", "CR2"), ("cr1", "CR1"),
                                                  ("cr3", "CR3"), ("wild", "wild bootstrap")])
def test_coefficient_plot_names_the_inference(families, inference, shown):
    from sosstats.panel import change_model

    fam = families.dropna(subset=["sdq_t1", "sdq_t2"])
    long = pd.concat([fam.assign(wave=1, sdq=fam["sdq_t1"]),
                      fam.assign(wave=2, sdq=fam["sdq_t2"])])
    res = _quiet(change_model, "sdq ~ C(experience)", long, entity="family_id", time="wave",
                 cluster="la_code", inference=inference)
    ax = res.plot()
    assert ax.get_xlabel() == f"estimate (95% interval, {shown})"


# -- 4. CEA plane: no raw column names, money in pounds ----------------------------------------
def _cea(cost: str, effect: str):
    from sosstats.vfm import cea

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["usual", "sos"], 80), cost: rng.gamma(2, 1e4, 80),
                       effect: rng.integers(0, 2, 80)})
    return _quiet(cea, df, cost=cost, effect=effect, group="g", n_resamples=30, rng=0)


def test_cea_plane_labels_have_no_raw_column_names():
    ax = _cea("cost", "not_rereferred").plot(kind="plane")
    assert ax.get_xlabel() == "incremental effect (not rereferred)"
    assert ax.get_ylabel() == "incremental cost (£)"


def test_cea_plane_names_a_cost_column_that_says_more_than_cost():
    ax = _cea("total_spend", "effect").plot(kind="plane")
    assert ax.get_xlabel() == "incremental effect"
    assert ax.get_ylabel() == "incremental cost: total spend (£)"
