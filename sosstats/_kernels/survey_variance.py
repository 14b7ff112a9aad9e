r"""Taylor-linearisation (design-based) covariance of survey statistics, one stage at a time.

The with-replacement / finite-population variance of a vector of linearised totals in a
stratified cluster sample, as R ``survey``'s ``svyrecvar`` (``onestage`` / ``onestrat``):

.. math::

    \hat V = \sum_h (1 - f_h)\,\frac{n_h}{n_h - 1}
             \sum_{c \in h} (T_c - \bar T_h)(T_c - \bar T_h)^\top,

with :math:`T_c = \sum_{i \in c} z_i` the PSU totals of the scores (which already hold the
weights), :math:`\bar T_h` their mean in stratum :math:`h`, :math:`n_h` the number of PSUs of
stratum :math:`h` and :math:`f_h` its first-stage sampling fraction (0 for sampling with
replacement). A stratum with a single PSU ("lonely PSU") has no within-stratum variation; the
``lonely`` rules are those of ``options(survey.lonely.psu)``:

- ``"error"`` (R's ``"fail"``): raise :class:`~sosstats.errors.DesignError`;
- ``"remove"`` and ``"certainty"``: the stratum contributes nothing at this stage;
- ``"adjust"``: its PSU total is centred at zero (the grand mean of linearised scores)
  instead of the stratum mean, scaled by :math:`1 - f_h`;
- ``"average"``: the stratum is left out and the sum over the other strata is multiplied by
  (strata) / (strata with at least two PSUs), within each independent group of strata.

A stratum sampled completely (:math:`1 - f_h < 10^{-7}`) contributes zero whatever its PSU
count, as in ``survey``. The algorithm is one sparse group sum of the rows into PSU totals, one
group sum of the PSU totals into stratum means, and one product ``D' diag(s) D``: ``O(n k + C
k^2)``, no loop over rows, PSUs or strata.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley, ch. 2 and app. C.
Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer, ch. 6.
"""

from __future__ import annotations

import numpy as np

from sosstats._kernels.cluster_cr2 import group_sum
from sosstats.errors import DesignError

__all__ = ["design_covariance", "unit_domain_covariance", "LONELY_PSU", "CERTAINTY_TOL"]

#: the lonely-PSU rules (R ``survey``'s ``"fail"`` is ``"error"`` here)
LONELY_PSU = ("error", "remove", "adjust", "average", "certainty")
#: a stratum with ``1 - f_h`` below this is a certainty stratum (R survey's 1e-7)
CERTAINTY_TOL = 1e-7


