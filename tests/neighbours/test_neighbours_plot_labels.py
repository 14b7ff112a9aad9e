"""Neighbour plots fit for a report: LA names, non-overlapping funnel labels, integer years."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from sosstats._plotting import la_names
from sosstats.datasets import load_statistical_neighbours
from sosstats.neighbours import funnel_plot, neighbour_did, synthetic_control
from sosstats.neighbours.plots import forest_plot
from sosstats.neighbours.ranking import NeighbourRanking

CODES = load_statistical_neighbours()["la_code"].drop_duplicates().sort_values().tolist()


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _label_boxes(ax):
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    # Text.get_window_extent: the label's own box (an Annotation's would include its leader)
    return [Text.get_window_extent(t, renderer) for t in ax.texts
            if t.get_visible() and t.get_text()]


def _overlapping(boxes):
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])]


def _tick_labels(axis):
    axis.axes.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def test_la_names_maps_gss_and_old_codes_and_falls_back():
    assert la_names(["E06000023", "801", "E10000020"]) == ["Bristol", "Bristol", "Norfolk"]
    assert la_names(["E06000023"], short=False) == ["Bristol, City of"]
    assert la_names(["E99999999", "x"]) == ["E99999999", "x"]
    frame = pd.DataFrame({"la_code": ["E06900001"], "la_name": ["Oakford"]})
    assert la_names(["E06900001", "E06000023"], names=frame) == ["Oakford", "Bristol"]


def test_forest_plot_shows_la_names_not_codes():
    per_la = pd.DataFrame({"la_code": ["E06000023", "E08000036", "E99999999"],
                           "difference": [1.0, -0.5, 0.2]})
    ax = forest_plot(per_la, estimate=0.2, lower=-0.5, upper=0.9)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Bristol", "Wakefield", "E99999999", "pooled"]
    ax = forest_plot(per_la, estimate=0.2, lower=-0.5, upper=0.9, show_names=False)
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "E06000023"


def _crowded_funnel_data():
    """Twenty LAs of nearly equal population far above the limits: labels would pile up."""
    rng = np.random.default_rng(3)
    n = 60
    pop = rng.uniform(40_000, 60_000, n)
    pop[:20] = 50_000 + np.arange(20) * 150.0          # 20 outliers almost on one spot
    count = rng.poisson(40 * pop / 1e4).astype(float)
    count[:20] = 3 * 40 * pop[:20] / 1e4 + np.arange(20)
    return pd.DataFrame({"la_code": CODES[:n], "n": count, "pop": pop})


def test_funnel_labels_are_names_and_do_not_overlap():
    data = _crowded_funnel_data()
    ax = funnel_plot(data, count="n", population="pop", max_labels=20)
    boxes = _label_boxes(ax)
    shown = {t.get_text() for t in ax.texts if t.get_text()}
    assert len(boxes) == 20
    assert _overlapping(boxes) == []
    assert shown == set(la_names(data["la_code"][:20]))
    assert not shown & set(data["la_code"])               # names, not GSS codes
    # the labels stay inside the figure
    fig_box = ax.figure.bbox
    assert all(b.x0 >= fig_box.x0 - 1 and b.x1 <= fig_box.x1 + 1 for b in boxes)


def test_funnel_population_axis_has_plain_numbers():
    ax = funnel_plot(_crowded_funnel_data(), count="n", population="pop")
    labels = _tick_labels(ax.xaxis) + [t.get_text() for t in ax.xaxis.get_minorticklabels()
                                        if t.get_text()]
    assert labels and all("$" not in s and "e" not in s for s in labels)
    assert any("," in s for s in labels)
    assert ax.xaxis.get_offset_text().get_text() == ""


def _panel(years, start_year, seed=0):
    rng = np.random.default_rng(seed)
    codes = CODES[:14]
    x = rng.normal(size=len(codes))
    y = 50 + 10 * x[:, None] + rng.normal(0, 1, (len(codes), len(years)))
    long = pd.DataFrame({"la_code": np.repeat(codes, len(years)),
                         "year": np.tile(years, len(codes)), "indicator": "rate",
                         "value": y.ravel()})
    ranking = NeighbourRanking.from_distances(np.array(codes, dtype=object),
                                              np.abs(x[:, None] - x[None, :]))
    treated = codes[:2]
    return long, treated, {c: start_year for c in treated}, ranking


def _assert_integer_years(axis):
    labels = _tick_labels(axis)
    assert labels, "no tick labels"
    for s in labels:
        assert s.replace("\u2212", "-").lstrip("-").isdigit(), s


def test_event_study_ticks_are_whole_years():
    long, treated, start, ranking = _panel(np.arange(2013, 2017), 2015)
    res = neighbour_did(long, treated, ranking, indicator="rate", start_year=start, k=4)
    ax = res.plot()
    _assert_integer_years(ax.xaxis)                       # event times -2..1, no "-1.5"


@pytest.mark.filterwarnings("ignore:synthetic control is poorly identified")
@pytest.mark.parametrize("la, kind", [(None, "paths"), (0, "paths"), (0, "gaps")])
def test_synthetic_control_ticks_are_whole_years_and_legend_names(la, kind):
    long, treated, start, _ = _panel(np.arange(2012, 2017), 2015)
    res = synthetic_control(long, treated, indicator="rate", start_year=start, n_draws=20,
                            rng=1, progress=False)
    code = None if la is None else treated[la]
    ax = res.plot(code, kind=kind)
    _assert_integer_years(ax.xaxis)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    wanted = la_names(treated) if la is None else la_names([code])
    assert all(any(w in s for s in legend) for w in wanted)
    assert not any(c in s for s in legend for c in treated)


def test_neighbour_bar_plot_names_the_neighbours():
    from sosstats.neighbours import from_published

    table = load_statistical_neighbours()
    fit = from_published(table, k=10)
    ax = fit.plot(la="E06000023")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Bristol" in ax.get_title()
    assert labels and not any(s.startswith("E0") or s.startswith("E1") for s in labels)


def test_names_frame_without_the_columns_is_refused():
    from sosstats.errors import DataError

    per_la = pd.DataFrame({"la_code": ["E06000023"], "difference": [1.0]})
    with pytest.raises(DataError, match="'la_name'"):
        forest_plot(per_la, estimate=0.0, lower=-1, upper=1,
                    names=pd.DataFrame({"code": ["E06000023"]}))
    assert plt.get_fignums() == []                        # refused before drawing
    ax = forest_plot(per_la, estimate=0.0, lower=-1, upper=1, names={"E06000023": "Brizzle"})
    assert ax.get_yticklabels()[0].get_text() == "Brizzle"
