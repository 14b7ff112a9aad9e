r"""Optimal pair (and 1:k) matching: the matching with the smallest total distance.

Arrays in, arrays out. Treated units ``i`` and controls ``j`` with cost :math:`d_{ij}` (by
default the Euclidean distance between rows; whiten first for Mahalanobis). Optimal 1:k matching
without replacement solves

.. math:: \min_{a} \sum_{i} \sum_{r=1}^{k} d_{i, a(i, r)}
          \quad\text{over injective } a: \{(i, r)\} \to \{\text{controls}\},

a linear assignment problem once every treated row is repeated ``k`` times (Rosenbaum 1989;
Hansen 2004's ``pairmatch`` in optmatch, which MatchIt's ``method="optimal"`` calls). scipy's
``linear_sum_assignment`` (a shortest augmenting path method, Crouse 2016) solves it exactly.
With exact strata the problem splits into one assignment per stratum (a loop over strata, not
units). When a stratum has fewer than ``k`` controls per treated unit, the controls it has are
all used and some treated units get fewer (the assignment of that size with least cost).
"""

from __future__ import annotations

import numpy as np

from sosstats._validate import check_array_2d
from sosstats.errors import DataError, DesignError

__all__ = ["MAX_ENTRIES", "optimal_pairs"]

#: largest cost matrix (rows x ratio x columns, per stratum) solved densely
MAX_ENTRIES = 50_000_000


def optimal_pairs(treated_X: np.ndarray | None = None, control_X: np.ndarray | None = None, *,
                  cost: np.ndarray | None = None, ratio: int = 1,
                  strata_t: np.ndarray | None = None, strata_c: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Optimal 1:``ratio`` matching without replacement (minimum total distance).

    Parameters
    ----------
    treated_X, control_X : ndarray (n_t, p) and (n_c, p), or 1-D
        Points; the cost is their Euclidean distance. Not needed when ``cost`` is given.
    cost : ndarray (n_t, n_c), optional
        Any finite costs (``inf`` forbids a pair; an assignment must then exist).
    ratio : int
        Controls per treated unit.
    strata_t, strata_c : int codes, optional
        Exact matching: only pairs with equal codes; one assignment per stratum.

    Returns
    -------
    (matches, distances) : int ndarray (n_t, ratio), float ndarray (n_t, ratio)
        Control positions (``-1`` where a unit got fewer than ``ratio``) and their costs
        (NaN there); each row sorted by cost, then control position.

    Raises
    ------
    DataError
        Shapes that disagree, NaN costs or points, a bad ``ratio``.
    DesignError
        A stratum's cost matrix above :data:`MAX_ENTRIES` entries, or forbidden pairs that
        leave no complete assignment.

    References
    ----------
    Rosenbaum, P. R. (1989). Optimal matching for observational studies. *JASA*, 84, 1024-1032.
    Hansen, B. B. (2004). Full matching in an observational study of coaching for the SAT.
    *JASA*, 99, 609-618.
    Crouse, D. F. (2016). On implementing 2D rectangular assignment algorithms. *IEEE
    Transactions on Aerospace and Electronic Systems*, 52(4), 1679-1696.
    """
    from scipy.optimize import linear_sum_assignment

    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise DataError(f"`ratio` must be an integer of at least 1; got {ratio!r}.")
    cost_fn, n_t, n_c = _cost(treated_X, control_X, cost)
    st, sc = strata_codes(strata_t, strata_c, n_t, n_c)
    mm = np.full((n_t, ratio), -1, dtype=np.intp)
    dd = np.full((n_t, ratio), np.nan)
    for s in np.intersect1d(st, sc):  # one assignment per exact stratum
        ti, ci = np.flatnonzero(st == s), np.flatnonzero(sc == s)
        if ti.size * ratio * ci.size > MAX_ENTRIES:
            raise DesignError(f"optimal matching of {ti.size} treated to {ci.size} controls "
                              f"(ratio {ratio}) needs a {ti.size * ratio}x{ci.size} cost "
                              "matrix, above MAX_ENTRIES; add `exact` strata or use greedy "
                              "nearest-neighbour matching.")
        sub = cost_fn(ti, ci)
        try:
            rows, cols = linear_sum_assignment(np.repeat(sub, ratio, axis=0))
        except ValueError as exc:
            raise DesignError(f"optimal matching: the forbidden (infinite) pairs leave no "
                              f"complete assignment in stratum {s}.") from exc
        unit = rows // ratio
        d = sub[unit, cols]
        o = np.lexsort((ci[cols], d, unit))
        unit, c, d = unit[o], ci[cols][o], d[o]
        slot = np.arange(unit.size) - np.searchsorted(unit, unit)
        mm[ti[unit], slot], dd[ti[unit], slot] = c, d
    return mm, dd


def _cost(tx: np.ndarray | None, cx: np.ndarray | None, cost: np.ndarray | None):
    if cost is not None:
        c = np.asarray(cost, dtype=float)
        if c.ndim != 2 or np.isnan(c).any() or (c == -np.inf).any():
            raise DataError("`cost` must be a 2-D array without NaN or -inf.")
        return (lambda ti, ci: c[np.ix_(ti, ci)]), c.shape[0], c.shape[1]
    if tx is None or cx is None:
        raise DataError("give `treated_X` and `control_X`, or `cost`.")
    a, b = (np.asarray(x, dtype=float) for x in (tx, cx))
    a = check_array_2d(a[:, None] if a.ndim == 1 else a, "treated_X")
    b = check_array_2d(b[:, None] if b.ndim == 1 else b, "control_X", columns=a.shape[1])

    def euclid(ti: np.ndarray, ci: np.ndarray) -> np.ndarray:
        from scipy.spatial.distance import cdist

        return cdist(a[ti], b[ci])

    return euclid, a.shape[0], b.shape[0]


def strata_codes(st: np.ndarray | None, sc: np.ndarray | None, n_t: int, n_c: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Code treated and control strata with common int64 codes (zeros when none are given)."""
    if (st is None) != (sc is None):
        raise DataError("give both `strata_t` and `strata_c`, or neither.")
    if st is None:
        return np.zeros(n_t, dtype=np.int64), np.zeros(n_c, dtype=np.int64)
    st, sc = np.asarray(st).ravel(), np.asarray(sc).ravel()
    if st.shape != (n_t,) or sc.shape != (n_c,):
        raise DataError("`strata_t` / `strata_c` must hold one code per treated / control unit.")
    _, codes = np.unique(np.r_[st, sc], return_inverse=True)
    codes = codes.ravel().astype(np.int64)
    return codes[:n_t], codes[n_t:]
