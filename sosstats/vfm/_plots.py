"""Pictures of a cost-effectiveness result (matplotlib is imported here, lazily)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plane", "ceac", "evpi"]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4.5))
    return ax


def plane(result: Any, ax: Any = None, wtp: float | None = None, max_points: int = 5000
          ) -> Any:
    """Cost-effectiveness plane: bootstrap replicates of (incremental effect, cost).

    One cloud per option against the reference, its point estimate, the axes through the
    origin and the threshold line ``cost = wtp * effect`` (points below it are cost-effective
    at ``wtp``). At most ``max_points`` replicates per option are drawn.
    """
    ax = _axes(ax)
    reps = result._reps
    lam = float(np.median(result.wtp)) if wtp is None else float(wtp)
    step = max(1, reps.d_cost.shape[0] // max_points)
    for j, option in enumerate(result.options[1:], start=1):
        ax.scatter(reps.d_effect[::step, j], reps.d_cost[::step, j], s=4, alpha=0.25,
                   label=f"{option} vs {result.reference}")
        ax.plot(result.point_effect[j] - result.point_effect[0],
                result.point_cost[j] - result.point_cost[0], marker="X", color="black",
                markersize=8, linestyle="none")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(0, color="grey", linewidth=0.8)
    lo, hi = ax.get_xlim()
    xs = np.array([lo, hi])
    ax.plot(xs, lam * xs, color="firebrick", linestyle="--", label=f"WTP {lam:,.0f}")
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"incremental effect ({result.effect_column})")
    ax.set_ylabel(f"incremental cost ({result.cost_column})")
    ax.set_title("Cost-effectiveness plane")
    ax.legend(loc="best", fontsize="small")
    return ax


def ceac(result: Any, ax: Any = None) -> Any:
    """Draw the acceptability curve of every option, with the frontier (CEAF) over them."""
    ax = _axes(ax)
    curves = result.ceac
    for option in curves.columns:
        ax.plot(curves.index, curves[option], label=str(option))
    if len(result.options) > 2:
        front = result.ceaf
        ax.plot(front.index, front["probability"], color="black", linewidth=2.5, alpha=0.4,
                label="frontier (CEAF)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("willingness to pay per unit of effect")
    ax.set_ylabel("probability cost-effective")
    ax.set_title("Cost-effectiveness acceptability")
    ax.legend(loc="best", fontsize="small")
    return ax


def evpi(result: Any, ax: Any = None) -> Any:
    """Per-person expected value of perfect information against willingness to pay."""
    ax = _axes(ax)
    curve = result.evpi
    ax.plot(curve.index, curve.to_numpy())
    ax.set_xlabel("willingness to pay per unit of effect")
    ax.set_ylabel("EVPI per person")
    ax.set_title("Expected value of perfect information")
    return ax
