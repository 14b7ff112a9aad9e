"""Resampling kernels: index matrices for draws and bootstraps, first-k selection, weighted means.

Plain numpy arrays in, plain arrays out; no Python loop over rows, draws or replicates.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "subset_draws",
    "bootstrap_indices",
    "first_k_valid",
    "weighted_neighbour_means",
]


def subset_draws(rng: np.random.Generator, n_draws: int, pool_size: int, size: int
                 ) -> np.ndarray:
    """Draw ``n_draws`` subsets of ``size`` distinct items from ``range(pool_size)``.

    Each row is an independent simple random sample without replacement, sorted ascending.
    Uses the random-keys method: the ``size`` smallest of ``pool_size`` i.i.d. uniform keys
    index a uniformly random subset.

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(n_draws, size)``.
    """
    if size == 0 or n_draws == 0:
        return np.empty((n_draws, size), dtype=np.intp)
    keys = rng.random((n_draws, pool_size))
    if size < pool_size:
        idx = np.argpartition(keys, size - 1, axis=1)[:, :size]
    else:
        idx = np.broadcast_to(np.arange(pool_size), (n_draws, pool_size))
    return np.sort(idx, axis=1).astype(np.intp)


def bootstrap_indices(rng: np.random.Generator, n_resamples: int, n: int) -> np.ndarray:
    """Indices of ``n_resamples`` bootstrap resamples of ``n`` items (with replacement).

    The same call ``rng.integers(0, n, (n_resamples, n))`` that ``scipy.stats.bootstrap``
    makes, so that a Generator in the same state gives the same resamples.
    """
    return rng.integers(0, n, (n_resamples, n))


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
                             observed: np.ndarray, *, batch: int = 50_000
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Weighted means of neighbours' values, skipping missing cells, for many rows at once.

    For row :math:`r` with neighbours :math:`j` and weights :math:`w_{rj}`, and indicator
    :math:`c`,

    .. math:: \bar y_{rc} = \frac{\sum_j w_{rj} O_{jc} y_{jc}}{\sum_j w_{rj} O_{jc}},

    where :math:`O_{jc}` is 1 when the cell is observed. Implemented as a dense ``(R, n)`` weight
    matrix (built ``batch`` rows at a time) multiplied by the ``(n, p)`` value matrix.

    Parameters
    ----------
    neighbours : int array, shape ``(R, L)``
        Neighbour positions into the rows of ``values``; ``-1`` for none.
    weights : float array, shape ``(R, L)``
        Weights (ignored where ``neighbours`` is ``-1``). A row's neighbours must be distinct.
    values : float array, shape ``(n, p)``
        Values with missing cells set to anything finite (they are multiplied by 0).
    observed : float or bool array, shape ``(n, p)``
        1 where the cell is observed.
    batch : int
        Rows of the weight matrix built at a time (memory cap ``batch * n`` floats).

    Returns
    -------
    (mean, weight_sum, count) : arrays of shape ``(R, p)``
        The means (NaN where no neighbour is observed), the denominators and the number of
        observed neighbours.
    """
    neighbours = np.asarray(neighbours, dtype=np.intp)
    R, L = neighbours.shape
    n, p = values.shape
    y0 = np.where(observed.astype(bool), values, 0.0)
    obs = observed.astype(float)
    num = np.empty((R, p))
    den = np.empty((R, p))
    cnt = np.empty((R, p))
    has = neighbours >= 0
    w = np.where(has, weights, 0.0)
    step = max(1, int(batch))
    for start in range(0, R, step):  # loop over memory-capped blocks, not over rows
        stop = min(R, start + step)
        nb = neighbours[start:stop]
        hb = has[start:stop]
        rows, cols = np.nonzero(hb)
        dense = np.zeros((stop - start, n))
        dense[rows, nb[rows, cols]] = w[start:stop][rows, cols]
        ind = np.zeros((stop - start, n))
        ind[rows, nb[rows, cols]] = 1.0
        num[start:stop] = dense @ y0
        den[start:stop] = dense @ obs
        cnt[start:stop] = ind @ obs
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, num / np.where(den != 0, den, 1.0), np.nan)
    return mean, den, cnt
