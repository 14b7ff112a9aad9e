r"""Greedy nearest-neighbour matching of treated to control units, with no loop over units.

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

How it avoids the loop. The greedy result is the outcome of *deferred acceptance* in which
every control ranks treated units by the processing order (with common priorities the stable
matching is unique and equals the serial greedy choice; Gale and Shapley 1962, Roth 1982), and
deferred acceptance runs in rounds over all units at once: each unmatched unit proposes to the
next control on its list, each control keeps the earliest proposer (or holder) and rejects the
rest. Lists come in bulk (scipy's cKDTree, or sorted arrays and ``np.searchsorted`` for one
column), cut at a distance below which they provably hold every eligible control (so ties are
never split), and are extended only for the units that run out. A rejected unit passes over
controls already held by earlier units (holders only improve), and ``k`` identical treated
points share one list, the ``q``-th of them starting at entry ``q`` (the ``q`` before it must
take the first ``q``). On continuous data nearly every unit holds its first choice after one
round.

One score processed in score order (MatchIt's default ``m.order="largest"``) makes long chains
of displacement; there a sweep along the score gives the same result in a few vectorised
passes (:func:`_sweep`).
"""

from __future__ import annotations

import numpy as np

from sosstats._kernels.match_optimal import optimal_pairs, strata_codes
from sosstats._validate import check_array_2d, check_int, check_option, check_rng
from sosstats.errors import DataError

__all__ = ["ORDERS", "TIES", "greedy_nearest", "treated_order", "optimal_pairs"]

ORDERS = ("largest", "smallest", "random", "data")
TIES = ("index", "matchit")
#: neighbours first asked of the kd-tree (k=2 costs about 1.3x k=1 on 10 columns); the
#: sorted search for one column starts with four times as many (it costs next to nothing);
#: lists that run out are asked again for REFILL_K (or twice what is needed)
INITIAL_K, REFILL_K = 2, 4
#: deferred acceptance runs on up to BLOCKS blocks of consecutive ranks (of at least
#: MIN_BLOCK units) one after another: a unit is never displaced by one of a later block,
#: which cuts the rounds where many units compete (measured: 3-10x faster there)
BLOCKS, MIN_BLOCK = 32, 128
#: leaf size of the kd-tree (32 measured 10-20% faster than scipy's 16 on 10 columns)
LEAFSIZE = 32
#: candidate-matrix entries per block of a list query (memory cap)
BLOCK = 1 << 21
#: relative margin between cKDTree's distances and ours (both exact to ~1e-15)
REL = 1e-9
_BIG = np.iinfo(np.int64).max


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
    Identical to the sequential greedy loop (see the module docstring for how, and
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
            and _sweep_passes(xt[perm, 0], xc[:, 0], ct[perm], cc, cal, rk_t[perm], rk_c,
                              ties == "matchit", order == "largest", mm, dd)):
        pass
    else:
        bt = None if box is None else box[0][perm]
        src = (_Sorted(xt[perm, 0], xc[:, 0], ct[perm], cc, cal, bt, box, ties == "matchit",
                       rk_t[perm], rk_c) if one else
               _Tree(xt[perm], xc, ct[perm], cc, cal, bt, box))
        _, groups = np.unique(src.signature(), axis=0, return_inverse=True)
        groups = groups.ravel()
        lists = _Lists(src, groups)
        if replace:
            lists.fill(np.arange(lists.n_groups), np.full(lists.n_groups, ratio), ratio + 1)
            j = np.arange(ratio)[None, :]
            pos = np.where(j < lists.glen[groups][:, None], lists.gstart[groups][:, None] + j, -1)
            mm[:], dd[:] = np.r_[lists.fc, -1][pos], np.r_[lists.fd, np.nan][pos]
        else:
            _without_replacement(lists, groups, ratio, n_c, mm, dd)
    out_m, out_d = np.empty_like(mm), np.empty_like(dd)
    out_m[perm], out_d[perm] = mm, dd
    return out_m, out_d


