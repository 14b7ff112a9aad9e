"""Pictures of a cost-effectiveness result (matplotlib is imported here, lazily).

Money is shown in pounds with thousands separators and no offset (``£20,000``); each option
keeps one colour on every picture (option ``i`` of ``result.options`` is ``C{i}``), so the
plane's clouds, the CEAC's curves and their legends agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats._plotting import money_axis, money_label, new_axes

__all__ = ["plane", "ceac", "evpi", "option_colour"]


def _axes(ax: Any) -> Any:
    return new_axes(ax, figsize=(6, 4.5))


def _axis_text(column: Any) -> str:
    """Return a column name as axis text: underscores to spaces (``not_rereferred``)."""
    return str(column).replace("_", " ").strip()


def _plane_labels(result: Any) -> tuple[str, str]:
    """Return the (x, y) labels of the plane: the effect and cost columns in words.

    The effect column is named (it is the unit of the effect): ``incremental effect (not
    rereferred)``; the cost column only where it says more than "cost" (``incremental cost
    (£)``, but ``incremental cost: total spend (£)`` for a column ``total_spend``).
    """
    effect = _axis_text(result.effect_column)
    cost = _axis_text(result.cost_column)
    x = ("incremental effect" if effect.lower() in ("", "effect", "effects")
         else f"incremental effect ({effect})")
    y = ("incremental cost (£)" if cost.lower() in ("", "cost", "costs")
         else f"incremental cost: {cost} (£)")
    return x, y


def option_colour(result: Any, option: Any) -> str:
    """Return the colour of ``option`` on every picture of ``result``: ``C{i}``, i its place."""
    options = [str(o) for o in result.options]
    return f"C{options.index(str(option)) % 10}" if str(option) in options else "C9"


def plane(result: Any, ax: Any = None, wtp: float | None = None, max_points: int = 5000
          ) -> Any:
    """Cost-effectiveness plane: bootstrap replicates of (incremental effect, cost).

    One cloud per option against the reference, its point estimate, the axes through the
    origin and the threshold line ``cost = wtp * effect`` (points below it are cost-effective
    at ``wtp``). At most ``max_points`` replicates per option are drawn. The axes name the
    effect and cost columns in words, the cost axis in pounds.
    """
    ax = _axes(ax)
    reps = result._reps
    lam = float(np.median(result.wtp)) if wtp is None else float(wtp)
    step = max(1, reps.d_cost.shape[0] // max_points)
    for j, option in enumerate(result.options[1:], start=1):
        ax.scatter(reps.d_effect[::step, j], reps.d_cost[::step, j], s=4, alpha=0.25,
                   color=option_colour(result, option), label=f"{option} vs {result.reference}")
        ax.plot(result.point_effect[j] - result.point_effect[0],
                result.point_cost[j] - result.point_cost[0], marker="X", color="black",
                markersize=8, linestyle="none")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(0, color="grey", linewidth=0.8)
    lo, hi = ax.get_xlim()
    xs = np.array([lo, hi])
    ax.plot(xs, lam * xs, color="firebrick", linestyle="--",
            label=f"WTP {money_label(lam)} per unit")
    ax.set_xlim(lo, hi)
    xlabel, ylabel = _plane_labels(result)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    money_axis(ax, "y")
    ax.set_title("Cost-effectiveness plane")
    ax.legend(loc="best", fontsize="small")
    return ax


def ceac(result: Any, ax: Any = None) -> Any:
    """Draw the acceptability curve of every option, with the frontier (CEAF) over them."""
    ax = _axes(ax)
    curves = result.ceac
    for option in curves.columns:
        ax.plot(curves.index, curves[option], color=option_colour(result, option),
                label=str(option), zorder=2)
    if len(result.options) > 2:
        front = result.ceaf
        # a wide pale band under the option curves: drawn on top, a translucent black line
        # darkened the curve it followed, which then no longer matched its legend colour
        ax.plot(front.index, front["probability"], color="0.8", linewidth=6,
                solid_capstyle="round", zorder=1, label="frontier (CEAF)")
    ax.set_ylim(-0.02, 1.02)
    money_axis(ax, "x", nbins=6)
    ax.set_xlabel("willingness to pay per unit of effect (£)")
    ax.set_ylabel("probability cost-effective")
    ax.set_title("Cost-effectiveness acceptability")
    ax.legend(loc="best", fontsize="small")
    return ax


def evpi(result: Any, ax: Any = None) -> Any:
    """Per-person expected value of perfect information against willingness to pay."""
    ax = _axes(ax)
    curve = result.evpi
    ax.plot(curve.index, curve.to_numpy())
    money_axis(ax, "x", nbins=6)
    money_axis(ax, "y")
    ax.set_xlabel("willingness to pay per unit of effect (£)")
    ax.set_ylabel("EVPI per person (£)")
    ax.set_title("Expected value of perfect information")
    return ax
