r"""Greedy 1:k matching on one score, processed in score order, as a sweep along the score.

Used by :func:`sosstats._kernels.match_nearest.greedy_nearest` when there is one column (a
propensity score), no replacement, no covariate calipers and the processing order is the score
order (MatchIt's default ``m.order="largest"``, or ``"smallest"``). There the deferred
acceptance of :mod:`sosstats._kernels.match_deferred` makes long chains of displacement; the
sweep of :func:`_sweep` gives the same matches in a few vectorised passes. Arrays in, arrays
out; the units are already in processing order.
"""

from __future__ import annotations

import numpy as np

from sosstats._kernels.match_deferred import position_in_runs

__all__ = ["sweep_passes"]


def sweep_passes(vt: np.ndarray, vc: np.ndarray, ct: np.ndarray, cc: np.ndarray,
                  cal: float | None, rk_t: np.ndarray, rk_c: np.ndarray, matchit: bool,
                  largest: bool, mm: np.ndarray, dd: np.ndarray) -> bool:
    """Greedy passes by :func:`_sweep`; False (``mm`` untouched) where it does not apply."""
    out = np.full(mm.shape, -1, dtype=np.intp)
    free = np.ones(vc.size, dtype=bool)
    rows = np.arange(vt.size)
    for r in range(mm.shape[1]):
        if r:
            rows = rows[out[rows, r - 1] >= 0]
        fc = np.flatnonzero(free)
        if not (fc.size and rows.size):
            break
        got = _sweep(vt[rows], vc[fc], ct[rows], cc[fc], cal, rk_t[rows], rk_c[fc], matchit,
                     largest)
        if got is None:
            return False
        hit = got >= 0
        out[rows[hit], r] = fc[got[hit]]
        free[fc[got[hit]]] = False
    mm[:] = out
    dd[:] = np.where(out >= 0, np.abs(vt[:, None] - vc[np.maximum(out, 0)]), np.nan)
    return True


def _sweep(vt: np.ndarray, vc: np.ndarray, ct: np.ndarray, cc: np.ndarray, cal: float | None,
           rk_t: np.ndarray, rk_c: np.ndarray, matchit: bool, largest: bool
           ) -> np.ndarray | None:
    """One greedy pass on one score when units are processed in score order (MatchIt's default).

    Sweep the units from the first processed score onwards. At each treated unit the available
    controls already passed form a stack (nearest on top) and the controls not yet passed are
    available except for the first ``b`` of them, taken by earlier units reaching past; the unit
    takes the stack top or the next unpassed control, whichever is nearer (MatchIt: the lower
    score on a tie). Given every unit's choice (top, next or none), ``b`` is a reflected running
    sum and the stack tops follow from the stack depths, all by cumulative sums; the choices
    are recomputed from them until they repeat. A repeat is the sequential result (by induction
    along the sweep); after ``i`` passes the first ``i`` choices are final, so it ends. Returns
    each treated unit's control (or -1); None where ties could differ from the index rule or the
    processing order is not the sweep order.
    """
    n_t, n_c = vt.size, vc.size
    sgn = -1 if largest else 1
    v, st = np.r_[vt, vc], np.r_[ct, cc]
    is_c = np.r_[np.zeros(n_t, dtype=np.int64), np.ones(n_c, dtype=np.int64)]
    # equal scores: by row (MatchIt) or, for the index rule, by control position both ways
    o = np.lexsort(((sgn if matchit else 1) * np.r_[rk_t, rk_c], sgn * v, st))
    nb = np.empty(o.size, dtype=np.int64)
    nb[o] = np.cumsum(is_c[o]) - is_c[o]  # controls swept before each unit
    o = np.lexsort((np.r_[np.arange(n_t), np.zeros(n_c, dtype=np.int64)], is_c, nb, st))
    tk = np.flatnonzero(is_c[o] == 0)  # treated between the same two controls: by rank
    same = st[o[tk]][1:] == st[o[tk]][:-1]
    if np.any((np.diff(o[tk]) < 0) & same):
        return None  # not processed in sweep order
    ctrl = o[is_c[o] == 1] - n_t  # controls in sweep order
    seg = np.r_[0, np.cumsum(st[o][1:] != st[o][:-1])]  # strata in sweep order
    first = np.r_[0, np.flatnonzero(np.diff(seg)) + 1][seg]
    c_end = np.searchsorted(cc[ctrl], st[o][tk], "right")  # end of the stratum's controls
    vt_, nbt, tseg = vt[o[tk]], nb[o][tk], first[tk]
    shift = seg * (2 * o.size + 2)  # later strata sit lower: one running minimum serves all
    ch = np.zeros(n_t, dtype=np.int8)  # 1: next unpassed control, 2: stack top, 0: none
    for _ in range(n_t + 1):
        step = np.where(is_c[o] == 1, -1, 0)
        step[tk[ch == 1]] = 1
        a = np.cumsum(step)
        a0 = (a - step)[first]  # the sum before each stratum
        b = a - np.minimum(a0, np.minimum.accumulate(a - shift) + shift)
        bb = np.where(np.arange(o.size) == first, 0, np.r_[0, b[:-1]])
        push = (is_c[o] == 1) & (bb == 0)
        pop = np.zeros(o.size, dtype=bool)
        pop[tk[ch == 2]] = True
        depth = np.cumsum(push.astype(np.int64) - pop)
        before = depth[tk] + pop[tk]
        pj = np.flatnonzero(push)
        key = depth[pj] * (o.size + 1) + pj  # the top: the last push at the current depth
        srt = np.argsort(key)
        i = np.searchsorted(key[srt], before * (o.size + 1) + tk) - 1
        top = np.r_[pj[srt], 0][np.where(i >= 0, i, pj.size)]
        ok_r = (i >= 0) & (depth[top] == before) & (top >= tseg) & (top < tk)
        li = nbt + bb[tk]
        ok_l = li < c_end
        d_l = np.where(ok_l, np.abs(vt_ - vc[ctrl[np.minimum(li, n_c - 1)]]), np.inf)
        d_r = np.where(ok_r, np.abs(vc[ctrl[np.minimum(nb[o][top], n_c - 1)]] - vt_), np.inf)
        if cal is not None:
            ok_l &= d_l <= cal
            ok_r &= d_r <= cal
        lower = (d_l < d_r) | ((d_l == d_r) & largest)
        new = np.where(ok_l & (~ok_r | lower), 1, np.where(ok_r, 2, 0)).astype(np.int8)
        if np.array_equal(new, ch):
            break
        ch = new
    else:  # pragma: no cover - cannot happen (see above); deferred acceptance then
        return None
    if not matchit and np.any(ok_l & ok_r & (d_l == d_r)):
        return None  # a tie between the sides: the index rule may choose otherwise
    got = np.full(n_t, -1, dtype=np.intp)
    got[o[tk][ch == 1]] = ctrl[li[ch == 1]]
    top = top[ch == 2]
    if not matchit and top.size:
        # equal scores stacked together leave in the order they came (lowest position first)
        pj = np.flatnonzero(push)
        val = np.r_[np.nan, vc[ctrl[nb[o][pj]]]]
        blk = np.cumsum((val[1:] != val[:-1]) | np.r_[True, seg[pj][1:] != seg[pj][:-1]])
        at = np.searchsorted(pj, top)
        o2 = np.lexsort((tk[ch == 2], blk[at]))
        first_in_blk = np.searchsorted(blk, blk[at][o2])
        top[o2] = pj[first_in_blk + position_in_runs(blk[at][o2])]
    got[o[tk][ch == 2]] = ctrl[nb[o][top]]
    return got
