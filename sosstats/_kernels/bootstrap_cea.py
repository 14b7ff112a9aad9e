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
in turn, the ``B`` replicates of group ``g`` are drawn in blocks of
``R_g = draw_block_rows(n_g) = max(1, 262,144 // n_g)`` replicates (the last block shorter),
block after block, each with one call to the generator (a call uses whole 32- or 64-bit words
and drops what it leaves of the last, so the block boundaries are part of the contract;
``chunk_bytes`` groups whole blocks and does not change the numbers). How a block is drawn
depends on :func:`draw_method`:

- ``"table"`` (the default when ``n_g <= 65,536`` and at most 1/16 of 16-bit words are
  rejected, always when ``n_g <= 4,096``): ``x``, the ``R * n_g`` uniform 16-bit words made
  of the little-endian 16-bit lanes of ``rng.bit_generator.random_raw(ceil(R * n_g / 4))``
  in order, as an ``(R, n_g)`` array (the bit generator's raw output: the cheapest uniform
  bits numpy gives, the same on every machine). With ``A = n_g * (65_536 // n_g)``, a word
  ``x < A`` picks unit ``x % n_g`` (read from a 65,536-entry table of the units' values, so no
  division is done), and the words ``x >= A`` (``(65_536 mod n_g) / 65_536`` of them: 0.8% at
  ``n_g = 5,000``) are replaced, in row-major order, by ``rng.integers(0, n_g, size=count,
  dtype=numpy.uint16)``, one call made right after the block's (none when nothing is
  rejected). Every pick is uniform on the units and independent: the exact bootstrap.
- ``"compact"`` (other sizes): ``rng.integers(0, n_g, size=(R, n_g), dtype=d)`` with
  ``d = compact_index_dtype(n_g)`` (:mod:`sosstats._kernels.resample`: ``uint16`` up to 65,536
  units, else ``int64``).
- ``"scipy"`` (``draws="scipy"``): ``rng.integers(0, n_g, size=(R, n_g))`` (int64), which
  numpy makes identical to one call for all ``B`` rows. With two groups and unit weights this
  is the resampling of ``scipy.stats.bootstrap`` with ``data=(indices of group 0, indices of
  group 1)``, ``batch=None`` and the same Generator, so the percentile intervals agree with
  scipy's to rounding (a test checks it).

A plain loop that reproduces the default draw for draw (the same resampled units; the sums
agree to rounding)::

    for g in range(G):
        units = np.flatnonzero(group == g)
        n_g = len(units)
        rows, accept = max(1, 262_144 // n_g), n_g * (65_536 // n_g)
        for b0 in range(0, B, rows):
            m = min(rows, B - b0)
            raw = rng.bit_generator.random_raw(-(-m * n_g // 4)).astype("<u8")
            x = raw.view("<u2")[: m * n_g].reshape(m, n_g)
            pick = (x % n_g).astype(np.intp)
            redo = x >= accept
            if redo.any():
                pick[redo] = rng.integers(0, n_g, size=redo.sum(), dtype=np.uint16)
            for r in range(len(x)):
                i = units[pick[r]]
                mean_cost[b0 + r, g] = sum_cost[i].sum() / sum_weight[i].sum()
                mean_effect[b0 + r, g] = sum_effect[i].sum() / sum_weight[i].sum()

Why this way. Measured here (10^7 draws from ``range(5000)``, a shared 2-core machine)
``Generator.integers`` costs about 3.2 ns a draw as int64, 2.2 ns as uint16 and 1.1 ns for
full-range uint16 words (any other range pays the rejection step), a 16-bit lane of
``random_raw`` 0.6 ns; ``divmod`` of draws from
``range(n^2)`` costs 2.4 ns an index. Gathering the (cost, effect) pairs stored as one complex
array with ``np.take`` costs about 0.7 ns from a 5,000-entry array with int64 indices, 0.9 ns
with uint16 indices (numpy converts them) and 1.2 ns from the 65,536-entry table; summing each
row 0.3 ns; finding the rejected words 0.2 ns. Two separate float gathers cost about 2 ns more,
``np.bincount`` counts times the values about 2 ns, a sparse CSR matrix product about 1.5 ns,
and ``Generator.multinomial`` counts about 13 ns in all. So a draw costs about 2.4 ns with the
table against 4.2 ns with int64 indices; ``scipy.stats.bootstrap`` of an ICER on samples of
indices does three gathers per draw (the indices, then cost and effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sosstats._kernels.resample import compact_index_dtype
from sosstats._validate import check_array_2d

__all__ = ["CEAReplicates", "DRAW_BLOCK", "TIE_ATOL", "TIE_RTOL", "WORDS", "bootstrap_cea",
           "cea_summaries", "draw_block_rows", "draw_method", "first_within", "resample_sums",
           "tie_tolerance"]

#: Target working set of one chunk of resampling (indices + gathered values), in bytes.
CHUNK_BYTES = 1 << 20
#: Draws made by one ``Generator.integers`` call (whole replicates; see ``draw_block_rows``).
DRAW_BLOCK = 1 << 18
#: Number of 16-bit words: the table of the ``"table"`` draws has this many entries.
WORDS = 1 << 16
#: Upper bound on the temporary NMB arrays of one chunk of replicates, in bytes.
MAX_BYTES = 1 << 27
#: Net benefits closer than ``TIE_RTOL`` times their scale (plus :data:`TIE_ATOL`) are tied.
TIE_RTOL = 1e-9
#: Absolute part of the tie tolerance (money): ties between net benefits of size 0.
TIE_ATOL = 1e-12


def tie_tolerance(scale: np.ndarray | float) -> np.ndarray:
    r"""Tolerance within which two quantities of magnitude ``scale`` count as equal.

    ``TIE_RTOL * |scale| + TIE_ATOL``. For net monetary benefits the scale is that of the
    terms they are made of, :math:`\lambda \max_j |E_j| + \max_j |C_j|`: an NMB is a
    difference, so an exact tie such as :math:`100 \times 0.3 - 30` comes out as ``3.6e-15``
    in floating point (or ``-7.1e-15``, depending on how the means were summed), far below
    that scale but not below the NMB itself.
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


def draw_block_rows(n_g: int) -> int:
    """Replicates whose draws one call to the generator makes: ``DRAW_BLOCK // n_g``.

    At least 1. Part of the random-number contract (module docstring): a call uses whole
    32- or 64-bit words and drops what it leaves of the last, so where the calls split the
    draws changes the numbers.
    """
    return max(1, DRAW_BLOCK // max(int(n_g), 1))


def draw_method(n_g: int, draws: str = "fast") -> str:
    """How a group of ``n_g`` units is drawn: ``"table"``, ``"compact"`` or ``"scipy"``.

    ``draws="scipy"`` gives ``"scipy"``; otherwise ``"table"`` when ``n_g <= 65,536`` and at
    most ``1/16`` of 16-bit words are rejected (``(65,536 mod n_g) / 65,536``: always when
    ``n_g <= 4,096``), else ``"compact"`` (see the module docstring).
    """
    if draws == "scipy":
        return "scipy"
    if n_g <= WORDS and (WORDS % n_g) * 16 <= WORDS:
        return "table"
    return "compact"


def _words(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform 16-bit words: the raw 64-bit outputs of ``rng``'s bit generator, little-endian
    16-bit lanes in order (the unused lanes of the last word are dropped)."""
    size = shape[0] * shape[1]
    raw = np.asarray(rng.bit_generator.random_raw(-(-size // 4)), dtype="<u8")
    return raw.view("<u2")[:size].reshape(shape)


def _group_sums(z: np.ndarray, w: np.ndarray | None, n_resamples: int,
                rng: np.random.Generator, method: str, chunk_bytes: int
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Resampled totals of one group: complex (cost + i effect) and weight, shape ``(B,)``."""
    n_g = z.size
    tot = np.empty(n_resamples, dtype=complex)
    wtot = None if w is None else np.empty(n_resamples)
    if method == "table":
        accept = n_g * (WORDS // n_g)  # words below this map to x % n_g; the rest are redrawn
        table = np.zeros(WORDS, dtype=complex)
        table[:accept] = np.tile(z, WORDS // n_g)
        wtable = None
        if w is not None:
            wtable = np.zeros(WORDS)
            wtable[:accept] = np.tile(w, WORDS // n_g)
        dtype, high = np.dtype(np.uint16), None
    else:
        table, wtable = z, w
        dtype = np.dtype(np.int64) if method == "scipy" else compact_index_dtype(n_g)
        high = n_g
    block = draw_block_rows(n_g)
    per_chunk = max(1, chunk_bytes // ((16 + dtype.itemsize) * block * max(n_g, 1)))
    rows = min(n_resamples, block * per_chunk)
    buf = np.empty((rows, n_g), dtype=complex)
    wbuf = None if w is None else np.empty((rows, n_g))
    for b0 in range(0, n_resamples, rows):  # chunks of whole draw blocks
        b1 = min(n_resamples, b0 + rows)
        for r0 in range(b0, b1, block):  # one call to the generator per draw block
            r1 = min(b1, r0 + block)
            if method == "table":
                idx = _words(rng, (r1 - r0, n_g))
            else:
                idx = rng.integers(0, high, size=(r1 - r0, n_g), dtype=dtype)
            # 'wrap' never wraps (indices are in range) but lets take() write into buf directly
            tot[r0:r1] = np.take(table, idx, mode="wrap", out=buf[: r1 - r0]).sum(axis=1)
            if w is not None:
                wtot[r0:r1] = np.take(wtable, idx, mode="wrap", out=wbuf[: r1 - r0]).sum(axis=1)
            if method == "table":
                redo = np.flatnonzero(idx >= accept)  # row-major order
                if redo.size:
                    new = rng.integers(0, n_g, size=redo.size, dtype=compact_index_dtype(n_g))
                    row = redo // n_g
                    got = z[new]
                    tot[r0:r1] += (np.bincount(row, weights=got.real, minlength=r1 - r0)
                                   + 1j * np.bincount(row, weights=got.imag,
                                                      minlength=r1 - r0))
                    if w is not None:
                        wtot[r0:r1] += np.bincount(row, weights=w[new], minlength=r1 - r0)
    return tot, wtot


def resample_sums(sum_cost: np.ndarray, sum_effect: np.ndarray, group: np.ndarray,
                  n_groups: int, n_resamples: int, rng: np.random.Generator, *,
                  sum_weight: np.ndarray | None = None, chunk_bytes: int = CHUNK_BYTES,
                  draws: str = "fast") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    draws : {"fast", "scipy"}
        ``"fast"`` (default): 16-bit words mapped through a table (or compact ``uint16``
        indices), see the module docstring; ``"scipy"``: int64 indices, the draws of
        ``scipy.stats.bootstrap`` (about 1.4 times slower). The two give different, equally
        valid, replicates.

    Returns
    -------
    (S_cost, S_effect, S_weight) : numpy.ndarray, each ``(B, G)``
    """
    if draws not in ("fast", "scipy"):
        raise ValueError(f"`draws` must be 'fast' or 'scipy'; got {draws!r}.")
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
        tot, wtot = _group_sums(z, w, n_resamples, rng, draw_method(n_g, draws), chunk_bytes)
        s_cost[:, g], s_effect[:, g] = tot.real, tot.imag
        s_weight[:, g] = n_g if w is None else wtot
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

    Raises
    ------
    DataError
        ``cost`` or ``effect`` not 2-D, of different shapes, or not finite
        (:func:`sosstats._validate.check_array_2d`).

    Returns
    -------
    CEAReplicates
    """
    cost = check_array_2d(cost, "cost")
    effect = check_array_2d(effect, "effect", rows=cost.shape[0], columns=cost.shape[1])
    wtp = np.asarray(wtp, dtype=float)
    n_rep, n_opt = cost.shape
    d_cost = cost - cost[:, [reference]]
    d_effect = effect - effect[:, [reference]]
    icer = np.full_like(d_cost, np.nan)
    np.divide(d_cost, d_effect, out=icer, where=d_effect != 0)
    mean_cost, mean_effect = cost.mean(axis=0), effect.mean(axis=0)
    nmb_mean = wtp[:, None] * mean_effect - mean_cost
    scale = wtp * np.abs(mean_effect).max() + np.abs(mean_cost).max()
    best = first_within(nmb_mean, tie_tolerance(scale), axis=1)
    wins = np.zeros((wtp.size, n_opt), dtype=np.int64)
    regret = np.zeros(wtp.size)
    rows = min(n_rep, max(1, min(max_bytes, CHUNK_BYTES * 4)
                          // (8 * (n_opt + 4) * max(wtp.size, 1))))
    k_all = np.arange(wtp.size)
    nmb_buf = np.empty((n_opt, rows, wtp.size))  # buffers reused by every chunk
    top_buf, tol_buf, gap_buf = (np.empty((rows, wtp.size)) for _ in range(3))
    near, taken = np.empty((rows, wtp.size), dtype=bool), np.empty((rows, wtp.size), dtype=bool)
    for b0 in range(0, n_rep, rows):  # chunks of replicates bound the (G, rows, K) arrays
        m = min(n_rep, b0 + rows) - b0
        c_b, e_b = cost[b0:b0 + m].T, effect[b0:b0 + m].T            # (G, m)
        nmb, top_val, tol, gap = nmb_buf[:, :m], top_buf[:m], tol_buf[:m], gap_buf[:m]
        np.multiply(wtp, e_b[:, :, None], out=nmb)
        np.subtract(nmb, c_b[:, :, None], out=nmb)                  # NMB (G, m, K)
        np.max(nmb, axis=0, out=top_val)
        np.multiply(wtp, np.abs(e_b).max(axis=0)[:, None], out=tol)  # scale of the terms
        tol += np.abs(c_b).max(axis=0)[:, None]
        tol *= TIE_RTOL
        tol += TIE_ATOL
        np.subtract(top_val, tol, out=gap)                           # the floor of a tie
        taken[:m] = False
        for j in range(n_opt):  # options (few): the first within the tolerance of the top wins
            np.greater_equal(nmb[j], gap, out=near[:m])
            wins[:, j] += (near[:m] & ~taken[:m]).sum(axis=0)
            taken[:m] |= near[:m]
        np.subtract(top_val, nmb[best, :, k_all].T, out=gap)        # regret of the choice
        gap[gap <= tol] = 0.0
        regret += gap.sum(axis=0)
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
                  max_bytes: int = MAX_BYTES, draws: str = "fast") -> CEAReplicates:
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
    draws : {"fast", "scipy"}
        How the resampling indices are drawn (see :func:`resample_sums`; ``"scipy"``
        reproduces ``scipy.stats.bootstrap``).
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
    :math:`\lambda \max_j |\bar E_j| + \max_j |\bar C_j|`, are equal (the argmax is then the lowest
    code: the reference, then option order), so an exact tie is not settled by rounding.

    References
    ----------
    Efron, B. & Tibshirani, R. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
    Briggs, A. H., Wonderling, D. E. & Mooney, C. Z. (1997). Pulling cost-effectiveness analysis
    up by its bootstraps. *Health Economics* 6, 327-340.
    """
    s_cost, s_effect, s_weight = resample_sums(sum_cost, sum_effect, group, n_groups,
                                               n_resamples, rng, sum_weight=sum_weight,
                                               chunk_bytes=chunk_bytes, draws=draws)
    return cea_summaries(s_cost / s_weight, s_effect / s_weight, wtp, reference=reference,
                         probs=probs, max_bytes=max_bytes)
