r"""Stratified (and cluster) non-parametric bootstrap for cost-effectiveness analysis.

One kernel, :func:`bootstrap_cea`, turns resampling units (patients, or clusters such as workers
or pilots, each reduced to three sums) into bootstrap replicates of the mean cost and effect of
every option, the incremental cost and effect and the ICER against a reference option, and the
net monetary benefit (NMB) summaries at every willingness-to-pay (WTP) threshold: its mean, the
cost-effectiveness acceptability curve (CEAC), the per-person expected value of perfect
information (EVPI) and percentiles of the incremental NMB. Everything comes from the same
replicates. Plain numpy arrays in, plain arrays out; replicates are processed in chunks of rows
(to bound memory and stay in cache), never one at a time.

How the random numbers are consumed (the contract a reference loop reproduces)
-------------------------------------------------------------------------------
Units are grouped by ``group`` code; within group ``g`` they keep their order in the input
arrays (``numpy.flatnonzero(group == g)``) and there are ``n_g`` of them. For ``g = 0, 1, ...``
in turn, the resampling indices of group ``g`` for all ``B`` replicates are the rows of
``rng.integers(0, n_g, size=(B, n_g))`` (int64). The kernel draws that matrix in consecutive
blocks of rows, which numpy's ``Generator.integers`` makes identical to drawing it at once,
so the numbers do not depend on the chunk size. A plain loop that reproduces it draw for draw
(the same resampled units; the sums agree to rounding)::

    for g in range(G):
        units = np.flatnonzero(group == g)
        for b in range(B):
            i = units[rng.integers(0, len(units), len(units))]
            mean_cost[b, g] = sum_cost[i].sum() / sum_weight[i].sum()
            mean_effect[b, g] = sum_effect[i].sum() / sum_weight[i].sum()

With two groups and unit weights this is also the resampling of ``scipy.stats.bootstrap`` with
``data=(indices of group 0, indices of group 1)``, ``batch=None`` and the same Generator, so
the percentile intervals agree with scipy's to rounding.

Why gathering rather than counting. Measured here (2 x 10^7 draws, 5,000 units per group, a
shared 2-core machine) drawing the int64 indices costs about 90 ms, gathering the (cost, effect)
pairs stored as one complex array with ``np.take`` and summing each row about 55 ms more
(any chunk from 256 KB to 8 MB; smaller chunks pay Python overhead), two separate float
gathers about 110 ms more, ``np.bincount`` counts times the values about 100 ms more, a sparse
CSR matrix product about 70 ms more, and ``Generator.multinomial`` counts about 1.3 s in all.
The gather is numpy's per-element floor (about 2.5 ns whatever the item size), so the kernel
does one gather per draw where ``scipy.stats.bootstrap`` of an ICER on samples of indices
does three (the indices, then cost and effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CEAReplicates", "TIE_ATOL", "TIE_RTOL", "bootstrap_cea", "cea_summaries",
           "first_within", "resample_sums", "tie_tolerance"]

#: Target working set of one chunk of resampling (indices + gathered values), in bytes.
CHUNK_BYTES = 1 << 20
#: Upper bound on the temporary NMB arrays of one chunk of replicates, in bytes.
MAX_BYTES = 1 << 27
#: Net benefits closer than ``TIE_RTOL`` times their scale (plus :data:`TIE_ATOL`) are tied.
TIE_RTOL = 1e-9
#: Absolute part of the tie tolerance (money): ties between net benefits of size 0.
TIE_ATOL = 1e-12


def tie_tolerance(scale: np.ndarray | float) -> np.ndarray:
    r"""Tolerance within which two quantities of magnitude ``scale`` count as equal.

    ``TIE_RTOL * |scale| + TIE_ATOL``. For net monetary benefits the scale is that of the
    terms they are made of, :math:`\max_j (|\lambda E_j| + |C_j|)`: an NMB is a difference,
    so an exact tie such as :math:`100 \times 0.3 - 30` comes out as ``3.6e-15`` in floating
    point, far below that scale but not below the NMB itself.
    """
    return TIE_RTOL * np.abs(scale) + TIE_ATOL


def first_within(values: np.ndarray, tolerance: np.ndarray, axis: int = -1) -> np.ndarray:
    """Index of the first entry along ``axis`` within ``tolerance`` of the maximum.

    The tie rule of every decision in :mod:`sosstats.vfm`: among options whose value is
    within the tolerance of the best, the one with the lowest code (the reference, then
    option order) is chosen. ``tolerance`` broadcasts against ``values`` with ``axis``
    removed.
    """
    values = np.asarray(values, dtype=float)
    top = values.max(axis=axis, keepdims=True)
    near = values >= top - np.expand_dims(np.asarray(tolerance, dtype=float), axis)
    return np.argmax(near, axis=axis)


@dataclass(frozen=True)
class CEAReplicates:
    """Bootstrap replicates and NMB summaries returned by :func:`bootstrap_cea`.

    Attributes
    ----------
    cost, effect : numpy.ndarray, shape ``(B, G)``
        Replicate mean cost and effect of each option (ratio of resampled sums).
    d_cost, d_effect : numpy.ndarray, shape ``(B, G)``
        Incremental cost and effect against the reference option (its column is 0).
    icer : numpy.ndarray, shape ``(B, G)``
        ``d_cost / d_effect``; NaN where ``d_effect == 0`` (including the reference column).
    nmb_mean : numpy.ndarray, shape ``(K, G)``
        Mean over replicates of the NMB ``wtp * effect - cost`` of each option at each WTP.
    ceac : numpy.ndarray, shape ``(K, G)``
        Share of replicates in which each option has the highest NMB (ties, within
        :func:`tie_tolerance` of the NMB terms' scale, go to the lower code); rows sum to 1.
    best : numpy.ndarray, shape ``(K,)``
        Code of the option with the highest mean NMB at each WTP (ties, by the same rule, to
        the lower code).
    evpi : numpy.ndarray, shape ``(K,)``
        Per-person EVPI, ``mean_b max_j NMB_bj - mean_b NMB_b,best``, where a replicate's
        regret within the tie tolerance counts as 0; never negative.
    nmb_quantiles : numpy.ndarray or None, shape ``(P, K, G)``
        Quantiles (at ``probs``) of the incremental NMB ``wtp * d_effect - d_cost``; None
        when no ``probs`` were given.
    """

    cost: np.ndarray
    effect: np.ndarray
    d_cost: np.ndarray
    d_effect: np.ndarray
    icer: np.ndarray
    nmb_mean: np.ndarray
    ceac: np.ndarray
    best: np.ndarray
    evpi: np.ndarray
    nmb_quantiles: np.ndarray | None


def resample_sums(sum_cost: np.ndarray, sum_effect: np.ndarray, group: np.ndarray,
                  n_groups: int, n_resamples: int, rng: np.random.Generator, *,
                  sum_weight: np.ndarray | None = None, chunk_bytes: int = CHUNK_BYTES
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled totals of cost, effect and weight per replicate and group.

    Parameters
    ----------
    sum_cost, sum_effect : numpy.ndarray, shape ``(n,)``
        Per resampling unit: the (weighted) total cost and effect (for a patient with weight
        ``w``: ``w * cost`` and ``w * effect``; for a cluster: the sums over its members).
    group : numpy.ndarray of int, shape ``(n,)``
        Group code of each unit, in ``0 .. n_groups - 1``; each group needs one unit or more.
    n_groups, n_resamples : int
        ``G`` and ``B``.
    rng : numpy.random.Generator
        Consumed as the module docstring says.
    sum_weight : numpy.ndarray, optional
        Per unit total weight (cluster size, or sum of weights); None means 1 per unit, so the
        resampled total weight of group ``g`` is ``n_g``.
    chunk_bytes : int
        Target working set of one chunk (does not change the numbers).

    Returns
    -------
    (S_cost, S_effect, S_weight) : numpy.ndarray, each ``(B, G)``
    """
    group = np.asarray(group)
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    pairs = (np.asarray(sum_cost, dtype=float) + 1j * np.asarray(sum_effect, dtype=float))[order]
    weights = None if sum_weight is None else np.asarray(sum_weight, dtype=float)[order]
    shape = (n_resamples, n_groups)
    s_cost, s_effect, s_weight = np.empty(shape), np.empty(shape), np.empty(shape)
    for g in range(n_groups):  # loop over groups and chunks of replicates, not replicates
        n_g = int(counts[g])
        z = pairs[bounds[g]:bounds[g + 1]]
        w = None if weights is None else weights[bounds[g]:bounds[g + 1]]
        rows = max(1, min(n_resamples, chunk_bytes // (24 * max(n_g, 1))))
        buf = np.empty((rows, n_g), dtype=complex)
        wbuf = None if w is None else np.empty((rows, n_g))
        for b0 in range(0, n_resamples, rows):
            b1 = min(n_resamples, b0 + rows)
            idx = rng.integers(0, n_g, size=(b1 - b0, n_g))
            # 'wrap' never wraps (indices are in range) but lets take() write into buf directly
            got = np.take(z, idx, mode="wrap", out=buf[: b1 - b0])
            tot = got.sum(axis=1)
            s_cost[b0:b1, g] = tot.real
            s_effect[b0:b1, g] = tot.imag
            if w is not None:
                s_weight[b0:b1, g] = np.take(w, idx, mode="wrap", out=wbuf[: b1 - b0]).sum(axis=1)
        if w is None:
            s_weight[:, g] = n_g
    return s_cost, s_effect, s_weight


def cea_summaries(cost: np.ndarray, effect: np.ndarray, wtp: np.ndarray, *, reference: int = 0,
                  probs: np.ndarray | None = None, max_bytes: int = MAX_BYTES
                  ) -> CEAReplicates:
    """Increments, ICERs and NMB summaries from replicate mean costs and effects.

    Parameters
    ----------
    cost, effect : numpy.ndarray, shape ``(B, G)``
        Replicate means (from :func:`resample_sums`, or draws of a probabilistic model).
    wtp : numpy.ndarray, shape ``(K,)``
        Willingness-to-pay thresholds (money per unit of effect).
    reference : int
        Column of the reference option.
    probs : numpy.ndarray, optional
        Probabilities at which to take quantiles of the incremental NMB (linear interpolation,
        as ``numpy.quantile``).
    max_bytes : int
        Bound on the temporary ``(rows, K, G)`` NMB array of one chunk of replicates.

    Returns
    -------
    CEAReplicates
    """
    cost = np.asarray(cost, dtype=float)
    effect = np.asarray(effect, dtype=float)
    wtp = np.asarray(wtp, dtype=float)
    n_rep, n_opt = cost.shape
    d_cost = cost - cost[:, [reference]]
    d_effect = effect - effect[:, [reference]]
    icer = np.full_like(d_cost, np.nan)
    np.divide(d_cost, d_effect, out=icer, where=d_effect != 0)
    mean_cost, mean_effect = cost.mean(axis=0), effect.mean(axis=0)
    nmb_mean = wtp[:, None] * mean_effect - mean_cost
    scale = (np.abs(wtp[:, None] * mean_effect) + np.abs(mean_cost)).max(axis=1)
    best = first_within(nmb_mean, tie_tolerance(scale), axis=1)
    wins = np.zeros((wtp.size, n_opt), dtype=np.int64)
    regret = np.zeros(wtp.size)
    rows = max(1, min(max_bytes, CHUNK_BYTES * 4) // (8 * 4 * max(wtp.size, 1)))
    for b0 in range(0, n_rep, rows):  # chunks of replicates bound the (rows, K) arrays
        b1 = min(n_rep, b0 + rows)
        top_val = scale = None
        for j in range(n_opt):  # loop over options (few): running maximum and scale of the NMB
            term_e = wtp[None, :] * effect[b0:b1, j, None]
            size_j = np.abs(term_e) + np.abs(cost[b0:b1, j, None])
            nmb_j = term_e - cost[b0:b1, j, None]
            if j == 0:
                top_val, scale = nmb_j, size_j
            else:
                np.maximum(top_val, nmb_j, out=top_val)
                np.maximum(scale, size_j, out=scale)
        floor = top_val - tie_tolerance(scale)
        top = np.full((b1 - b0, wtp.size), -1, dtype=np.intp)
        at_best = np.empty_like(top_val)
        for j in range(n_opt):  # second pass: the first option within the tolerance of the top
            nmb_j = wtp[None, :] * effect[b0:b1, j, None] - cost[b0:b1, j, None]
            top[(top < 0) & (nmb_j >= floor)] = j
            cols = best == j
            at_best[:, cols] = nmb_j[:, cols]
        for j in range(n_opt):
            wins[:, j] += np.count_nonzero(top == j, axis=0)
        gap = top_val - at_best
        regret += np.where(gap > top_val - floor, gap, 0.0).sum(axis=0)
    quantiles = None
    if probs is not None:
        probs = np.asarray(probs, dtype=float)
        quantiles = np.zeros((probs.size, wtp.size, n_opt))
        cols = max(1, max_bytes // (8 * 2 * max(n_rep, 1)))
        for j in range(n_opt):
            if j == reference:
                continue
            for k0 in range(0, wtp.size, cols):
                k1 = min(wtp.size, k0 + cols)
                inc = wtp[k0:k1, None] * d_effect[None, :, j] - d_cost[None, :, j]
                quantiles[:, k0:k1, j] = np.quantile(inc, probs, axis=1)
    return CEAReplicates(cost=cost, effect=effect, d_cost=d_cost, d_effect=d_effect, icer=icer,
                         nmb_mean=nmb_mean, ceac=wins / n_rep, best=best, evpi=regret / n_rep,
                         nmb_quantiles=quantiles)


def bootstrap_cea(sum_cost: np.ndarray, sum_effect: np.ndarray, group: np.ndarray, *,
                  n_groups: int, n_resamples: int, rng: np.random.Generator, wtp: np.ndarray,
                  sum_weight: np.ndarray | None = None, reference: int = 0,
                  probs: np.ndarray | None = None, chunk_bytes: int = CHUNK_BYTES,
                  max_bytes: int = MAX_BYTES) -> CEAReplicates:
    r"""Stratified non-parametric bootstrap of a cost-effectiveness comparison.

    Parameters
    ----------
    sum_cost, sum_effect : numpy.ndarray, shape ``(n,)``
        Per resampling unit (patient or cluster) totals of weighted cost and effect.
    group : numpy.ndarray of int, shape ``(n,)``
        Option code of each unit (clusters are nested in options).
    n_groups, n_resamples : int
        Number of options ``G`` and of replicates ``B``.
    rng : numpy.random.Generator
        Consumed exactly as the module docstring says.
    wtp : numpy.ndarray, shape ``(K,)``
        Willingness-to-pay thresholds.
    sum_weight : numpy.ndarray, optional
        Per unit total weight; None for one per unit.
    reference : int
        Code of the reference option.
    probs : numpy.ndarray, optional
        Quantile levels of the incremental NMB to return.
    chunk_bytes, max_bytes : int
        Memory knobs (see :func:`resample_sums` and :func:`cea_summaries`); they do not change
        the numbers. Peak memory is about ``64 * B * G`` bytes of replicates plus
        ``chunk_bytes`` and ``max_bytes`` (128 MB by default) of temporaries: under 1 GB
        unless ``B * G`` exceeds about 10^7.

    Returns
    -------
    CEAReplicates

    Notes
    -----
    Replicate ``b`` resamples ``n_g`` units with replacement within each option ``g`` and
    forms the ratio estimators

    .. math::

        \bar C^*_{bg} = \frac{\sum_{i \in S^*_{bg}} w_i c_i}{\sum_{i \in S^*_{bg}} w_i},
        \qquad
        \bar E^*_{bg} = \frac{\sum_{i \in S^*_{bg}} w_i e_i}{\sum_{i \in S^*_{bg}} w_i},

    where a cluster enters with its sums, so resampling clusters costs ``B x clusters``.
    Then :math:`\Delta C^*_{bg} = \bar C^*_{bg} - \bar C^*_{br}`,
    :math:`\Delta E^*_{bg}`, ICER :math:`\Delta C^* / \Delta E^*` and
    :math:`\mathrm{NMB}_{bg}(\lambda) = \lambda \bar E^*_{bg} - \bar C^*_{bg}`
    (Stinnett & Mullahy 1998). CEAC: :math:`\Pr_b\{g = \arg\max_j \mathrm{NMB}_{bj}\}`
    (Fenwick, Claxton & Sculpher 2001); EVPI per person:
    :math:`E_b[\max_j \mathrm{NMB}_{bj}] - \max_j E_b[\mathrm{NMB}_{bj}]`
    (Briggs, Claxton & Sculpher 2006, ch. 6), accumulated as a mean of non-negative regrets.
    Ties: two NMBs within :func:`tie_tolerance` of the scale of their terms,
    :math:`\max_j (|\lambda \bar E_j| + |\bar C_j|)`, are equal (the argmax is then the lowest
    code: the reference, then option order), so an exact tie is not settled by rounding.

    References
    ----------
    Efron, B. & Tibshirani, R. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
    Briggs, A. H., Wonderling, D. E. & Mooney, C. Z. (1997). Pulling cost-effectiveness analysis
    up by its bootstraps. *Health Economics* 6, 327-340.
    """
    s_cost, s_effect, s_weight = resample_sums(sum_cost, sum_effect, group, n_groups,
                                               n_resamples, rng, sum_weight=sum_weight,
                                               chunk_bytes=chunk_bytes)
    return cea_summaries(s_cost / s_weight, s_effect / s_weight, wtp, reference=reference,
                         probs=probs, max_bytes=max_bytes)