# ------------------------------------------------------------- one score, swept in order
def _sweep_passes(vt: np.ndarray, vc: np.ndarray, ct: np.ndarray, cc: np.ndarray,
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
        top[o2] = pj[first_in_blk + _position_in_runs(blk[at][o2])]
    got[o[tk][ch == 2]] = ctrl[nb[o][top]]
    return got


# ------------------------------------------------------------------ deferred acceptance
def _without_replacement(lists: _Lists, groups: np.ndarray, ratio: int, n_c: int,
                         mm: np.ndarray, dd: np.ndarray) -> None:
    """Fill ``mm``/``dd`` (rank order) by ``ratio`` greedy passes; see the module docstring."""
    taken = np.zeros(n_c, dtype=bool)
    lists.fill(np.arange(lists.n_groups), np.ones(lists.n_groups, dtype=np.int64),
               lists.src.k0)
    for r in range(ratio):
        und = np.arange(groups.size) if r == 0 else np.flatnonzero(mm[:, r - 1] >= 0)
        for blk in np.array_split(und, min(BLOCKS, max(1, und.size // MIN_BLOCK))):
            lists.compact(taken)
            g = groups[blk]
            o = np.argsort(g, kind="stable")  # blk ascending: ranks ascending within groups
            p = np.empty(blk.size, dtype=np.int64)
            p[o] = _position_in_runs(g[o])  # the q-th of q+1 identical points skips q entries
            pos = _accept(lists, g, p, n_c)
            hit = pos >= 0
            mm[blk[hit], r], dd[blk[hit], r] = lists.fc[pos[hit]], lists.fd[pos[hit]]
            taken[lists.fc[pos[hit]]] = True


def _accept(lists: _Lists, g: np.ndarray, p: np.ndarray, n_c: int) -> np.ndarray:
    """Deferred acceptance with common priorities (row order = rank): flat list positions held.

    Free rows propose to the entry at their pointer ``p``; each control keeps the best-ranked
    of its holder and proposers; rejected rows move past the entries held by better rows.
    """
    n = g.size
    holder = np.full(n_c, -1, dtype=np.int64)
    hold = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    while True:
        act = (hold < 0) & ~done
        out = act & (p >= lists.glen[g])
        if out.any():  # lists used up: complete ones leave the row unmatched, others grow
            done |= out & lists.gcomp[g]
            grow = out & ~lists.gcomp[g]
            if grow.any():
                need = np.zeros(lists.n_groups, dtype=np.int64)
                np.maximum.at(need, g[grow], p[grow] + 1)
                gg = np.flatnonzero(need)
                lists.fill(gg, need[gg], max(REFILL_K, 2 * int(need[gg].max())))
                continue
            act &= ~out
        a = np.flatnonzero(act)
        if not a.size:
            return np.where(hold >= 0, lists.gstart[g] + p, -1)
        c = lists.fc[lists.gstart[g[a]] + p[a]]
        h = np.unique(holder[c])
        h = h[h >= 0]
        rows = np.r_[a, h]
        ctl = np.r_[c, lists.fc[lists.gstart[g[h]] + p[h]]]
        o = np.lexsort((rows, ctl))
        rows, ctl = rows[o], ctl[o]
        j = _position_in_runs(ctl)
        win = rows[j == 0]
        holder[ctl[j == 0]] = win
        hold[win] = ctl[j == 0]
        lose = j > 0
        if lose.any():
            x = rows[lose]
            hold[x] = -1
            p[x] += 1
            _past_held(lists, g, p, x, holder)


def _past_held(lists: _Lists, g: np.ndarray, p: np.ndarray, x: np.ndarray,
               holder: np.ndarray) -> None:
    """Move rows ``x`` past entries held by better-ranked rows (holders only improve)."""
    step = 8
    while x.size:
        pos = p[x][:, None] + np.arange(step)
        inl = pos < lists.glen[g[x]][:, None]
        e = lists.fc[np.minimum(lists.gstart[g[x]][:, None] + pos, lists.fc.size - 1)]
        h = holder[e]
        held = inl & (h >= 0) & (h < x[:, None])
        f = np.where(held.all(axis=1), step, held.argmin(axis=1))
        p[x] += f
        x = x[f == step]
        step *= 2


def _position_in_runs(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal consecutive ``keys``."""
    if not keys.size:
        return np.zeros(0, dtype=np.int64)
    idx = np.arange(keys.size)
    run = np.r_[True, keys[1:] != keys[:-1]]
    return idx - np.maximum.accumulate(np.where(run, idx, 0))


class _Lists:
    """Candidate lists of the distinct treated points: segments of flat arrays.

    Group ``g``'s list is ``fc[gstart[g]:gstart[g] + glen[g]]`` (controls) with distances
    ``fd``; a longer list is appended (capacity doubles) and the old segment abandoned until
    :meth:`compact`, which runs whenever abandoned entries outnumber live ones.
    """

    def __init__(self, src: _Tree | _Sorted, groups: np.ndarray):
        self.src = src
        self.n_groups = int(groups.max()) + 1 if groups.size else 0
        self.rep = np.zeros(self.n_groups, dtype=np.intp)
        self.rep[groups[::-1]] = np.arange(groups.size)[::-1]
        self.fc = np.zeros(1024, dtype=np.intp)
        self.fd = np.empty(1024)
        self.size = 0
        self.gstart = np.zeros(self.n_groups, dtype=np.int64)
        self.glen = np.zeros(self.n_groups, dtype=np.int64)
        self.gcomp = np.zeros(self.n_groups, dtype=bool)
        self.taken = np.zeros(src.n_c, dtype=bool)

    def compact(self, taken: np.ndarray | None = None) -> None:
        """Drop abandoned segments (and the entries ``taken`` since the last call)."""
        if taken is not None:
            self.taken = taken
        rows = np.repeat(np.arange(self.n_groups), self.glen)
        pos = np.arange(rows.size) - np.repeat(np.cumsum(self.glen) - self.glen, self.glen)
        pos += np.repeat(self.gstart, self.glen)
        keep = ~self.taken[self.fc[pos]]
        fc, fd = self.fc[pos[keep]], self.fd[pos[keep]]
        self.size = 0
        self._append(fc, fd)
        self.glen = np.bincount(rows[keep], minlength=self.n_groups)
        self.gstart = np.cumsum(self.glen) - self.glen

    def _append(self, c: np.ndarray, d: np.ndarray) -> int:
        at, end = self.size, self.size + c.size
        if end > self.fc.size:
            cap = max(2 * self.fc.size, end)
            self.fc = np.r_[self.fc[:at], np.zeros(cap - at, dtype=np.intp)]
            self.fd = np.r_[self.fd[:at], np.empty(cap - at)]
        self.fc[at:end], self.fd[at:end] = c, d
        self.size = end
        return at

    def fill(self, g: np.ndarray, need: np.ndarray, k: int) -> None:
        """Give groups ``g`` lists of at least ``need`` entries (or every eligible control)."""
        k = max(1, int(k))
        while g.size:  # k grows fourfold: a handful of passes at most
            c, d, comp = self.src.lists(self.rep[g], k, self.taken)
            cnt = (c >= 0).sum(axis=1)
            comp |= k >= self.src.n_c
            ok = comp | (cnt >= need)
            rr, jj = np.nonzero(c[ok] >= 0)
            at = self._append(c[ok][rr, jj], d[ok][rr, jj])
            self.gstart[g[ok]] = at + np.cumsum(cnt[ok]) - cnt[ok]
            self.glen[g[ok]] = cnt[ok]
            self.gcomp[g[ok]] = comp[ok]
            g, need, k = g[~ok], need[~ok], min(4 * k, self.src.n_c)
        if self.size > 2 * self.glen.sum() + 4096:
            self.compact()


# ------------------------------------------------------------------------ candidate lists
class _Base:
    """Common filters of the two list sources."""

    def __init__(self, ct: np.ndarray, cc: np.ndarray, cal: float | None,
                 bt: np.ndarray | None, box: tuple | None):
        self.ct, self.cc, self.cal = ct, cc, cal
        self.bt, self.bc, self.bw = (bt, box[1], box[2]) if box is not None else (None,) * 3
        self.n_c = cc.size

    def _eligible(self, rows: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        ok = self.ct[rows][:, None] == self.cc[c]
        if self.cal is not None:
            ok &= d <= self.cal
        if self.bt is not None:
            ok &= (np.abs(self.bt[rows][:, None, :] - self.bc[c]) <= self.bw).all(axis=2)
        return ok

    def _signature(self, *cols: np.ndarray) -> np.ndarray:
        parts = [*cols, self.ct[:, None].astype(float)]
        if self.bt is not None:
            parts.append(self.bt)
        return np.column_stack(parts)

    @staticmethod
    def _sorted(c: np.ndarray, d: np.ndarray, key: np.ndarray, ok: np.ndarray, k: int
                ) -> tuple[np.ndarray, np.ndarray]:
        d = np.where(ok, d, np.inf)
        o = np.lexsort((np.where(ok, key, _BIG), d), axis=1)[:, :k]
        c, d = np.take_along_axis(c, o, 1), np.take_along_axis(d, o, 1)
        return np.where(np.isfinite(d), c, -1), d


class _Tree(_Base):
    """Lists from scipy's cKDTree; strata as an extra, widely spaced coordinate."""

    def __init__(self, xt: np.ndarray, xc: np.ndarray, ct: np.ndarray, cc: np.ndarray,
                 cal: float | None, bt: np.ndarray | None, box: tuple | None):
        super().__init__(ct, cc, cal, bt, box)
        self.xt, self.xc = xt, xc
        both = np.vstack([xt, xc]) if xt.size + xc.size else np.zeros((1, xt.shape[1]))
        diam = float(np.sqrt(((both.max(0) - both.min(0)) ** 2).sum())) * (1 + 1e-6) + 1e-300
        self.limit = diam if cal is None else min(cal, diam)
        self.ub = np.inf if cal is None else max(cal * (1 + 4 * REL), 1e-150)
        self.strata = np.unique(np.r_[ct, cc]).size > 1
        if self.strata:  # cross-stratum pairs end up farther apart than any within-stratum pair
            self.at = np.column_stack([xt, ct * (2 * diam + 1.0)])
            self.ac = np.column_stack([xc, cc * (2 * diam + 1.0)])
        else:
            self.at, self.ac = xt, xc
        self.tree, self.ids = None, np.empty(0, dtype=np.intp)

    def signature(self) -> np.ndarray:
        return self._signature(self.xt)

    @property
    def k0(self) -> int:
        return INITIAL_K

    def lists(self, rows: np.ndarray, k: int, taken: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from scipy.spatial import cKDTree

        if self.tree is None or 2 * taken[self.ids].sum() > self.ids.size:
            self.ids = np.flatnonzero(~taken)
            self.tree = cKDTree(self.ac[self.ids], leafsize=LEAFSIZE)
        m = self.ids.size
        k = max(1, min(k, m))
        c = np.full((rows.size, k), -1, dtype=np.intp)
        d = np.full((rows.size, k), np.inf)
        comp = np.ones(rows.size, dtype=bool)
        step = max(1, BLOCK // (k * self.at.shape[1]))
        for s in range(0, rows.size * (m > 0), step):  # blocks of rows (memory), not units
            r = rows[s:s + step]
            dt, it = self.tree.query(self.at[r], k=k, distance_upper_bound=self.ub, workers=-1)
            dt, it = dt.reshape(r.size, k), it.reshape(r.size, k)
            found = it < m
            cb = self.ids[np.where(found, it, 0)]
            full = found[:, -1] & (k < m)
            thr = np.where(full, dt[:, -1] * (1 - REL), np.inf)
            diff = self.xt[r][:, None, :] - self.xc[cb]
            db = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
            ok = found & (db < thr[:, None]) & ~taken[cb] & self._eligible(r, cb, db)
            c[s:s + step], d[s:s + step] = self._sorted(cb, db, cb, ok, k)
            comp[s:s + step] = ~full | (thr > self.limit) | (k >= m)
        return c, d, comp


class _Sorted(_Base):
    """Lists for one column: controls sorted by (stratum, score, row), windows by searchsorted."""

    def __init__(self, vt: np.ndarray, vc: np.ndarray, ct: np.ndarray, cc: np.ndarray,
                 cal: float | None, bt: np.ndarray | None, box: tuple | None, matchit: bool,
                 rk_t: np.ndarray, rk_c: np.ndarray):
        super().__init__(ct, cc, cal, bt, box)
        self.vt, self.vc, self.matchit = vt, vc, matchit
        self.corder = np.lexsort((rk_c, vc, cc))
        self.crank = np.empty(vc.size, dtype=np.int64)
        self.crank[self.corder] = np.arange(vc.size)
        # controls ahead of each treated unit in the order (stratum, score, row)
        allk = [np.r_[rk_t, rk_c], np.r_[vt, vc], np.r_[ct, cc]]
        o = np.lexsort(allk)
        is_c = np.r_[np.zeros(vt.size, dtype=np.int64), np.ones(vc.size, dtype=np.int64)][o]
        self.ins = np.empty(vt.size, dtype=np.int64)
        self.ins[o[is_c == 0]] = (np.cumsum(is_c) - is_c)[is_c == 0]

    def signature(self) -> np.ndarray:
        extra = [self.ins[:, None].astype(float)] if self.matchit else []
        return self._signature(self.vt[:, None], *extra)

    @property
    def k0(self) -> int:
        return 4 * INITIAL_K

    def lists(self, rows: np.ndarray, k: int, taken: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (id(taken), int(taken.sum()))
        if getattr(self, "_key", None) != key:  # the available controls, in sorted order
            self._key, self._avail = key, self.corder[~taken[self.corder]]
        avail = self._avail
        m = avail.size
        if m == 0:
            return (np.full((rows.size, 1), -1), np.full((rows.size, 1), np.inf),
                    np.ones(rows.size, dtype=bool))
        ar, av, ac = self.crank[avail], self.vc[avail], self.cc[avail]
        vt, ct = self.vt[rows], self.ct[rows]
        pos = np.searchsorted(ar, self.ins[rows])
        lo, hi = np.searchsorted(ac, ct, "left"), np.searchsorted(ac, ct, "right")

        def outside(i: np.ndarray) -> np.ndarray:  # distance just beyond the window
            inr = (i >= lo) & (i < hi)
            return np.where(inr, np.abs(av[np.clip(i, 0, m - 1)] - vt), np.inf)

        bound = np.minimum(outside(pos - k - 1), outside(pos + k))
        i = pos[:, None] + np.arange(-k, k)
        inr = (i >= lo[:, None]) & (i < hi[:, None])
        i = np.clip(i, 0, m - 1)
        c, d = avail[i], np.abs(av[i] - vt[:, None])
        ok = inr & (d < bound[:, None]) & self._eligible(rows, c, d)
        if self.matchit:  # MatchIt: lower side first, then nearer in the (score, row) order
            gap = self.crank[c] - self.ins[rows][:, None]
            key = np.where(gap < 0, -gap - 1, self.n_c + gap)
        else:
            key = c
        c, d = self._sorted(c, d, key, ok, k)
        comp = bound == np.inf
        if self.cal is not None:
            comp |= bound > self.cal
        comp &= ok.sum(axis=1) <= k
        return c, d, comp


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
