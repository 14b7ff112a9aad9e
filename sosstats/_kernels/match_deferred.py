r"""Greedy matching without replacement by deferred acceptance, all units at once.

The greedy result (treated units in a fixed order, each taking the nearest available eligible
control; ``k`` passes for 1:k) is the outcome of *deferred acceptance* in which every control
ranks treated units by the processing order: with common priorities the stable matching is
unique and equals the serial greedy choice (Gale and Shapley 1962, Roth 1982). Deferred
acceptance runs in rounds over all units at once: each unmatched unit proposes to the next
control on its candidate list (:class:`sosstats._kernels.match_candidates.CandidateLists`),
each control keeps the earliest proposer (or holder) and rejects the rest. A rejected unit
passes over controls already held by earlier units (holders only improve), and ``k``
identical treated points share one list, the ``q``-th of them starting at entry ``q`` (the
``q`` before it must take the first ``q``). On continuous data nearly every unit holds its
first choice after one round.

References
----------
Gale, D. and Shapley, L. S. (1962). College admissions and the stability of marriage. *The
American Mathematical Monthly* 69(1), 9-15.
Roth, A. E. (1982). The economics of matching: stability and incentives. *Mathematics of
Operations Research* 7(4), 617-628.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sosstats._kernels.match_candidates import CandidateLists

__all__ = ["BLOCKS", "MIN_BLOCK", "REFILL_K", "greedy_without_replacement",
           "position_in_runs"]

#: lists that run out are asked again for REFILL_K entries (or twice what is needed)
REFILL_K = 4
#: deferred acceptance runs on up to BLOCKS blocks of consecutive ranks (of at least
#: MIN_BLOCK units) one after another: a unit is never displaced by one of a later block,
#: which cuts the rounds where many units compete (measured: 3-10x faster there)
BLOCKS, MIN_BLOCK = 32, 128


def greedy_without_replacement(lists: CandidateLists, groups: np.ndarray, ratio: int,
                               n_c: int, mm: np.ndarray, dd: np.ndarray) -> None:
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
            p[o] = position_in_runs(g[o])  # the q-th of q+1 identical points skips q entries
            pos = _accept(lists, g, p, n_c)
            hit = pos >= 0
            mm[blk[hit], r], dd[blk[hit], r] = lists.fc[pos[hit]], lists.fd[pos[hit]]
            taken[lists.fc[pos[hit]]] = True


def _accept(lists: CandidateLists, g: np.ndarray, p: np.ndarray, n_c: int) -> np.ndarray:
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
        j = position_in_runs(ctl)
        win = rows[j == 0]
        holder[ctl[j == 0]] = win
        hold[win] = ctl[j == 0]
        lose = j > 0
        if lose.any():
            x = rows[lose]
            hold[x] = -1
            p[x] += 1
            _past_held(lists, g, p, x, holder)


def _past_held(lists: CandidateLists, g: np.ndarray, p: np.ndarray, x: np.ndarray,
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


def position_in_runs(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal consecutive ``keys``."""
    if not keys.size:
        return np.zeros(0, dtype=np.int64)
    idx = np.arange(keys.size)
    run = np.r_[True, keys[1:] != keys[:-1]]
    return idx - np.maximum.accumulate(np.where(run, idx, 0))
