r"""Design-based means, totals, proportions and quantiles, overall and by domain.

Every estimate is a ratio (or total) of weighted group sums, linearised into scores whose
design covariance comes from :meth:`SurveyDesign._variance`; domains are subpopulations (rows
outside a domain keep their PSU in the variance with a zero score, never dropped: Lumley 2010,
sec. 2.3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats._kernels.cluster_cr2 import group_sum

__all__: list[str] = []

#: largest number of (unit x domain x column) PSU totals held as one dense array
DENSE_LIMIT = 40_000_000


def _domain_sums(codes: np.ndarray, K: int, values: np.ndarray) -> np.ndarray:
    """Sum rows of ``values`` (n, m) by domain codes (-1 = no domain) -> (K, m)."""
    inside = codes >= 0
    if inside.all():
        return group_sum(codes, K, values)
    return group_sum(np.where(inside, codes, K), K + 1, values)[:K]


def _domain_means(design: Any, values: np.ndarray, domains: np.ndarray, n_domains: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    r"""Ratio means of every (domain, column) pair and their full design covariance.

    Parameters
    ----------
    design : SurveyDesign
    values : ndarray, shape (n, m)
        Float values; NaN = not observed for that column (the row leaves that column's
        estimates, not the design).
    domains : ndarray of int, shape (n,)
        Domain code ``0 .. K-1`` of each row, -1 outside every domain.
    n_domains : int
        ``K``.

    Returns
    -------
    estimates : ndarray, shape (K * m,)
        :math:`\hat\theta_{kj} = \sum_{i \in k, j} w_i y_{ij} / \sum_{i \in k, j} w_i`,
        domain-major (all columns of domain 0, then domain 1, ...); NaN for an empty cell.
    covariance : ndarray, shape (K * m, K * m)
        Design covariance of the linearised scores
        :math:`z_{i,kj} = w_i 1[i \in k, y_{ij}\ \text{observed}] (y_{ij} - \hat\theta_{kj}) /
        \sum_{i \in k, j} w_i`; rows and columns of empty cells are NaN. Replicate designs:
        the replicate covariance of the re-computed means.

    Notes
    -----
    Linearisation designs never form the ``n x K m`` score matrix: the centred weighted values
    (n, m) are summed once into (finest unit x domain) cells, giving the (U, K m) unit totals
    that the design's multistage kernel uses (a calibrated design residualises row-level
    scores first, so it forms them).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    domains = np.asarray(domains, dtype=np.intp)
    K, m = int(n_domains), values.shape[1]
    obs = ~np.isnan(values)
    y0 = np.where(obs, values, 0.0)

    def ratios(W: np.ndarray) -> np.ndarray:
        """(B, K*m) means for weight columns W (n, B)."""
        B = W.shape[1]
        out = np.empty((B, K, m))
        for j in range(m):          # one pass per item column (not per row, PSU or domain)
            num = _domain_sums(domains, K, W * y0[:, j:j + 1])
            den = _domain_sums(domains, K, W * obs[:, j:j + 1])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, :, j] = (num / den).T
        return out.reshape(B, K * m)

    w = design.weights
    wobs = obs * w[:, None]
    S = _domain_sums(domains, K, wobs)                          # (K, m) domain weight sums
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = _domain_sums(domains, K, wobs * y0) / S
    empty = ~(S > 0)
    est = theta.reshape(-1)
    if design.kind == "replicate":
        cov = design._replicate_covariance(ratios)
    else:
        inside = domains >= 0
        dk = np.where(inside, domains, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.where(obs & inside[:, None],
                         wobs * (y0 - theta[dk]) / S[dk], 0.0)
        e = np.nan_to_num(e, nan=0.0, posinf=0.0, neginf=0.0)
        cov = _domain_score_covariance(design, e, domains, K)
    bad = empty.reshape(-1)
    if bad.any():
        cov = cov.copy()
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
    return est, cov


def _domain_score_covariance(design: Any, e: np.ndarray, domains: np.ndarray, K: int
                             ) -> np.ndarray:
    """Design covariance (K m, K m) of domain-blocked scores ``e`` (n, m), row i in block d_i.

    The score of row ``i`` for cell ``(k, j)`` is ``e[i, j]`` when ``domains[i] == k`` and 0
    otherwise (rows with domain -1 score 0 everywhere but keep their PSU).
    """
    n, m = e.shape
    inside = domains >= 0
    if design._calibration is not None:
        Z = np.zeros((n, K * m))
        rows = np.flatnonzero(inside)
        cols = domains[rows][:, None] * m + np.arange(m)[None, :]
        Z[rows[:, None], cols] = e[rows]
        return design._covariance(Z)
    U = design._n_units
    units = design._units
    unit = np.arange(n, dtype=np.intp) if units is None else units
    if U * K * m <= DENSE_LIMIT:
        code = np.where(inside, unit * K + np.where(inside, domains, 0), U * K)
        T = group_sum(code, U * K + 1, e)[: U * K].reshape(U, K * m)
        return design._unit_covariance(T)
    # many units and domains: sum the columns block by block of domains
    step = max(1, DENSE_LIMIT // (U * m))
    V = np.empty((K * m, K * m))
    blocks = [np.arange(a, min(a + step, K)) for a in range(0, K, step)]
    # the design covariance is bilinear in the scores: V[a, b] from the stacked pair of blocks
    for ia, A in enumerate(blocks):
        for B_ in blocks[ia:]:
            sel = np.union1d(A, B_)
            remap = np.full(K, -1, dtype=np.intp)
            remap[sel] = np.arange(len(sel))
            dsel = np.where(inside, remap[np.where(inside, domains, 0)], -1)
            ok = dsel >= 0
            Ks = len(sel)
            code = np.where(ok, unit * Ks + np.where(ok, dsel, 0), U * Ks)
            T = group_sum(code, U * Ks + 1, e)[: U * Ks].reshape(U, Ks * m)
            Vs = design._unit_covariance(T)
            idx = (sel[:, None] * m + np.arange(m)[None, :]).reshape(-1)
            V[np.ix_(idx, idx)] = Vs
    return V
