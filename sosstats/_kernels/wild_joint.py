r"""Wild cluster restricted bootstrap (WCR) of a joint Wald statistic for ``H0: R b = r``.

The joint-hypothesis form of :func:`sosstats._kernels.wild.wild_cluster_bootstrap`, as
boottest's multiple-hypothesis test (Roodman, MacKinnon, Nielsen & Webb 2019, section 3.4 /
the ``q > 1`` case of section 5) and fwildclusterboot's ``mboottest``. Plain numpy arrays in,
a small :class:`WildJointTest` out; no Python loop over rows or replicates (replicates are
processed in memory chunks of ``batch`` rows).

Algorithm
---------
With ``A = (X'X)^{-1}`` (WLS: every step on ``sqrt(w) X``, ``sqrt(w) y``), OLS ``b``, residuals
``u`` and the CR1 factor :math:`c = \frac{G}{G-1}\frac{n-1}{n-p}`, the sample statistic is

.. math:: W = (R b - r)' \{c\, R A (\textstyle\sum_g s_g s_g') A R'\}^{-1} (R b - r),
          \qquad s_g = X_g' u_g .

The null is imposed, :math:`\tilde b = b - A R'(RAR')^{-1}(Rb - r)`, residuals
:math:`\tilde u`; replicate ``k`` draws cluster weights :math:`v_{kg}` and uses
:math:`y^* = X\tilde b + v_{kg}\tilde u_g`, refits OLS and forms the CR1 Wald statistic
:math:`W^*_k` of the same hypothesis. Since :math:`R\tilde b = r`, with
:math:`\tilde s_g = X_g'\tilde u_g`, :math:`H_g = X_g'X_g`, :math:`a_g = RA\tilde s_g` and
:math:`K_{gh} = RAH_gA\tilde s_h` (all computed once, ``G x q`` and ``G x q x G``; one sparse pass
of cluster sums gives :math:`s_g` and :math:`RAH_g = Z_g'X_g` with :math:`Z = XAR'`, and then
:math:`\tilde s_g = s_g + (RAH_g)'(RAR')^{-1}(Rb - r)` needs no second pass over the rows),

.. math:: Rb^*_k - r = \sum_g v_{kg} a_g, \qquad
          RA S^*_{kg} = v_{kg} a_g - \sum_h v_{kh} K_{gh}, \qquad
          RV^*_kR' = c \sum_g (RAS^*_{kg})(RAS^*_{kg})',

so a chunk of replicates is one ``(B, G) @ (G, Gq)`` product, one batched ``q x q`` Gram and
one batched ``q x q`` solve. A replicate whose ``q x q`` covariance is singular gets
``W* = inf`` (counted as more extreme: conservative).

p-value and ties
----------------
:math:`p = \#\{k : W^*_k > W\} / B`, ties not counted: ``W*`` within a relative 1e-10 of ``W``
in the square-root scale (``sqrt(W*) <= sqrt(W) (1 + 1e-10) + 1e-10``), exactly the
one-coefficient kernel's ``|t*| > |t|`` rule, so with one restriction the p-value is that
kernel's (same weights). The weight vector that reproduces the sample (all ones) is such a tie.
``p = 0`` is then possible and means the p-value is below ``floor = 1 / B``: print it with
:func:`sosstats._kernels.wild_result.pvalue_text` (``"< 1/1,024 (all 1,024 sign vectors)"``)
and state the convention with :func:`~sosstats._kernels.wild_result.tie_note` (``statistic="W*
> W"``).

Enumeration (:func:`sosstats._kernels.wild.enumerates`): all ``2**G`` Rademacher sign vectors
when ``2**G <= n_resamples``, all ``6**G`` Webb vectors when ``6**G <= n_resamples``; the
p-value is then exact and seed-free. Mammen and normal weights are always drawn.

References
----------
Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for
inference with clustered errors. *Review of Economics and Statistics* 90(3), 414-427.
Roodman, D., MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2019). Fast and wild: bootstrap
inference in Stata using boottest. *Stata Journal* 19(1), 4-60.
Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. *Canadian
Journal of Economics* 56(3), 839-858.
Fischer, A. and Roodman, D. (2021). fwildclusterboot: fast wild cluster bootstrap inference for
linear regression models (R package), ``mboottest``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from sosstats._kernels.cluster_cr2 import group_sum
from sosstats._kernels.cluster_wald import restriction_matrix
from sosstats._kernels.wild import (
    WILD_WEIGHTS,
    _check_rank,
    _encode,
    enumerates,
    weight_enumeration,
    wild_weights,
)
from sosstats._kernels.wild_result import pvalue_floor, pvalue_text, tie_note
from sosstats._validate import check_array_2d, check_option, check_rng
from sosstats.errors import DataError, DesignError

__all__ = ["WildJointTest", "wild_joint_test"]

_TIE_RTOL = 1e-10  # as sosstats._kernels.wild: ties in the sqrt(W) = |t| scale


class WildJointTest(NamedTuple):
    """The wild cluster restricted bootstrap test of ``R b = r``.

    ``statistic`` is the sample's CR1 Wald statistic ``W`` (chi-square scale, not divided by
    ``q``); ``p_value`` the share of replicates with ``W* > W`` (ties not counted);
    ``n_draws`` the replicates used (``2**G`` / ``6**G`` when ``enumerated``); ``floor`` is
    ``1 / n_draws``, the bound a ``p_value`` of 0 lies below. ``w_star`` holds the replicates'
    statistics when asked for (``return_draws=True``), else ``None``.
    """

    statistic: float
    p_value: float
    n_draws: int
    enumerated: bool
    floor: float
    weight_type: str
    n_clusters: int
    n_restrictions: int
    w_star: np.ndarray | None = None

    def p_value_text(self, fraction: bool = True) -> str:
        """Return the p-value as printed, its floor as ``"< 1/1,024 (all 1,024 sign vectors)"``."""
        return pvalue_text(self.p_value, self.n_draws, self.enumerated,
                           weight_type=self.weight_type, fraction=fraction)

    def note(self) -> str:
        """Return the tie convention and the weights in words (:func:`wild_result.tie_note`)."""
        return tie_note(self.n_draws, self.enumerated, self.weight_type, statistic="W* > W")


def _inputs(X: Any, y: Any, clusters: Any, weights: Any
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validate and return ``sqrt(w) X``, ``sqrt(w) y``, 0-based cluster codes and ``G``."""
    try:
        xa = np.asarray(X, dtype=float)
        ya = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`X` and `y` must be numeric arrays: {exc}") from exc
    if ya.ndim != 1:
        raise DataError(f"`y` must be one-dimensional (n,); got shape {ya.shape}.")
    xa = xa[:, None] if xa.ndim == 1 else xa
    xa = check_array_2d(xa, "X", rows=ya.shape[0])
    if not np.isfinite(ya).all():
        raise DataError(f"`y` has {int((~np.isfinite(ya)).sum())} NaN or infinite value(s).")
    cl = np.asarray(clusters)
    if cl.shape != ya.shape:
        raise DataError(f"`clusters` must be a 1-d array of length {ya.shape[0]}; got shape "
                        f"{cl.shape}.")
    if cl.dtype.kind == "f" and np.isnan(cl).any():
        raise DataError(f"`clusters` has {int(np.isnan(cl).sum())} NaN value(s).")
    if cl.dtype.kind == "O" and any(c is None or c != c for c in cl):
        raise DataError("`clusters` has missing (None / NaN) labels.")
    labels, codes = _encode(cl)
    g = len(labels)
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != ya.shape:
            raise DataError(f"`weights` must have shape ({ya.shape[0]},); got {w.shape}.")
        if not np.isfinite(w).all() or (w < 0).any():
            raise DataError("`weights` must be finite and non-negative; "
                            f"{int((~np.isfinite(w)).sum())} are NaN or infinite, "
                            f"{int((w < 0).sum())} negative.")
        total = np.bincount(codes, weights=w, minlength=g)
        if (total == 0).any():
            empty = labels[np.flatnonzero(total == 0)].tolist()
            raise DataError(f"`weights` are zero in every row of cluster(s) {empty[:5]}: such a "
                            "cluster carries no information; drop it first.")
        keep = w > 0
        root = np.sqrt(w[keep])
        xa, ya, codes = xa[keep] * root[:, None], ya[keep] * root, codes[keep]
    if g < 2:
        raise DesignError("The wild cluster bootstrap needs at least 2 clusters; got "
                          f"{g} in `clusters`.")
    return xa, ya, codes, g


