r"""Greedy nearest-neighbour matching of treated to control units: the entry point.

Arrays in, arrays out. Treated unit ``i`` and control ``j`` are at distance
:math:`d_{ij} = \lVert x_i - z_j \rVert` (Euclidean on the columns given: pass a propensity score
as one column, or covariates whitened by the Cholesky factor of their covariance for the
Mahalanobis distance). The greedy rule (Rosenbaum 2002, ch. 10; MatchIt's ``method="nearest"``):
treated units are taken one at a time in a fixed order; each takes the nearest control that is
still available, in its exact stratum and within the caliper(s); with ``ratio=k`` the pass is
made ``k`` times, one more control per unit and pass (as MatchIt does). Ties between controls at
the same distance go to the lowest control position (``ties="index"``) or, for one column,
follow MatchIt's scan of the sorted scores (``ties="matchit"``: the lower side first, then the
unit nearer in the sort by score and data row).

:func:`greedy_nearest` checks the inputs and picks the path, none of which loops over units:

- :mod:`sosstats._kernels.match_candidates`: each treated point's list of nearest eligible
  controls (kd-tree, or sorted scores for one column); with replacement that is all there is;
- :mod:`sosstats._kernels.match_deferred`: without replacement, the greedy result as the
  outcome of deferred acceptance over all units at once;
- :mod:`sosstats._kernels.match_sweep`: one score processed in score order (MatchIt's
  default), swept along the score in a few vectorised passes.

Optimal pair matching is :func:`sosstats._kernels.match_optimal.optimal_pairs`.
"""

from __future__ import annotations

import numpy as np

from sosstats._kernels.match_candidates import (
    CandidateLists,
    SortedScoreSource,
    TreeSource,
    nearest_with_replacement,
)
from sosstats._kernels.match_deferred import greedy_without_replacement
from sosstats._kernels.match_optimal import optimal_pairs, strata_codes
from sosstats._kernels.match_sweep import sweep_passes
from sosstats._validate import check_array_2d, check_int, check_option, check_rng
from sosstats.errors import DataError

__all__ = ["ORDERS", "TIES", "greedy_nearest", "treated_order", "optimal_pairs"]

ORDERS = ("largest", "smallest", "random", "data")
TIES = ("index", "matchit")


def treated_order(n: int, order: str = "data", key: np.ndarray | None = None,
                  rng: int | np.random.Generator | None = None) -> np.ndarray:
    """Positions of the treated units in the order greedy matching processes them.

    ``"largest"`` / ``"smallest"``: by ``key`` (e.g. the propensity score) decreasing /
    increasing, ties kept in data order (R's stable ``order()``, as MatchIt); ``"random"``: a
    permutation from ``rng``; ``"data"``: as given.
    """
    check_option(order, ORDERS, "order")
    if order == "data":
        return np.arange(n)
    if order == "random":
        return check_rng(rng).permutation(n)
    if key is None:
        raise DataError(f"order={order!r} needs `order_key` (e.g. the propensity score) when "
                        "matching on more than one column; use order='data' or 'random'.")
    key = np.asarray(key, dtype=float)
    if key.shape != (n,) or not np.isfinite(key).all():
        raise DataError(f"`order_key` must hold {n} finite numbers, one per treated unit.")
    return np.argsort(-key if order == "largest" else key, kind="stable")


