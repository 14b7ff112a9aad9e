r"""Incremental analysis of several options: dominance, extended dominance and the frontier.

Also the quadrant of the cost-effectiveness plane a pair of options falls in, which says
whether their ICER means anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.bootstrap_cea import tie_tolerance
from sosstats.errors import DataError

__all__ = ["QUADRANTS", "quadrant", "incremental_analysis"]

#: What each quadrant of the cost-effectiveness plane means for the ICER of "new vs reference".
QUADRANTS = {
    "NE": "more effective and more costly: the ICER is the cost per unit of effect gained",
    "SE": "dominant: at least as effective and no more costly (a negative ICER is not a "
          "trade-off)",
    "NW": "dominated: less effective and at least as costly (a negative ICER is not a "
          "trade-off)",
    "SW": "less effective and cheaper: the ICER is the saving per unit of effect lost "
          "(worth it when above the willingness to pay)",
    "none": "no difference in effect: the ICER is undefined; compare costs (a cost-"
            "minimisation)",
}


def quadrant(d_cost: Any, d_effect: Any) -> np.ndarray:
    """Quadrant label(s) of incremental cost and effect: ``NE``, ``SE``, ``SW``, ``NW``, ``none``.

    ``SE`` includes a zero cost difference with a gain in effect and ``NW`` a zero cost
    difference with a loss; ``none`` is a zero effect difference (ICER undefined).
    """
    dc = np.asarray(d_cost, dtype=float)
    de = np.asarray(d_effect, dtype=float)
    return np.select([de > 0, de < 0],
                     [np.where(dc > 0, "NE", "SE"), np.where(dc < 0, "SW", "NW")],
                     default="none")


def incremental_analysis(cost: Sequence[float], effect: Sequence[float],
                         labels: Sequence[Any] | None = None) -> pd.DataFrame:
    r"""Rank options on the cost-effectiveness frontier, removing dominated ones.

    Parameters
    ----------
    cost, effect : sequence of float
        Expected cost and effect of each option.
    labels : sequence, optional
        Option names (default ``0 .. G-1``).

    Returns
    -------
    pandas.DataFrame
        Indexed by option, sorted by cost: ``cost``, ``effect``, ``status`` (``"frontier"``,
        ``"dominated"`` or ``"extendedly dominated"``), ``compared_with`` (the next cheaper
        frontier option for a frontier option; the dominating option(s) otherwise),
        ``delta_cost``, ``delta_effect`` and ``icer`` (for frontier options after the first).

    Raises
    ------
    DataError
        Costs or effects that are NaN or infinite, lengths that differ, fewer than one option.

    Notes
    -----
    Costs that differ by less than :func:`sosstats._kernels.bootstrap_cea.tie_tolerance` of the
    largest absolute cost (``1e-9`` of it) are equal, and so are effects by the same rule and
    ICERs along the frontier: an exact tie computed in floating point (``0.1 + 0.2`` against
    ``0.3``) is a tie, not a difference of rounding noise. Options are sorted by cost (ties:
    more effective first, then input order). An option is *dominated* when another costs no
    more and is at least as effective, strictly better on one of the two (an exact duplicate
    is dominated by the first of the pair in that order). Among the rest, sorted by
    cost and so by effect, the ICER of each against the previous one must rise; when the ICER
    into option :math:`j` exceeds the ICER out of it, a mix of its neighbours is cheaper for
    the same effect and :math:`j` is *extendedly dominated* (removed, and the ICERs
    recomputed, until they rise). The ICERs of the frontier options are the ones a decision
    maker compares with the willingness to pay: the option chosen is the most effective one
    whose ICER is below it.

    References
    ----------
    Cantor, S. B. (1994). Cost-effectiveness analysis, extended dominance, and ethics: a
    quantitative assessment. *Medical Decision Making* 14, 259-265.
    Drummond, M. F. et al. (2015). *Methods for the Economic Evaluation of Health Care
    Programmes*, 4th ed., ch. 4. OUP.
    """
    c = np.asarray(cost, dtype=float)
    e = np.asarray(effect, dtype=float)
    if c.ndim != 1 or c.shape != e.shape or c.size == 0:
        raise DataError("`cost` and `effect` must be 1-D sequences of the same, non-zero "
                        "length.")
    if not (np.isfinite(c).all() and np.isfinite(e).all()):
        raise DataError("`cost` and `effect` must be finite (no NaN or inf).")
    names = list(range(c.size)) if labels is None else list(labels)
    if len(names) != c.size:
        raise DataError(f"`labels` has {len(names)} names for {c.size} options.")
    tol_c = tie_tolerance(np.abs(c).max())
    tol_e = tie_tolerance(np.abs(e).max())
    # tie-aware ranks: how many options are cheaper (more effective) beyond the tolerance
    cost_rank = (c[None, :] < c[:, None] - tol_c).sum(axis=1)
    effect_rank = (e[None, :] > e[:, None] + tol_e).sum(axis=1)
    order = np.lexsort((np.arange(c.size), effect_rank, cost_rank))
    c, e = c[order], e[order]
    names = [names[i] for i in order]
    g = c.size
    # i dominates j: c_i <= c_j, e_i >= e_j, strictly on one, or tied on both with i first
    no_more = c[:, None] <= c[None, :] + tol_c
    no_less = e[:, None] >= e[None, :] - tol_e
    strict = (c[:, None] < c[None, :] - tol_c) | (e[:, None] > e[None, :] + tol_e)
    first = np.arange(g)[:, None] < np.arange(g)[None, :]
    dom = no_more & no_less & (strict | first)
    np.fill_diagonal(dom, False)
    status = np.where(dom.any(axis=0), "dominated", "frontier").astype(object)
    compared = [", ".join(str(names[i]) for i in np.flatnonzero(dom[:, j])) if dom[:, j].any()
                else None for j in range(g)]
    keep = list(np.flatnonzero(status == "frontier"))
    while len(keep) > 2:  # loop over options (few), until the ICERs along the frontier rise
        kc, ke = c[keep], e[keep]
        icers = np.diff(kc) / np.diff(ke)
        gap = tie_tolerance(np.maximum(np.abs(icers[:-1]), np.abs(icers[1:])))
        bad = np.flatnonzero(icers[:-1] > icers[1:] + gap)  # equal ICERs: collinear, kept
        if not bad.size:
            break
        j = keep[bad[0] + 1]
        status[j] = "extendedly dominated"
        compared[j] = f"{names[keep[bad[0]]]}, {names[keep[bad[0] + 2]]}"
        keep.remove(j)
    d_cost = np.full(g, np.nan)
    d_effect = np.full(g, np.nan)
    for prev, cur in zip(keep[:-1], keep[1:]):
        d_cost[cur] = c[cur] - c[prev]
        d_effect[cur] = e[cur] - e[prev]
        compared[cur] = names[prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        icer = d_cost / d_effect
    return pd.DataFrame({"cost": c, "effect": e, "status": status, "compared_with": compared,
                         "delta_cost": d_cost, "delta_effect": d_effect, "icer": icer},
                        index=pd.Index(names, name="option"))