def wild_joint_test(X: Any, y: Any, clusters: Any, *, R: Any, r: Any = None,
                    weights: Any = None, weight_type: str = "rademacher",
                    n_resamples: int = 9999, rng: int | np.random.Generator | None = None,
                    full_enumeration: bool | str = "auto", batch: int | None = None,
                    return_draws: bool = False) -> WildJointTest:
    """Wild cluster restricted bootstrap p-value of the joint hypothesis ``R b = r``.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Design (the intercept is a column); full column rank.
    y : array_like, shape (n,)
        Outcome.
    clusters : array_like, shape (n,)
        Cluster labels; ``G >= 2`` distinct.
    R : array_like, shape (q, p)
        Restrictions, full row rank, ``q <= G - 1`` (a 1-d array is one restriction).
    r : array_like, shape (q,), optional
        Hypothesised values (default zeros).
    weights : array_like, shape (n,), optional
        Non-negative regression (WLS) weights; zero-weight rows are dropped, a cluster whose
        weights are all zero is an error.
    weight_type : {"rademacher", "webb", "mammen", "normal"}
        Distribution of the cluster weights (:func:`sosstats._kernels.wild.wild_weights`).
    n_resamples : int
        Draws ``B`` when sampling; also the enumeration budget (see the module notes).
    rng : int, Generator or None
        Random source of the draws (unused when enumerating).
    full_enumeration : {"auto", True, False}
        As in :func:`sosstats._kernels.wild.wild_cluster_bootstrap`.
    batch : int, optional
        Replicates per chunk (memory); default keeps a chunk near 2**22 numbers.
    return_draws : bool
        Keep the ``B`` bootstrap statistics in ``w_star``.

    Returns
    -------
    WildJointTest

    Raises
    ------
    DataError, DesignError
        Naming the argument: ``R`` of the wrong shape, not of full row rank, or with more rows
        than ``G - 1``; ``r`` of the wrong length; collinear ``X``; a bad ``weight_type``, ...
    """
    check_option(weight_type, WILD_WEIGHTS, "weight_type")
    check_option(full_enumeration, ("auto", True, False), "full_enumeration")
    if isinstance(n_resamples, (bool, np.bool_)) or not isinstance(n_resamples,
                                                                   (int, np.integer)) \
            or n_resamples < 1:
        raise DataError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, (int, np.integer))
                              or batch < 1):
        raise DataError(f"`batch` must be a positive integer or None; got {batch!r}.")
    gen = check_rng(rng)
    xa, ya, codes, g = _inputs(X, y, clusters, weights)
    n, p = xa.shape
    Ra, ra = restriction_matrix(R, r, p, g)
    q = Ra.shape[0]
    if n <= p:
        raise DesignError(f"CR1 needs more rows than columns; got n={n}, p={p}.")
    xtx = xa.T @ xa
    _check_rank(xtx)
    A = np.linalg.inv(xtx)
    ssc = g / (g - 1) * (n - 1) / (n - p)
    beta = A @ (xa.T @ ya)
    resid = ya - xa @ beta
    ra_a = Ra @ A                                                   # (q, p): R A
    # one pass of cluster sums: s_g = X_g'u_g and Z_g'X_g = R A H_g with Z = X A R'
    z = xa @ ra_a.T                                                 # (n, q)
    cols = np.empty((n, p * (q + 1)))
    cols[:, :p] = xa * resid[:, None]
    cols[:, p:].reshape(n, q, p)[...] = z[:, :, None] * xa[:, None, :]
    sums = group_sum(codes, g, cols)
    s = sums[:, :p]                                                 # (G, p): s_g
    rah = sums[:, p:].reshape(g, q, p)                              # (G, q, p): R A H_g
    # the sample's CR1 Wald statistic
    rs = s @ ra_a.T                                                 # (G, q): R A s_g
    diff = Ra @ beta - ra
    vr = ssc * (rs.T @ rs)
    try:
        wald = float(diff @ np.linalg.solve(vr, diff))
    except np.linalg.LinAlgError:
        raise DesignError(f"The CR1 covariance of `R` b ({q} x {q}) is singular: the "
                          "restrictions are not identified from the cluster scores.") from None
    if not np.isfinite(wald) or np.linalg.cond(vr) > 1e12:
        raise DesignError(f"The CR1 covariance of `R` b ({q} x {q}) is (near) singular: the "
                          "restrictions are not identified from the cluster scores.")
    # the restricted fit: u~ = u + Z c, so s~_g = s_g + (R A H_g)' c (no second pass)
    c = np.linalg.solve(ra_a @ Ra.T, diff)
    s_r = s + np.einsum("gqp,q->gp", rah, c)                        # (G, p): s~_g
    a = s_r @ ra_a.T                                                # (G, q): a_g
    k_t = (rah.reshape(g * q, p) @ (A @ s_r.T)).T                   # (G_h, G_g * q): K'
    enumerated = enumerates(weight_type, g, int(n_resamples), full_enumeration)
    V = (weight_enumeration(weight_type, g) if enumerated
         else wild_weights(gen, int(n_resamples), g, weight_type))
    B = V.shape[0]
    step = int(batch) if batch is not None else max(1, 2 ** 22 // (g * q + q * q + 1))
    w_star = np.empty(B)
    for start in range(0, B, step):                                  # memory chunks only
        vb = V[start:start + step]                                  # (b, G)
        num = vb @ a                                                # (b, q)
        t = vb[:, :, None] * a[None] - (vb @ k_t).reshape(-1, g, q)  # (b, G, q)
        meat = ssc * np.matmul(t.transpose(0, 2, 1), t)             # (b, q, q)
        w_star[start:start + vb.shape[0]] = _quad_forms(meat, num)
    root = np.sqrt(wald) * (1.0 + _TIE_RTOL) + _TIE_RTOL
    p_value = float(np.count_nonzero(w_star > root * root) / B)
    return WildJointTest(statistic=wald, p_value=p_value, n_draws=int(B),
                         enumerated=bool(enumerated), floor=pvalue_floor(B),
                         weight_type=weight_type, n_clusters=g, n_restrictions=q,
                         w_star=w_star if return_draws else None)


def _quad_forms(meat: np.ndarray, num: np.ndarray) -> np.ndarray:
    """``num_k' meat_k^{-1} num_k`` for a batch; ``inf`` where ``meat_k`` is singular."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            sol = np.linalg.solve(meat, num[:, :, None])[:, :, 0]
            out = np.einsum("bq,bq->b", num, sol)
            bad = ~np.isfinite(out)
        except np.linalg.LinAlgError:                                # a singular replicate
            out = np.empty(num.shape[0])
            bad = np.ones(num.shape[0], dtype=bool)
        for k in np.flatnonzero(bad):                                # rare: one at a time
            try:
                out[k] = float(num[k] @ np.linalg.solve(meat[k], num[k]))
            except np.linalg.LinAlgError:
                out[k] = np.inf
            if not np.isfinite(out[k]):
                out[k] = np.inf
    return out
