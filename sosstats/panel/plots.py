"""Plots for change models: coefficient plot and T1 vs T2 means by group.

Matplotlib is imported inside each function so that ``import sosstats`` stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sosstats._validate import check_columns, check_frame, check_level
from sosstats.errors import DataError

__all__ = ["coefficient_plot", "change_plot"]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def coefficient_plot(result: Any, ax: Any = None, *, terms: list[str] | None = None) -> Any:
    """Horizontal coefficient plot of a :class:`~sosstats.panel.ChangeResult`.

    Points are estimates, bars the intervals of ``result.conf_int()`` (t with the kernel's df,
    or the wild bootstrap interval); the intercept is left out unless named in ``terms``.
    Returns the matplotlib Axes.
    """
    ax = _axes(ax)
    ci = result.conf_int()
    est = result.params
    if terms is None:
        terms = [t for t in est.index if t != "Intercept"] or list(est.index)
    missing = [t for t in terms if t not in est.index]
    if missing:
        raise DataError(f"term(s) {', '.join(map(repr, missing))} not in the model; its terms "
                        f"are {', '.join(map(repr, est.index))}.")
    pos = np.arange(len(terms))[::-1]
    e = est[terms].to_numpy()
    lo, hi = ci.loc[terms, "lower"].to_numpy(), ci.loc[terms, "upper"].to_numpy()
    ax.errorbar(e, pos, xerr=np.vstack([e - lo, hi - e]), fmt="o", capsize=3)
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(pos)
    ax.set_yticklabels(terms)
    ax.set_xlabel(f"estimate ({result.level:.0%} interval, {result.inference})")
    ax.set_title(f"{result.method}: {result.formula}")
    return ax


def change_plot(data: pd.DataFrame, outcome: str, time: str, by: str | None = None, *,
                level: float = 0.95, ax: Any = None) -> Any:
    """Means of ``outcome`` at each wave, by group, with t intervals, joined by lines.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame (one row per entity x wave); not modified.
    outcome, time : str
        Numeric outcome and wave column (ordered categorical order, else sorted).
    by : str, optional
        Grouping column (cohort, experience group); one line per group.
    level : float
        Interval level: mean +/- t_{n-1} * sd / sqrt(n) per wave and group (missing outcomes
        left out).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sosstats.panel._design import wave_order

    data = check_frame(data)
    check_columns(data, [outcome, time] + ([by] if by else []))
    level = check_level(level)
    if not pd.api.types.is_numeric_dtype(data[outcome]):
        raise DataError(f"outcome {outcome!r} ({data[outcome].dtype}) must be numeric.")
    waves = wave_order(data[time].dropna())
    ax = _axes(ax)
    groups = [(None, data)] if by is None else list(data.groupby(by, observed=True, sort=True))
    x = np.arange(len(waves))
    for i, (label, sub) in enumerate(groups):
        g = sub.groupby(time, observed=True)[outcome]
        mean = g.mean().reindex(waves)
        sd = g.std().reindex(waves)
        n = g.count().reindex(waves)
        with np.errstate(invalid="ignore", divide="ignore"):
            half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
        shift = (i - (len(groups) - 1) / 2) * 0.04
        ax.errorbar(x + shift, mean.to_numpy(), yerr=half.to_numpy(), marker="o", capsize=3,
                    label=None if label is None else f"{by} = {label}")
    ax.set_xticks(x)
    ax.set_xticklabels([str(w) for w in waves])
    ax.set_xlabel(time)
    ax.set_ylabel(f"mean {outcome} ({level:.0%} CI)")
    if by is not None:
        ax.legend()
    return ax
