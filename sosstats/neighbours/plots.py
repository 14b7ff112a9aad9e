"""Drawing for :mod:`sosstats.neighbours`: forest plot of per-LA differences, funnel plot.

matplotlib is imported inside each function so that ``import sosstats`` stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["forest_plot", "draw_funnel"]


def forest_plot(per_la: pd.DataFrame, *, estimate: float, lower: float, upper: float,
                title: str = "", ax: Any = None) -> Any:
    """Draw a forest plot of per-LA differences with the pooled estimate.

    One point per treated LA (its difference from its neighbour mean), the pooled estimate as
    a diamond with its interval, and a reference line at zero.

    Parameters
    ----------
    per_la : pandas.DataFrame
        Rows for one indicator with columns ``la_code`` and ``difference``.
    estimate, lower, upper : float
        Pooled difference and its interval.
    title : str
        Panel title (the indicator).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(per_la) + 1.8))
    labels = list(per_la["la_code"].astype(str))
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
    """Draw a funnel plot from precomputed rates and limits (see ``rates.funnel_plot``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
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
    for i in np.flatnonzero(outside | highlight):
        ax.annotate(str(labels[i]), (population[i], rates[i]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("population")
    ax.set_ylabel(f"rate per {per:,.0f}")
    ax.legend(fontsize=7)
    return ax
