"""Randomization inference for treated-versus-neighbours comparisons.

The observed statistic is the mean, over treated LAs, of (LA value - mean of its k nearest
eligible neighbours). Its reference distribution comes from *pseudo-pilot* sets: sets of the
same size drawn at random from the pool of untreated LAs, each member compared with its own k
nearest neighbours from the pool *excluding the other pseudo-pilots of its draw* (as the real
analysis excludes the other pilots). All draws are handled at once: see
:func:`randomization_distribution`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sosstats._kernels.resample import first_k_valid, subset_draws, weighted_neighbour_means
from sosstats._validate import check_int, check_option, check_rng
from sosstats.errors import DataError, DesignError
from sosstats.neighbours._ranking import NeighbourRanking

__all__ = ["RandomizationDistribution", "randomization_distribution", "randomization_pvalue"]


@dataclass(frozen=True, eq=False)
class RandomizationDistribution:
    """Null distribution of the pooled mean difference.

    Attributes
    ----------
    statistics : numpy.ndarray
        ``(n_draws, n_indicators)`` mean differences of the pseudo-pilot sets (NaN where no
        pseudo-pilot of a draw has a usable difference for that indicator).
    draws : numpy.ndarray
        ``(n_draws, n_treated)`` positions (into ``ranking.ids``) of the pseudo-pilots.
    pool : numpy.ndarray
        Positions of the LAs that could be drawn (and serve as neighbours).
    """

    statistics: np.ndarray
    draws: np.ndarray
    pool: np.ndarray

    def p_values(self, observed: np.ndarray) -> np.ndarray:
        """Two-sided randomization p-values for the observed statistics (one per indicator)."""
        return randomization_pvalue(self.statistics, observed)


def randomization_pvalue(null: np.ndarray, observed: np.ndarray) -> np.ndarray:
    r"""Two-sided randomization p-value, column by column.

    .. math:: p = \frac{1 + \#\{b: |T^*_b| \ge |T_{obs}|\}}{1 + B}

    where :math:`B` counts the draws with a finite statistic. A relative tolerance of
    :math:`10^{-12}` guards against draws equal to the observed value up to rounding (as
    ``scipy.stats.permutation_test`` does). The ``+1`` counts the observed assignment itself,
    so :math:`p > 0` always (Phipson and Smyth, 2010).

    References
    ----------
    Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero.
    *Statistical Applications in Genetics and Molecular Biology* 9(1), 39.
    """
    null = np.atleast_2d(np.asarray(null, dtype=float))
    obs = np.abs(np.asarray(observed, dtype=float)).reshape(-1)
    finite = np.isfinite(null)
    gamma = 1e-12 * np.maximum(obs, 1e-300)
    extreme = finite & (np.abs(np.where(finite, null, 0.0)) >= obs - gamma)
    p = (1.0 + extreme.sum(axis=0)) / (1.0 + finite.sum(axis=0))
    return np.where(np.isfinite(obs), p, np.nan)


def _candidate_lists(ranking: NeighbourRanking, pool: np.ndarray, depth: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """For each pool LA, its first ``depth`` ranked neighbours that are in the pool."""
    n = ranking.n_units
    inpool = np.zeros(n, dtype=bool)
    inpool[pool] = True
    order = ranking.order[pool]
    dist = ranking.distance[pool]
    ok = order >= 0
    ok &= inpool[np.where(ok, order, 0)]
    ok &= order != pool[:, None]
    kept, slot = first_k_valid(order, ok, depth)
    cand = np.full((len(pool), depth), -1, dtype=np.intp)
    cdist = np.full((len(pool), depth), np.nan)
    r, c = np.nonzero(kept)
    cand[r, slot[r, c]] = order[r, c]
    cdist[r, slot[r, c]] = dist[r, c]
    return cand, cdist


def _check_draws(draws: Any, pool: np.ndarray, n: int, n_treated: int) -> np.ndarray:
    d = np.asarray(draws)
    if d.ndim != 2 or d.shape[1] != n_treated or not np.issubdtype(d.dtype, np.integer):
        raise DataError(f"`draws` must be an integer array of shape (n_draws, {n_treated}); "
                        f"got shape {d.shape} and dtype {d.dtype}.")
    inpool = np.zeros(n, dtype=bool)
    inpool[pool] = True
    if ((d < 0) | (d >= n)).any() or not inpool[np.clip(d, 0, n - 1)].all():
        raise DataError("`draws` contains positions that are not in the pool.")
    s = np.sort(d, axis=1)
    if (np.diff(s, axis=1) == 0).any():
        raise DataError("`draws` repeats an LA within a draw; each draw must be distinct LAs.")
    return d.astype(np.intp)


def randomization_distribution(values: np.ndarray, ranking: NeighbourRanking, pool: Any,
                               n_treated: int, k: int, *, draws: Any = None,
                               n_draws: int = 10_000, rng: int | np.random.Generator | None = None,
                               weighting: Literal["equal", "distance"] = "equal",
                               exclude_draws: bool = True, batch: int = 1000
                               ) -> RandomizationDistribution:
    r"""Mean differences of random pseudo-pilot sets against their nearest neighbours.

    Parameters
    ----------
    values : array, shape ``(n, p)``
        Indicator values aligned with ``ranking.ids`` (NaN where missing).
    ranking : NeighbourRanking
        Who is near whom.
    pool : array of int or bool mask
        LAs (positions into ``ranking.ids``) that may be drawn as pseudo-pilots and serve as
        neighbours: typically every untreated, non-excluded LA with data.
    n_treated : int
        Size of each pseudo-pilot set (the number of treated LAs).
    k : int
        Neighbours per pseudo-pilot.
    draws : int array ``(n_draws, n_treated)``, optional
        Pseudo-pilot sets to use (positions into ``ranking.ids``). Drawn from ``rng`` if omitted.
    n_draws : int
        Number of draws when ``draws`` is not given.
    rng : int, Generator or None
        Source of the draws.
    weighting : {"equal", "distance"}
        Equal or inverse-distance neighbour weights.
    exclude_draws : bool
        Exclude the other pseudo-pilots of a draw from each member's neighbours (default; mirrors
        ``exclude_treated=True`` in :func:`sosstats.neighbours.compare`).
    batch : int
        Draws processed at a time (memory is about ``batch * n_treated * n`` floats).

    Returns
    -------
    RandomizationDistribution

    Notes
    -----
    For draw :math:`b` with pseudo-pilots :math:`S_b` (:math:`|S_b| = m`), member :math:`i`'s
    neighbours :math:`N_{bi}` are its first :math:`k` ranked LAs in the pool outside
    :math:`S_b`. Only the first :math:`k + m - 1` pool neighbours of an LA can qualify, so the
    kernel gathers those for all :math:`B \times m` members, masks the draw's members (a
    :math:`B \times n` membership matrix), keeps the first :math:`k` by a cumulative sum, and
    forms all neighbour means for all indicators as a weight matrix times the value matrix. The
    statistic is

    .. math:: T_b = \frac{1}{|V_b|}\sum_{i \in V_b} \Big(y_i -
              \frac{\sum_{j \in N_{bi}} w_{ij} O_j y_j}{\sum_{j \in N_{bi}} w_{ij} O_j}\Big),

    with :math:`V_b` the members with an observed value and at least one observed neighbour:
    the same rule for missing cells as the observed analysis. This is the placebo-in-space
    logic of synthetic-control inference (Abadie, Diamond and Hainmueller, 2010) applied to the
    statistical-neighbour design.

    References
    ----------
    Abadie, A., Diamond, A. and Hainmueller, J. (2010). Synthetic control methods for
    comparative case studies. *JASA* 105(490), 493-505.
    """
    check_option(weighting, ("equal", "distance"), "weighting")
    m = check_int(n_treated, "n_treated", minimum=1)
    k = check_int(k, "k", minimum=1)
    batch = check_int(batch, "batch", minimum=1)
    vals = np.asarray(values, dtype=float)
    n = ranking.n_units
    if vals.ndim != 2 or vals.shape[0] != n:
        raise DataError(f"`values` must have shape ({n}, n_indicators) to match the ranking; "
                        f"got {vals.shape}.")
    pool = np.asarray(pool)
    if pool.dtype == bool:
        pool = np.flatnonzero(pool)
    pool = np.unique(pool.astype(np.intp))
    if len(pool) <= m:
        raise DesignError(f"the randomization pool has {len(pool)} LAs; it needs more than "
                          f"n_treated = {m}.")
    if draws is None:
        n_draws = check_int(n_draws, "n_draws", minimum=1)
        draws = pool[subset_draws(check_rng(rng), n_draws, len(pool), m)]
    else:
        draws = _check_draws(draws, pool, n, m)
    depth = k + (m - 1 if exclude_draws else 0)
    cand, cdist = _candidate_lists(ranking, pool, depth)
    if weighting == "distance":
        used = cand >= 0
        bad = used & ~(np.isfinite(cdist) & (cdist > 0))
        if bad.any():
            raise DesignError("weighting='distance' needs positive, finite distances for every "
                              "ranked neighbour; the ranking has missing or zero distances.")
        base_w = np.where(used, 1.0 / np.where(used, cdist, 1.0), 0.0)
    else:
        base_w = (cand >= 0).astype(float)
    prow = np.full(n, -1, dtype=np.intp)
    prow[pool] = np.arange(len(pool))

    observed = np.isfinite(vals)
    y0 = np.where(observed, vals, 0.0)
    D, p = draws.shape[0], vals.shape[1]
    stats = np.empty((D, p))
    for start in range(0, D, batch):  # memory-capped blocks of draws, not a loop over draws
        db = draws[start:start + batch]
        B = db.shape[0]
        cb = cand[prow[db]]                      # (B, m, depth)
        wb = base_w[prow[db]]
        valid = cb >= 0
        if exclude_draws:
            member = np.zeros((B, n), dtype=bool)
            member[np.arange(B)[:, None], db] = True
            valid &= ~member[np.arange(B)[:, None, None], np.where(valid, cb, 0)]
        kept, _ = first_k_valid(cb, valid, k)
        nbrs = np.where(kept, cb, -1).reshape(B * m, depth)
        mean, _, cnt = weighted_neighbour_means(nbrs, wb.reshape(B * m, depth), y0, observed,
                                                batch=B * m)
        own = y0[db].reshape(B * m, p)
        ok = observed[db].reshape(B * m, p) & (cnt > 0)
        diff = np.where(ok, own - np.where(ok, mean, 0.0), 0.0).reshape(B, m, p)
        count = ok.reshape(B, m, p).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats[start:start + B] = np.where(count > 0, diff.sum(axis=1) / count, np.nan)
    return RandomizationDistribution(statistics=stats, draws=draws, pool=pool)
