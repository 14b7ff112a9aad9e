"""Resampling kernels: index matrices for draws and bootstraps, first-k selection, weighted means.

Plain numpy arrays in, plain arrays out; no Python loop over rows, draws or replicates.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "subset_draws",
    "bootstrap_indices",
    "compact_index_dtype",
    "resample_group_sums",
    "first_k_valid",
    "weighted_neighbour_means",
    "prefix_tables",
    "position_tables",
    "excluded_windows",
]


def subset_draws(rng: np.random.Generator, n_draws: int, pool_size: int, size: int
                 ) -> np.ndarray:
    """Draw ``n_draws`` subsets of ``size`` distinct items from ``range(pool_size)``.

    Each row is an independent simple random sample without replacement, sorted ascending.
    When repeats are rare, rows of ``size`` independent uniform integers are drawn and rows with
    a repeat are redrawn (rejection sampling: an accepted row is uniform over ordered
    ``size``-tuples of distinct items, hence its set is uniform over subsets); otherwise the
    random-keys method is used (the ``size`` smallest of ``pool_size`` uniform keys).

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(n_draws, size)``.
    """
    if size == 0 or n_draws == 0:
        return np.empty((n_draws, size), dtype=np.intp)
    accept = np.prod(1.0 - np.arange(size) / pool_size)
    if accept < 0.25:
        keys = rng.random((n_draws, pool_size))
        idx = (np.argpartition(keys, size - 1, axis=1)[:, :size] if size < pool_size
               else np.broadcast_to(np.arange(pool_size), (n_draws, pool_size)))
        return np.sort(idx, axis=1).astype(np.intp)
    out = np.sort(rng.integers(0, pool_size, (n_draws, size)), axis=1)
    redo = np.flatnonzero((np.diff(out, axis=1) == 0).any(axis=1))
    while len(redo):  # rejection rounds (few), not a loop over draws
        new = np.sort(rng.integers(0, pool_size, (len(redo), size)), axis=1)
        out[redo] = new
        redo = redo[(np.diff(new, axis=1) == 0).any(axis=1)]
    return out.astype(np.intp)


def bootstrap_indices(rng: np.random.Generator, n_resamples: int, n: int) -> np.ndarray:
    """Draw the indices of ``n_resamples`` bootstrap resamples of ``n`` items (with replacement).

    The same call ``rng.integers(0, n, (n_resamples, n))`` that ``scipy.stats.bootstrap``
    makes, so that a Generator in the same state gives the same resamples.
    """
    return rng.integers(0, n, (n_resamples, n))


def compact_index_dtype(n: int) -> np.dtype:
    """The smallest index dtype ``Generator.integers`` draws quickly for ``range(n)``.

    ``uint16`` when ``n <= 65,536`` (numpy draws it from half as many 32-bit words as int64,
    about 20% faster for bootstrap indices), ``int64`` otherwise. A Generator in the same state
    gives the same indices for the same dtype on every machine; a different dtype gives
    different (equally uniform) indices, so a kernel documents which one it uses.
    """
    return np.dtype(np.uint16) if n <= 1 << 16 else np.dtype(np.int64)


#: Target size of one chunk of multiplicities (replicates x units) of
#: :func:`resample_group_sums`, in bytes.
GROUP_SUMS_CHUNK_BYTES = 1 << 21


def resample_group_sums(values: np.ndarray, group: np.ndarray, n_groups: int,
                         n_resamples: int, rng: np.random.Generator, *,
                         chunk_bytes: int = GROUP_SUMS_CHUNK_BYTES) -> np.ndarray:
    """Sum unit-level ``values`` over bootstrap resamples of units (workers) within groups.

    Used by :func:`sosstats.vfm.diary_costs` (workers' minutes and costs by activity). Workers
    of group ``g`` are ``numpy.flatnonzero(group == g)`` (``n_g`` of them, in that
    order). For ``g = 0, 1, ...`` in turn, the resampling indices of all ``B`` replicates are
    the rows of ``rng.integers(0, n_g, size=(B, n_g))``, drawn in consecutive blocks of rows
    (identical to drawing the matrix at once, or row by row). Each block becomes a matrix of
    multiplicities (how often each worker was drawn) times the ``(n_g, K)`` values, so a
    replicate costs ``n_g`` operations per value, not a Python loop. The plain loop it equals::

        for g in range(G):
            rows = np.flatnonzero(group == g)
            for b in range(B):
                out[b, g] = values[rows][rng.integers(0, len(rows), len(rows))].sum(axis=0)

    Returns
    -------
    numpy.ndarray
        Shape ``(B, G, K)``.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty((n_resamples, n_groups, values.shape[1]))
    for g in range(n_groups):  # loop over groups and chunks of replicates, not replicates
        x = values[np.flatnonzero(group == g)]
        n_g = x.shape[0]
        rows = max(1, min(n_resamples, chunk_bytes // (16 * max(n_g, 1))))
        for b0 in range(0, n_resamples, rows):
            b1 = min(n_resamples, b0 + rows)
            idx = rng.integers(0, n_g, size=(b1 - b0, n_g))
            flat = (idx + (np.arange(b1 - b0) * n_g)[:, None]).ravel()
            counts = np.bincount(flat, minlength=(b1 - b0) * n_g).reshape(b1 - b0, n_g)
            out[b0:b1, g] = counts.astype(float) @ x
    return out


def first_k_valid(candidates: np.ndarray, valid: np.ndarray, k: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first ``k`` valid entries of each row of ``candidates``.

    Parameters
    ----------
    candidates : int array, shape ``(..., L)``
        Candidate positions in preference order.
    valid : bool array, same shape
        Which candidates may be used.
    k : int
        How many to keep per row.

    Returns
    -------
    (kept, slot) : arrays
        ``kept`` is a bool array of the shape of ``candidates`` marking the kept entries;
        ``slot`` gives each kept entry's 0-based position among the kept ones (``-1`` elsewhere).
    """
    rank = np.cumsum(valid, axis=-1)
    kept = valid & (rank <= k)
    slot = np.where(kept, rank - 1, -1)
    return kept, slot


def weighted_neighbour_means(neighbours: np.ndarray, weights: np.ndarray, values: np.ndarray,
                             observed: np.ndarray, *, batch: int = 20_000
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Weighted means of neighbours' values, skipping missing cells, for many rows at once.

    For row :math:`r` with neighbours :math:`j` and weights :math:`w_{rj}`, and indicator
    :math:`c`,

    .. math:: \bar y_{rc} = \frac{\sum_j w_{rj} O_{jc} y_{jc}}{\sum_j w_{rj} O_{jc}},

    where :math:`O_{jc}` is 1 when the cell is observed. The ``(R, L, p)`` gather is done
    ``batch`` rows at a time.

    Parameters
    ----------
    neighbours : int array, shape ``(R, L)``
        Neighbour positions into the rows of ``values``; ``-1`` for none.
    weights : float array, shape ``(R, L)``
        Weights (ignored where ``neighbours`` is ``-1``).
    values : float array, shape ``(n, p)``
        Values; missing cells may hold anything (they are multiplied by 0).
    observed : bool array, shape ``(n, p)``
        True where the cell is observed.
    batch : int
        Rows handled at a time (memory cap ``batch * L * p`` floats).

    Returns
    -------
    (mean, weight_sum, count) : arrays of shape ``(R, p)``
        The means (NaN where no neighbour is observed), the denominators and the number of
        observed neighbours.
    """
    neighbours = np.asarray(neighbours, dtype=np.intp)
    R = neighbours.shape[0]
    obs = np.asarray(observed, dtype=bool)
    y0 = np.where(obs, values, 0.0)
    p = y0.shape[1]
    has = neighbours >= 0
    w = np.where(has, weights, 0.0)
    safe = np.where(has, neighbours, 0)
    num = np.empty((R, p))
    den = np.empty((R, p))
    cnt = np.empty((R, p))
    step = max(1, int(batch))
    for start in range(0, R, step):  # memory-capped blocks, not a loop over rows
        sl = slice(start, start + step)
        o = obs[safe[sl]] & has[sl][..., None]               # (b, L, p)
        num[sl] = np.einsum("bl,blp->bp", w[sl], y0[safe[sl]])
        den[sl] = np.einsum("bl,blp->bp", w[sl], o.astype(float))
        cnt[sl] = o.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, num / np.where(den != 0, den, 1.0), np.nan)
    return mean, den, cnt


def prefix_tables(candidates: np.ndarray, weights: np.ndarray, values: np.ndarray,
                  observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Compute running sums of weighted neighbour values along each candidate list.

    For unit :math:`i` with candidate list :math:`c_{i1}, \dots, c_{iL}` and weights
    :math:`w_{il}`, the contributions :math:`(w_{il} O_{c} y_{c},\ w_{il} O_{c},\ O_c)` (stacked
    on the last axis, :math:`O` the observed-cell indicator) are summed cumulatively with a
    leading zero, so that the weighted sum, the weight total and the count of observed
    neighbours over the first :math:`l` candidates are one lookup ``prefix[i, l]`` (the count is
    exact, so "no observed neighbour" is decided without rounding error).

    Parameters
    ----------
    candidates : int array ``(P, L)``
        Candidate positions (``-1`` for none).
    weights : float array ``(P, L)``
        Candidate weights (positive).
    values, observed : arrays ``(n, p)``
        Values and observed-cell indicators.

    Returns
    -------
    (contrib, prefix) : arrays
        ``(P, L, 3p)`` contributions and ``(P, L + 1, 3p)`` prefix sums.
    """
    has = candidates >= 0
    safe = np.where(has, candidates, 0)
    obs = np.asarray(observed, dtype=bool)
    w = np.where(has, weights, 0.0)[..., None]
    wo = w * obs[safe]                                         # (P, L, p)
    o = (obs[safe] & has[..., None]).astype(float)
    contrib = np.concatenate([wo * np.where(obs, values, 0.0)[safe], wo, o], axis=-1)
    prefix = np.zeros((contrib.shape[0], contrib.shape[1] + 1, contrib.shape[2]))
    np.cumsum(contrib, axis=1, out=prefix[:, 1:])
    return contrib, prefix


def position_tables(candidates: np.ndarray, weights: np.ndarray, n: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Tabulate where each of ``n`` units sits in each candidate list, and its weight there.

    Returns
    -------
    (position, weight) : arrays of shape ``(P, n)``
        ``position[i, j]`` is the 0-based place of unit ``j`` in list ``i`` (``L`` when it is
        not listed); ``weight[i, j]`` its weight (0 when not listed).
    """
    P, L = candidates.shape
    pos = np.full((P, n), L, dtype=np.intp)
    wt = np.zeros((P, n))
    r, c = np.nonzero(candidates >= 0)
    pos[r, candidates[r, c]] = c
    wt[r, candidates[r, c]] = weights[r, c]
    return pos, wt


def excluded_windows(positions: np.ndarray, k: int, length: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Find the window holding the first ``k`` non-excluded candidates of each list.

    Sort the excluded entries' places, :math:`q_{(0)} < q_{(1)} < \dots`. The :math:`t`-th
    (0-based) has :math:`q_{(t)} - t` usable entries before it, so it falls inside the window
    iff :math:`q_{(t)} - t < k`; since :math:`q_{(t)} - t` never decreases, the excluded entries
    inside are the first :math:`e = \#\{t: q_{(t)} - t < k\}` in sorted order and the window
    length is :math:`\min(k + e, \text{length})`.

    Parameters
    ----------
    positions : int array ``(..., e_max)``
        Places of the excluded units in each list (``L`` or more when not listed).
    k : int
        Entries to keep.
    length : int array ``positions.shape[:-1]``
        Number of entries in each list.

    Returns
    -------
    (window, order, n_inside) : arrays
        Window lengths; ``order`` sorts ``positions`` along the last axis (``argsort``); the
        first ``n_inside`` entries of that order are the excluded units inside the window.
    """
    order = np.argsort(positions, axis=-1)
    sorted_pos = np.take_along_axis(positions, order, axis=-1)
    n_inside = (sorted_pos - np.arange(positions.shape[-1]) < k).sum(axis=-1)
    window = np.minimum(k + n_inside, length)
    return window, order, n_inside
