"""Pictures of a fitted multilevel model: caterpillar, shrinkage and posterior predictive plots.

matplotlib is imported inside each function so that importing sosstats stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["caterpillar", "shrinkage_plot", "ppc_plot"]


def _axes(ax: Any) -> Any:
    from sosstats._plotting import new_axes

    return new_axes(ax, figsize=(6, 4))


def caterpillar(table: pd.DataFrame, level: str, ax: Any = None, *, names: Any = None) -> Any:
    """Group effects sorted by posterior mean with their credible intervals.

    Groups of an ``la_code`` level, or any level with ``names`` given, are labelled by name
    (:func:`sosstats._plotting.la_names`, falling back to the code); returns the Axes.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn into: ``ax`` when given, else a new figure's.
    """
    from sosstats._plotting import la_names

    ax = _axes(ax)
    t = table.sort_values("estimate")
    pos = np.arange(t.shape[0])
    ax.errorbar(t["estimate"], pos, xerr=[t["estimate"] - t["lower"], t["upper"] - t["estimate"]],
                fmt="o", ms=3, lw=1, color="C0")
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    if t.shape[0] <= 40:
        ax.set_yticks(pos)
        labels = [str(i) for i in t.index]
        if names is not None or level == "la_code":
            labels = la_names(labels, names=names)
        ax.set_yticklabels(labels, fontsize=7)
    else:
        ax.set_yticks([])
    ax.set_xlabel(f"{level} effect (link scale)")
    ax.set_ylabel(level)
    ax.set_title(f"{level} effects with credible intervals")
    return ax


def shrinkage_plot(table: pd.DataFrame, level: str, ax: Any = None) -> Any:
    """Raw (no-pooling) group deviations against the partially pooled estimates.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn into: ``ax`` when given, else a new figure's.
    """
    ax = _axes(ax)
    ok = np.isfinite(table["raw_effect"].to_numpy())
    t = table[ok]
    ax.scatter(t["raw_effect"], t["estimate"], s=12 + 30 * t["n"] / max(t["n"].max(), 1),
               color="C0", alpha=0.7)
    lim = np.nanmax(np.abs(np.concatenate([t["raw_effect"], t["estimate"]]))) if len(t) else 1.0
    ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8, ls="--", label="no pooling")
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlabel("raw group deviation")
    ax.set_ylabel("posterior mean effect")
    ax.set_title(f"Shrinkage of {level} effects")
    ax.legend(loc="upper left", frameon=False)
    return ax


def ppc_plot(check: Any, ax: Any = None) -> Any:
    """Histogram of a replicated statistic with the observed value marked.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn into: ``ax`` when given, else a new figure's.
    """
    ax = _axes(ax)
    ax.hist(check.replicated, bins=30, color="C0", alpha=0.7)
    ax.axvline(check.observed, color="C3", lw=2, label=f"observed ({check.observed:.3g})")
    ax.set_xlabel(f"{check.stat} of replicated data")
    ax.set_ylabel("draws")
    ax.set_title(f"Posterior predictive check: p = {check.p_value:.3f}")
    ax.legend(frameon=False)
    return ax
