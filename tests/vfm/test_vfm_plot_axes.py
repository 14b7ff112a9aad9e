"""vfm figures fit for a report: pounds with thousands separators, no offsets, CEAC colours."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from sosstats.vfm.avoided import avoided_costs
from sosstats.vfm.budget import budget
from sosstats.vfm.cea import cea
from sosstats.vfm.diaries import diary_costs
from sosstats.vfm.sensitivity import one_way

# "£1,250,000", "−£30,000", "£0": a pound sign, digits in groups of three, no exponent
MONEY = re.compile(r"^\u2212?£\d{1,3}(,\d{3})*(\.\d+)?$")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _labels(axis):
    axis.axes.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def _assert_money(axis):
    labels = _labels(axis)
    assert labels, "no tick labels"
    assert all(MONEY.match(s) for s in labels), labels
    assert axis.get_offset_text().get_text() == ""


def _big_trial(seed=0):
    """Costs in the millions (offset and 1e6 notation territory) and a small effect."""
    rng = np.random.default_rng(seed)
    n = 90
    return pd.DataFrame({"g": np.repeat(["a", "b", "c"], n // 3),
                         "c": 2e7 + rng.normal(0, 2e5, n) + np.repeat([0, 3e5, 6e5], n // 3),
                         "e": rng.normal(0, 1, n) + np.repeat([0, 0.5, 1.0], n // 3)})


@pytest.fixture(scope="module")
def cea_result():
    return cea(_big_trial(), cost="c", effect="e", group="g", n_resamples=60, rng=0,
               wtp=np.linspace(0, 5e6, 21))


def test_plane_cost_axis_in_pounds(cea_result):
    _assert_money(cea_result.plot(kind="plane").yaxis)


def test_ceac_wtp_axis_in_pounds(cea_result):
    _assert_money(cea_result.plot(kind="ceac").xaxis)


def test_evpi_axes_in_pounds(cea_result):
    ax = cea_result.plot(kind="evpi")
    _assert_money(ax.xaxis)
    _assert_money(ax.yaxis)


def test_ceac_line_colours_match_legend_and_the_plane(cea_result):
    fig, (left, right) = plt.subplots(1, 2)
    right.plot([0, 1], [0, 1])                  # an axes already used must not shift colours
    cea_result.plot(ax=left, kind="plane")
    ax = cea_result.plot(ax=right, kind="ceac")
    legend = ax.get_legend()
    handles = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles))
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    options = [str(o) for o in cea_result.options]
    for option in options:
        assert to_rgba(lines[option].get_color()) == to_rgba(handles[option].get_color())
    # the same option has the same colour on the plane
    plane = {c.get_label().split(" vs ")[0]: c for c in left.collections if " vs " in c.get_label()}
    assert set(plane) == set(options[1:])
    for option, cloud in plane.items():
        assert to_rgba(cloud.get_facecolor()[0], 1) == to_rgba(lines[option].get_color())
    assert len({lines[o].get_color() for o in options}) == len(options)


def test_budget_axis_in_pounds():
    view = budget([2.5e7, 0.0, 0.0], [0.0, 1.3e7, 1.4e7], years=["14/15", "15/16", "16/17"])
    ax = view.plot()
    _assert_money(ax.yaxis)
    assert "£" in ax.get_title()


def test_avoided_axis_in_pounds():
    wide = pd.DataFrame({"la_code": ["E06000023", "T2", "N1", "N2", "N3", "N4", "N5", "N6"],
                         "icpc": [40.0, 80, 50, 70, 10, 70, 60, 5],
                         "cpp": [30.0, 25, 40, 30, 99, 30, 40, 99]})
    nb = pd.DataFrame({"la_code": ["E06000023"] * 3 + ["T2"] * 3,
                       "neighbour": ["N1", "N2", "N3", "N4", "N5", "N6"], "rank": [1, 2, 3] * 2})
    res = avoided_costs(wide, ["E06000023", "T2"], nb, {"icpc": 150_000.0, "cpp": 200_000.0},
                        {"E06000023": 200_000, "T2": 100_000}, k=2)
    ax = res.plot()
    _assert_money(ax.xaxis)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Bristol", "T2", "pooled"]


def test_tornado_axis_in_pounds():
    def npv(saving, cost):
        return 4 * saving - cost

    ow = one_way(npv, {"saving": 5e6, "cost": 1e6}, {"saving": (4e6, 6e6), "cost": (8e5, 1.2e6)},
                 name="NPV")
    ax = ow.plot()
    _assert_money(ax.xaxis)
    assert "£19,000,000" in ax.get_title()
    ranges = [t.get_text() for t in ax.get_yticklabels()]
    assert "saving (4,000,000 to 6,000,000)" in ranges           # not "4e+06 to 6e+06"
    assert not any("e+" in s for s in ranges)
    plain = ow.plot(money=False)
    labels = _labels(plain.xaxis)
    assert all("£" not in s and "e" not in s for s in labels)
    assert plain.xaxis.get_offset_text().get_text() == ""


def test_diary_shares_in_per_cent():
    d = pd.DataFrame({"worker_id": [1, 1, 2, 2], "activity": ["direct contact", "travel"] * 2,
                      "minutes": [60.0, 30, 20, 40]})
    ax = diary_costs(d, 30.0, n_resamples=10, rng=0).plot()
    labels = _labels(ax.xaxis)
    assert labels[0] == "0%" and labels[-1] == "100%"


def test_ceac_frontier_lies_under_the_option_curves(cea_result):
    """A translucent frontier drawn on top changed the colour of the curve it followed."""
    ax = cea_result.plot(kind="ceac")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    front = lines.pop("frontier (CEAF)")
    assert front.get_alpha() in (None, 1.0)
    assert all(front.get_zorder() < ln.get_zorder() for ln in lines.values())


@pytest.mark.parametrize("kind", ["ceac", "evpi"])
def test_money_tick_labels_do_not_run_into_each_other(cea_result, kind):
    ax = cea_result.plot(kind=kind)
    ax.figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()
             and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert len(boxes) >= 3
    assert not any(boxes[i].overlaps(boxes[i + 1]) for i in range(len(boxes) - 1))
