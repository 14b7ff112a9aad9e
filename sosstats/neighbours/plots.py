"""Drawing for :mod:`sosstats.neighbours`: forest plot of per-LA differences, funnel plot.

matplotlib is imported inside each function so that ``import sosstats`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sosstats._plotting import la_names, label_points, new_axes, plain_axis
from sosstats.errors import DataError

__all__ = ["forest_plot", "draw_funnel"]


def _labels(frame: pd.DataFrame, code: str, names: Any, show_names: bool) -> list[str]:
    """LA names for the codes in ``frame[code]`` (a ``la_name`` column first), else the codes."""
    codes = frame[code].astype(str).tolist()
    if not show_names:
        return codes
    extra = dict(names) if isinstance(names, Mapping) else {}
    if isinstance(names, pd.DataFrame):
        if "la_code" not in names or "la_name" not in names:
            raise DataError("`names` must have columns 'la_code' and 'la_name'; it has "
                            f"{', '.join(map(str, names.columns))}.")
        extra = dict(zip(names["la_code"].astype(str), names["la_name"].astype(str)))
    if code == "la_code" and "la_name" in frame:
        own = dict(zip(codes, frame["la_name"].astype(str)))
        extra = {**own, **extra}
    return la_names(codes, names=extra)


def forest_plot(per_la: pd.DataFrame, *, estimate: float, lower: float, upper: float,
                title: str = "", ax: Any = None, names: Any = None,
                show_names: bool = True) -> Any:
    """Draw a forest plot of per-LA differences with the pooled estimate.

    One point per treated LA (its difference from its neighbour mean), the pooled estimate as
    a diamond with its interval, and a reference line at zero. LAs are labelled by name
    ("Bristol", not "E06000023"; see :func:`sosstats._plotting.la_names`), falling back to the
    code for a code with no known name.

    Parameters
    ----------
    per_la : pandas.DataFrame
        Rows for one indicator with columns ``la_code`` and ``difference`` (and optionally
        ``la_name``).
    estimate, lower, upper : float
        Pooled difference and its interval.
    title : str
        Panel title (the indicator).
    ax : matplotlib Axes, optional
        Axes to draw into; by default a new figure.
    names : mapping or DataFrame, optional
        Extra code -> name pairs (a frame with ``la_code`` and ``la_name``, e.g. the
        simulated LAs), used before the shipped DfE names.
    show_names : bool
        Label by name (default); False labels by code as before.

    Returns
    -------
    matplotlib.axes.Axes
    """
    labels = _labels(per_la, "la_code", names, show_names)
    ax = new_axes(ax, figsize=(6, 0.35 * len(per_la) + 1.8))
    diffs = per_la["difference"].to_numpy(dtype=float)
    y = np.arange(len(labels), 0, -1, dtype=float)
    ok = np.isfinite(diffs)
    ax.scatter(diffs[ok], y[ok], color="C0", zorder=3, label="LA - neighbour mean")
    for yy in y[~ok]:
        ax.annotate("no data", (0, yy), fontsize=7, color="grey", va="center")
    ax.errorbar([estimate], [0], xerr=[[estimate - lower], [upper - estimate]], fmt="D",
                color="C3", capsize=4, zorder=3, label="pooled (CI)")
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(list(y) + [0.0])
    ax.set_yticklabels(labels + ["pooled"])
    ax.set_xlabel("difference from neighbour mean")
    if title:
        ax.set_title(title)
    return ax


def draw_funnel(population: np.ndarray, rates: np.ndarray, labels: np.ndarray,
                limits: pd.DataFrame, target: float, outside: np.ndarray,
                highlight: np.ndarray, *, per: float = 10_000, ax: Any = None) -> Any:
    """Draw a funnel plot from precomputed rates and limits (see ``rates.funnel_plot``).

    The labelled points (outside the limits or highlighted) get labels placed so that none
    overlap (:func:`sosstats._plotting.label_points`); the population axis reads 10,000, not
    :math:`10^4`.
    """
    ax = new_axes(ax, figsize=(7, 5))
    grid = limits["population"].to_numpy()
    styles = {"95": ("--", "C1"), "99.8": ("-", "C3")}
    for lev, (ls, col) in styles.items():
        if f"lower_{lev}" in limits:
            ax.plot(grid, limits[f"lower_{lev}"], ls=ls, color=col, lw=1, label=f"{lev}% limits")
            ax.plot(grid, limits[f"upper_{lev}"], ls=ls, color=col, lw=1)
    ax.axhline(target, color="black", lw=0.8, label=f"target {target:.4g}")
    plain = ~highlight
    ax.scatter(population[plain], rates[plain], s=14, color="C0", alpha=0.7, label="LAs")
    if highlight.any():
        ax.scatter(population[highlight], rates[highlight], s=40, marker="D", color="C2",
                   edgecolor="black", zorder=3, label="highlighted")
    ax.set_xscale("log")
    _plain_log_axis(ax, grid)
    ax.set_xlabel("population")
    ax.set_ylabel(f"rate per {per:,.0f}")
    ax.legend(fontsize=7)
    shown = np.flatnonzero(outside | highlight)
    label_points(ax, population[shown], rates[shown], [str(labels[i]) for i in shown],
                 fontsize=7)
    return ax


def _plain_log_axis(ax: Any, values: np.ndarray) -> None:
    """Label a log x axis 1,000 / 10,000 (and 2,000 / 5,000 ticks when it spans few decades)."""
    from matplotlib.ticker import LogLocator, NullFormatter

    plain_axis(ax, "x")
    finite = values[np.isfinite(values) & (values > 0)]
    decades = np.log10(finite.max() / finite.min()) if finite.size else 0.0
    if decades < 2:
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(ax.xaxis.get_major_formatter())
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())