def greedy_nearest(treated_X: np.ndarray, control_X: np.ndarray, *, ratio: int = 1,
                   replace: bool = False, caliper: float | None = None, order: str = "largest",
                   order_key: np.ndarray | None = None,
                   rng: int | np.random.Generator | None = None,
                   strata_t: np.ndarray | None = None, strata_c: np.ndarray | None = None,
                   caliper_covs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                   ties: str = "index", rows_t: np.ndarray | None = None,
                   rows_c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy nearest-neighbour matching (1:k, with or without replacement, calipers, strata).

    Parameters
    ----------
    treated_X, control_X : ndarray of shape (n_t, p) and (n_c, p), or 1-D for one column
        Points compared with the Euclidean distance (whiten first for Mahalanobis).
    ratio : int
        Controls per treated unit (``k``); without replacement they are chosen in ``k`` passes.
    replace : bool
        With replacement each unit simply gets its ``k`` nearest eligible controls.
    caliper : float, optional
        Largest allowed distance (on the distance scale; pairs with ``d <= caliper`` match).
    order : {"largest", "smallest", "random", "data"}
        Processing order, see :func:`treated_order`; ``order_key`` defaults to the single
        column when ``p == 1``. Ignored with replacement.
    rng : int or Generator, optional
        For ``order="random"``.
    strata_t, strata_c : array of int codes, optional
        Exact matching: only pairs with equal codes.
    caliper_covs : (values_t (n_t, q), values_c (n_c, q), widths (q,)), optional
        Further calipers: ``|values_t - values_c| <= widths`` column by column (MatchIt's
        calipers on named covariates, or a propensity caliper with a Mahalanobis distance).
    ties : {"index", "matchit"}
        Among controls at equal distance: the lowest position; or, for one column, MatchIt's
        rule, which needs ``rows_t`` and ``rows_c`` (the units' data rows: equal scores are
        sorted by row; the lower score wins a tie between sides, then the control nearer in
        that sort). With several columns MatchIt also takes the lowest position.

    Returns
    -------
    (matches, distances) : int ndarray (n_t, ratio), float ndarray (n_t, ratio)
        Control positions (``-1`` where unmatched) and their distances (NaN there); a unit's
        matches are in the order found (pass 1 first).

    Notes
    -----
    Identical to the sequential greedy loop (see the modules it calls, named in the module
    docstring, for how, and
    ``tests/_kernels/test_match_nearest.py`` for the proof by comparison). Cost on continuous
    data: one kd-tree query with ``k=2`` plus re-queries for the few units that contend for the
    same control. Strata are a further coordinate with a spacing larger than any distance
    within a stratum, so one tree serves all of them. One score processed in score order
    (``order="largest"`` or ``"smallest"`` with the score as key) is swept instead.
    Measured (benchmarks/matching.py, 2 cores; 20,000 treated, 200,000 controls, 10
    covariates), as multiples of scipy's cKDTree nearest-neighbour query: 1.0-1.1 with
    replacement, 1.3 without, 1.4-1.5 Mahalanobis without (whitening included), 1.8 for 1:3
    with replacement, 0.1-0.2 on a score with a caliper.

    References
    ----------
    Rosenbaum, P. R. (2002). *Observational Studies* (2nd ed.). Springer, ch. 10.
    Ho, D., Imai, K., King, G. and Stuart, E. A. (2011). MatchIt: nonparametric preprocessing
    for parametric causal inference. *Journal of Statistical Software*, 42(8).
    """
    xt, xc = _points(treated_X, "treated_X"), _points(control_X, "control_X")
    n_t, n_c = xt.shape[0], xc.shape[0]
    if xt.shape[1] != xc.shape[1]:
        raise DataError(f"`treated_X` has {xt.shape[1]} columns but `control_X` has "
                        f"{xc.shape[1]}.")
    ratio = check_int(ratio, "ratio", minimum=1)
    check_option(ties, TIES, "ties")
    cal = None if caliper is None else float(caliper)
    if cal is not None and not cal >= 0:
        raise DataError(f"`caliper` must be a non-negative number or None; got {caliper!r}.")
    one = xt.shape[1] == 1
    perm = (np.arange(n_t) if replace else
            treated_order(n_t, order, xt[:, 0] if order_key is None and one else order_key, rng))
    ct, cc = strata_codes(strata_t, strata_c, n_t, n_c)
    box = _box(caliper_covs, n_t, n_c)
    rk_t, rk_c = _rows(ties, rows_t, rows_c, n_t, n_c) if one else (None, None)
    mm = np.full((n_t, ratio), -1, dtype=np.intp)
    dd = np.full((n_t, ratio), np.nan)
    if not (n_c and n_t):
        return mm, dd
    if (one and not replace and order in ("largest", "smallest") and box is None
            and sweep_passes(xt[perm, 0], xc[:, 0], ct[perm], cc, cal, rk_t[perm], rk_c,
                              ties == "matchit", order == "largest", mm, dd)):
        pass
    else:
        bt = None if box is None else box[0][perm]
        src = (SortedScoreSource(xt[perm, 0], xc[:, 0], ct[perm], cc, cal, bt, box,
                                 ties == "matchit", rk_t[perm], rk_c) if one else
               TreeSource(xt[perm], xc, ct[perm], cc, cal, bt, box))
        _, groups = np.unique(src.signature(), axis=0, return_inverse=True)
        groups = groups.ravel()
        lists = CandidateLists(src, groups)
        if replace:
            nearest_with_replacement(lists, groups, ratio, mm, dd)
        else:
            greedy_without_replacement(lists, groups, ratio, n_c, mm, dd)
    out_m, out_d = np.empty_like(mm), np.empty_like(dd)
    out_m[perm], out_d[perm] = mm, dd
    return out_m, out_d


# ------------------------------------------------------------------------------ validation
def _rows(ties: str, rows_t: np.ndarray | None, rows_c: np.ndarray | None, n_t: int, n_c: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Sort keys that order equal scores: data rows (MatchIt) or control positions."""
    if ties == "index":
        return np.full(n_t, -1, dtype=np.int64), np.arange(n_c, dtype=np.int64)
    if rows_t is None or rows_c is None:
        raise DataError("ties='matchit' needs `rows_t` and `rows_c` (data rows).")
    rk_t, rk_c = (np.asarray(r, dtype=np.int64).ravel() for r in (rows_t, rows_c))
    if rk_t.shape != (n_t,) or rk_c.shape != (n_c,):
        raise DataError("`rows_t` / `rows_c` must hold one row number per unit.")
    return rk_t, rk_c


def _points(x: np.ndarray, name: str) -> np.ndarray:
    """Points as a finite 2-D float array; a 1-D array is one column (a score)."""
    a = np.asarray(x, dtype=float)
    return check_array_2d(a[:, None] if a.ndim == 1 else a, name)


def _box(box: tuple | None, n_t: int, n_c: int) -> tuple | None:
    if box is None:
        return None
    try:
        bt, bc, bw = (np.asarray(b, dtype=float) for b in box)
        bt, bc, bw = bt.reshape(n_t, -1), bc.reshape(n_c, -1), bw.ravel()
    except (TypeError, ValueError) as exc:
        raise DataError("`caliper_covs` must be (values_t, values_c, widths) with one row "
                        "per treated / control unit.") from exc
    if bt.shape[1] != bw.size or bc.shape[1] != bw.size:
        raise DataError("`caliper_covs`: values_t, values_c and widths disagree in length.")
    if not (np.isfinite(bt).all() and np.isfinite(bc).all()) or not (bw >= 0).all():
        raise DataError("`caliper_covs` needs finite values and non-negative widths.")
    return bt, bc, bw