def design_covariance(scores: np.ndarray, strata_codes: np.ndarray, psu_codes: np.ndarray,
                      fpc_fraction: np.ndarray | None, lonely: str, *,
                      stratum_scale: np.ndarray | None = None,
                      stratum_group: np.ndarray | None = None,
                      n_psu: np.ndarray | None = None,
                      stratum_labels: np.ndarray | None = None) -> np.ndarray:
    """Design covariance of the column totals of ``scores`` for one sampling stage.

    Parameters
    ----------
    scores : ndarray, shape (n, k)
        Linearised values, weights included (rows may already be PSU totals).
    strata_codes : ndarray of int, shape (n,)
        Stratum of each row, codes ``0 .. H-1``.
    psu_codes : ndarray of int, shape (n,)
        PSU of each row, codes ``0 .. C-1``, unique across strata (each PSU in one stratum).
        Every code must occur (a PSU without rows cannot be located in a stratum).
    fpc_fraction : ndarray, shape (H,), or None
        Sampling fraction ``f_h`` of each stratum at this stage (0: with replacement); None is
        all zeros.
    lonely : {"error", "remove", "adjust", "average", "certainty"}
        Rule for strata with one PSU (module docstring).
    stratum_scale : ndarray, shape (H,), optional
        Extra multiplier of each stratum's contribution (later stages: the sampling fraction of
        the parent PSU's stratum).
    stratum_group : ndarray of int, shape (H,), optional
        Independent groups of strata for the ``"average"`` rescaling (later stages: the parent
        PSU); default one group.
    n_psu : ndarray, shape (H,), optional
        PSUs per stratum in the design, when larger than those present in ``psu_codes``
        (a subset design); missing PSUs have zero totals.
    stratum_labels : ndarray, shape (H,), optional
        Names of the strata for the ``"error"`` message.

    Returns
    -------
    ndarray, shape (k, k)
        The design covariance.

    Raises
    ------
    DesignError
        ``lonely="error"`` and a stratum with one PSU that is not a certainty stratum.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    strata_codes = np.asarray(strata_codes, dtype=np.intp)
    psu_codes = np.asarray(psu_codes, dtype=np.intp)
    C = int(psu_codes.max()) + 1 if psu_codes.size else 0
    H = int(strata_codes.max()) + 1 if strata_codes.size else 0
    k = scores.shape[1]
    if C == 0:
        return np.zeros((k, k))
    totals = group_sum(psu_codes, C, scores)                      # (C, k) PSU totals
    psu_stratum = np.zeros(C, dtype=np.intp)
    psu_stratum[psu_codes] = strata_codes                         # each PSU's stratum
    present = np.bincount(psu_stratum, minlength=H).astype(float)
    n_h = present if n_psu is None else np.maximum(np.asarray(n_psu, dtype=float), present)
    f = np.zeros(H) if fpc_fraction is None else np.asarray(fpc_fraction, dtype=float)
    one_minus_f = 1.0 - f
    certain = one_minus_f < CERTAINTY_TOL
    lone = (n_h == 1) & ~certain & (present > 0)
    if lonely == "error" and lone.any():
        shown = (np.asarray(stratum_labels, dtype=object)[lone] if stratum_labels is not None
                 else np.flatnonzero(lone))
        raise DesignError(f"stratum {', '.join(map(str, shown[:10]))} has only one PSU; "
                          "choose lonely_psu='remove', 'adjust', 'average' or 'certainty'.")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = group_sum(psu_stratum, H, totals) / np.where(n_h > 0, n_h, 1.0)[:, None]
        scale = np.where(n_h > 1, one_minus_f * n_h / (n_h - 1), one_minus_f)
    centre = mean[psu_stratum]
    if lonely == "adjust":
        centre = np.where(lone[psu_stratum][:, None], 0.0, centre)
    dev = totals - centre
    scale = np.where(certain, 0.0, scale)
    if lonely == "average":
        scale = np.where(lone, 0.0, scale)
    if stratum_scale is not None:
        scale = scale * np.asarray(stratum_scale, dtype=float)
    V = dev.T @ (dev * scale[psu_stratum][:, None])
    # padded PSUs (n_psu above those present): zero totals, deviation -mean, R's rbind of zeros
    missing = n_h - present
    if (missing > 0).any():
        w = np.where(n_h > 1, scale, 0.0) * missing
        V = V + (mean * w[:, None]).T @ mean
    if lonely == "average" and lone.any():
        group = (np.zeros(H, dtype=np.intp) if stratum_group is None
                 else np.asarray(stratum_group, dtype=np.intp))
        G = int(group.max()) + 1
        has = present > 0
        nstrat = np.bincount(group, has.astype(float), G)
        nok = np.bincount(group, (has & ~lone).astype(float), G)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = nstrat / nok
        if G == 1:
            V = V * factor[0]
        else:  # rescale each group's strata separately: recompute per-stratum weights
            scale_g = scale * factor[group]
            V = dev.T @ (dev * scale_g[psu_stratum][:, None])
            if (missing > 0).any():
                w = np.where(n_h > 1, scale_g, 0.0) * missing
                V = V + (mean * w[:, None]).T @ mean
    return V


def unit_domain_covariance(scores: np.ndarray, domains: np.ndarray, n_domains: int,
                           strata_codes: np.ndarray, fpc_fraction: np.ndarray | None,
                           lonely: str, *, stratum_labels: np.ndarray | None = None
                           ) -> np.ndarray:
    r"""Design covariance (K m, K m) of domain means when every row is its own PSU.

    Row ``i`` scores ``scores[i]`` (m,) in the block of its domain ``domains[i]`` (-1: in
    none) and zero elsewhere, so a PSU total is non-zero in one block only. Expanding the
    stratum sums of :func:`design_covariance`,

    .. math::

        \hat V = \sum_i s_{h(i)} T_i T_i^\top - \sum_h c_h\, s_h\, S_h S_h^\top / n_h,

    with :math:`S_h` the stratum totals, :math:`s_h` the stratum factor of
    :func:`design_covariance` and :math:`c_h = 0` for a lonely stratum under ``"adjust"``
    (centred at zero) else 1, the first term is block diagonal: one ``m x m`` cross product
    per domain (:func:`~sosstats._kernels.cluster_cr2.group_gram`), so no ``n x K m`` matrix is
    formed; the second is an ``H x K m`` product. Equal to :func:`design_covariance` on the
    expanded scores.
    """
    from sosstats._kernels.cluster_cr2 import group_gram

    scores = np.asarray(scores, dtype=float)
    n, m = scores.shape
    K = int(n_domains)
    strata_codes = np.asarray(strata_codes, dtype=np.intp)
    H = int(strata_codes.max()) + 1
    n_h = np.bincount(strata_codes, minlength=H).astype(float)
    f = np.zeros(H) if fpc_fraction is None else np.asarray(fpc_fraction, dtype=float)
    one_minus_f = 1.0 - f
    certain = one_minus_f < CERTAINTY_TOL
    lone = (n_h == 1) & ~certain
    if lonely == "error" and lone.any():
        shown = (np.asarray(stratum_labels, dtype=object)[lone] if stratum_labels is not None
                 else np.flatnonzero(lone))
        raise DesignError(f"stratum {', '.join(map(str, shown[:10]))} has only one PSU; "
                          "choose lonely_psu='remove', 'adjust', 'average' or 'certainty'.")
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(n_h > 1, one_minus_f * n_h / (n_h - 1), one_minus_f)
    scale = np.where(certain, 0.0, scale)
    centred = ~((lonely == "adjust") & lone)
    if lonely == "average":
        scale = np.where(lone, 0.0, scale)
        if lone.any():
            has = n_h > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = scale * (has.sum() / (has & ~lone).sum())
    inside = domains >= 0
    d = domains[inside]
    z = scores[inside] * np.sqrt(scale[strata_codes[inside]])[:, None]
    present = np.flatnonzero(np.bincount(d, minlength=K))       # domains with rows
    compact = np.full(K, -1, dtype=np.intp)
    compact[present] = np.arange(len(present))
    gram = np.zeros((K, m, m))
    if len(present):
        gram[present] = group_gram(compact[d], len(present), z)   # (K, m, m)
    V = np.zeros((K * m, K * m))
    idx = np.arange(K)[:, None] * m + np.arange(m)[None, :]
    V[idx[:, :, None], idx[:, None, :]] = gram
    S = group_sum(strata_codes[inside] * K + d, H * K, scores[inside]).reshape(H, K * m)
    with np.errstate(invalid="ignore", divide="ignore"):
        wgt = np.where(centred & (n_h > 0), scale / np.where(n_h > 0, n_h, 1.0), 0.0)
    return V - S.T @ (S * wgt[:, None])
