"""Wild cluster restricted bootstrap (WCR) for one coefficient of a linear model, one kernel.

All replicates come from cluster-level score sums computed once and a ``(B, G)`` weight matrix
multiplied into ``(G, G)`` arrays (Roodman, MacKinnon, Nielsen & Webb 2019); there is no Python
loop over rows or replicates (replicates are processed in chunks of ``batch`` rows only to cap
memory). The bootstrap t-statistics are linear-over-quadratic in the hypothesised value, so the
confidence interval by test inversion re-uses the same five numbers per replicate for every
null value. See ``docs/panel.md`` for the algebra; the result type and how its p-value prints
are in :mod:`sosstats._kernels.wild_result`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats._kernels.wild_invert import _Crossings, _invert
from sosstats._kernels.wild_result import (  # re-exported: the kernel's result
    WildBootResult,
    pvalue_text,
    pvalues_as_text,
    tie_note,
)
from sosstats._kernels.wild_weights import (  # re-exported: the weight distributions
    WEBB_POINTS,
    WILD_WEIGHTS,
    enumerates,
    rademacher_enumeration,
    webb_enumeration,
    weight_enumeration,
    wild_weights,
)
from sosstats._validate import (
    check_array_2d,
    check_finite,
    check_level,
    check_option,
    check_rng,
)
from sosstats.errors import DataError, DesignError

__all__ = [
    "WildBootResult",
    "wild_cluster_bootstrap",
    "wild_cluster_bootstrap_terms",
    "wild_weights",
    "rademacher_enumeration",
    "webb_enumeration",
    "weight_enumeration",
    "enumerates",
    "pvalue_text",
    "pvalues_as_text",
    "tie_note",
    "WEBB_POINTS",
    "WILD_WEIGHTS",
]

def _encode(clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels and 0-based codes (``np.unique``; O(n) for small-range ints)."""
    if clusters.dtype.kind in "iu" and clusters.size:
        lo, hi = int(clusters.min()), int(clusters.max())
        if hi - lo <= 4 * clusters.size + 1024:
            present = np.bincount(clusters - lo, minlength=hi - lo + 1) > 0
            rank = np.cumsum(present) - 1
            return np.flatnonzero(present) + lo, rank[clusters - lo].astype(np.intp)
    labels, codes = np.unique(clusters, return_inverse=True)
    return labels, codes.reshape(-1).astype(np.intp)


def _group_sum(codes: np.ndarray, X: np.ndarray, r: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group sums of ``X * r[:, None]`` -> (n_groups, p)."""
    return np.stack([np.bincount(codes, weights=X[:, k] * r, minlength=n_groups)
                     for k in range(X.shape[1])], axis=1)  # loop over columns only


def _check_rank(XtX: np.ndarray) -> None:
    """Raise DesignError when the columns of X are collinear (scaled X'X near singular)."""
    p = XtX.shape[0]
    d = np.sqrt(np.diag(XtX))
    if (d == 0).any():
        raise DesignError(f"`X` column(s) {np.flatnonzero(d == 0).tolist()} are all zero.")
    eig = np.linalg.eigvalsh(XtX / np.outer(d, d))
    if eig[0] <= max(p, 1) * 1e-12 * eig[-1]:
        raise DesignError(f"`X` (p={p}) is rank deficient: its columns are collinear.")


def _check_inputs(X: Any, y: Any, clusters: Any, weights: Any, term: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    try:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`X` and `y` must be numeric arrays: {exc}") from exc
    if X.ndim == 1:
        X = X[:, None]
    if y.ndim != 1:
        raise DataError(f"`y` must be one-dimensional (n,); got shape {y.shape}.")
    X = check_array_2d(X, "X", rows=y.shape[0])
    n, p = X.shape
    if not np.isfinite(y).all():
        raise DataError(f"`y` has {int((~np.isfinite(y)).sum())} NaN or infinite value(s).")
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or clusters.shape[0] != n:
        raise DataError(f"`clusters` must be a 1-d array of length {n}; got shape "
                        f"{clusters.shape}.")
    if clusters.dtype.kind == "f" and np.isnan(clusters).any():
        raise DataError(f"`clusters` has {int(np.isnan(clusters).sum())} NaN value(s).")
    if clusters.dtype.kind == "O" and any(c is None or c != c for c in clusters):
        raise DataError("`clusters` has missing (None / NaN) labels.")
    labels, codes = _encode(clusters)
    G = len(labels)
    if G < 2:
        raise DesignError(f"The wild cluster bootstrap needs at least 2 clusters; all {n} "
                          f"rows are in cluster {labels[0]!r}." if G else
                          "The wild cluster bootstrap needs data; got 0 rows.")
    if isinstance(term, (bool, np.bool_)) or not isinstance(term, (int, np.integer)):
        raise DataError(f"`term` must be an integer column index of X; got {term!r}.")
    if not -p <= term < p:
        raise DataError(f"`term` {term} is out of range for X with {p} column(s).")
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != (n,):
            raise DataError(f"`weights` must have shape ({n},); got {w.shape}.")
        if not np.isfinite(w).all() or (w <= 0).any():
            raise DataError(f"`weights` must be finite and positive; {int((~(w > 0)).sum())} "
                            f"are NaN, zero or negative, {int(np.isinf(w).sum())} infinite.")
        sw = np.sqrt(w)
        X, y = X * sw[:, None], y * sw
    if n <= p:
        raise DesignError(f"CR1 needs more rows than columns; got n={n}, p={p}.")
    return X, y, codes, G, int(term) % p


def _cluster_gram(codes: np.ndarray, X: np.ndarray, G: int) -> np.ndarray:
    """Per-cluster ``X_g'X_g`` (G, p, p): ``p (p + 1) / 2`` bincounts for a few columns (no
    sort of the rows), else :func:`sosstats._kernels.cluster_cr2.group_gram`."""
    p = X.shape[1]
    if p > 6:
        from sosstats._kernels.cluster_cr2 import group_gram

        return group_gram(codes, G, X)
    out = np.empty((G, p, p))
    for a in range(p):                  # a loop over column pairs, not rows
        for b in range(a, p):
            out[:, a, b] = out[:, b, a] = np.bincount(codes, weights=X[:, a] * X[:, b],
                                                      minlength=G)
    return out


def _check_residuals(resid: np.ndarray, y: np.ndarray) -> None:
    if np.linalg.norm(resid) <= 1e-12 * max(np.linalg.norm(y), 1e-300):
        raise DesignError("`X` fits `y` exactly (all residuals are zero): the t-statistic "
                          "is undefined.")


class _Fit:
    """The OLS fit and the cluster sums every coefficient's bootstrap shares.

    ``s_g = X_g'u_g`` (G, p) and the cluster Gram matrices ``X_g'X_g`` (G, p, p): one pass over
    the rows for all coefficients, so testing every term costs one pass, not one per term.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, codes: np.ndarray, G: int):
        self.n, self.p = X.shape
        self.G = G
        self.XtX = X.T @ X
        _check_rank(self.XtX)
        self.beta = np.linalg.solve(self.XtX, X.T @ y)
        resid = y - X @ self.beta
        _check_residuals(resid, y)
        self._cluster_pieces(X, resid, codes)

    @classmethod
    def from_parts(cls, X: np.ndarray, resid: np.ndarray, beta: np.ndarray, XtX: np.ndarray,
                   codes: np.ndarray, G: int) -> _Fit:
        """Build the fit of a caller that has already checked ``X``, fitted it, coded clusters.

        ``codes`` are ``0..G-1``, every one present; ``beta`` and ``resid`` the OLS fit of
        ``X`` (unweighted) and ``XtX`` its Gram matrix. Skips the input checks and the refit
        of :meth:`__init__` (the public path of ``change_model`` has done both).
        """
        self = cls.__new__(cls)
        self.n, self.p = X.shape
        self.G = G
        self.XtX = XtX
        self.beta = np.asarray(beta, dtype=float)
        _check_residuals(resid, X @ self.beta + resid)
        self._cluster_pieces(X, resid, codes)
        return self

    def _cluster_pieces(self, X: np.ndarray, resid: np.ndarray, codes: np.ndarray) -> None:
        G = self.G
        self.s = _group_sum(codes, X, resid, G)
        self.gram = _cluster_gram(codes, X, G)
        self.As = np.linalg.solve(self.XtX, self.s.T)


class _WildSetup:
    """Cluster-level pieces for the WCR t-statistics of one coefficient, for any null.

    With ``A = (X'X)^{-1}``, ``w = A e_j``, OLS residuals ``u`` and ``d = beta_j - null``,
    the restricted residuals are ``u + X w d / A_jj``. Per cluster ``g`` let
    ``s_g = X_g'u_g`` and ``m_g = X_g'X_g w``. Then, for a weight row ``v``,

        numerator*(d) = v . (c0 + d c1),            c0_g = w's_g,  c1_g = w'm_g / A_jj
        Z*_g(d)       = v_g (c0_g + d c1_g) - sum_h (H0 + d H1)_{gh} v_h
        H0_{gh}       = m_g' A s_h,                 H1_{gh} = m_g' A m_h / A_jj
        t*(d)         = numerator* / sqrt(ssc * sum_g Z*_g^2).
    """

    def __init__(self, fit: _Fit, j: int):
        n, p, G, XtX = fit.n, fit.p, fit.G, fit.XtX
        e = np.zeros(p)
        e[j] = 1.0
        w = np.linalg.solve(XtX, e)
        ajj = w[j]
        s = fit.s                            # (G, p): X_g'u_g
        m = fit.gram @ w                     # (G, p): X_g'X_g w
        beta = fit.beta
        As = fit.As                          # (p, G)
        Am = np.linalg.solve(XtX, m.T)
        self.c0 = s @ w
        self.c1 = (m @ w) / ajj
        # H = [H0 | H1] stacked as (G, 2G) so one matmul gives both V H0' and V H1'
        self.H_t = np.hstack([(m @ As).T, (m @ Am).T / ajj])
        self.ssc = G / (G - 1) * (n - 1) / (n - p)
        self.estimate = float(beta[j])
        self.std_error = float(np.sqrt(self.ssc * np.sum(self.c0 ** 2)))
        self.G = G

    def components(self, V: np.ndarray, batch: int) -> np.ndarray:
        """Per-replicate coefficients ``(n0, n1, q0, q1, q2)``, shape ``(5, B)``.

        The numerator is ``n0 + d n1`` and ``sum_g Z*_g^2 = q0 + 2 d q1 + d^2 q2``.
        """
        B, G = V.shape
        out = np.empty((5, B))
        for start in range(0, B, batch):  # memory chunks, not one pass per replicate
            Vb = V[start:start + batch]
            VH = Vb @ self.H_t  # (b, 2G)
            Z0 = Vb * self.c0 - VH[:, :G]
            Z1 = Vb * self.c1 - VH[:, G:]
            sl = slice(start, start + Vb.shape[0])
            out[0, sl] = Vb @ self.c0
            out[1, sl] = Vb @ self.c1
            out[2, sl] = np.einsum("bg,bg->b", Z0, Z0)
            out[3, sl] = np.einsum("bg,bg->b", Z0, Z1)
            out[4, sl] = np.einsum("bg,bg->b", Z1, Z1)
        return out


def _t_star(comp: np.ndarray, d: float, ssc: float) -> np.ndarray:
    n0, n1, q0, q1, q2 = comp
    denom = ssc * np.maximum(q0 + 2.0 * d * q1 + d * d * q2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (n0 + d * n1) / np.sqrt(denom)


def wild_cluster_bootstrap(X: Any, y: Any, clusters: Any, *, term: int, null: float = 0.0,
                           weights: Any = None, weight_type: str = "rademacher",
                           n_resamples: int = 9999, rng: int | np.random.Generator | None = None,
                           full_enumeration: bool | str = "auto", level: float = 0.95,
                           ci: bool = True, batch: int | None = None) -> WildBootResult:
    r"""Wild cluster restricted bootstrap (WCR) test and interval for one coefficient.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Design matrix (include the intercept column yourself); a 1-d array is one column.
        Intercept-only ``X = ones((n, 1))`` tests a single mean (e.g. a pre/post mean change).
    y : array_like, shape (n,)
        Outcome.
    clusters : array_like, shape (n,)
        Cluster labels (any sortable values); ``G`` distinct labels, ``G >= 2``.
    term : int
        Column of ``X`` under test (negative indices count from the end).
    null : float
        The value of ``beta[term]`` under H0.
    weights : array_like, shape (n,), optional
        Positive analytic / probability weights: the model is fitted by WLS and every step is
        done on ``sqrt(w) X`` and ``sqrt(w) y``.
    weight_type : {"rademacher", "webb", "mammen", "normal"}
        Distribution of the cluster weights ``v_g`` (:func:`wild_weights`).
    n_resamples : int
        ``B`` when sampling.
    rng : int, Generator or None
        Random source for the weights (unused when enumerating).
    full_enumeration : {"auto", True, False}
        ``"auto"``: use every vector of the support when it fits in ``n_resamples``: all
        ``2**G`` Rademacher sign vectors when ``2**G <= n_resamples``, all ``6**G`` Webb vectors
        when ``6**G <= n_resamples`` (:func:`enumerates`). ``True`` forces enumeration
        (Rademacher ``G <= 20``, Webb ``G <= 8``). Mammen and normal weights are always drawn.
    level : float
        Confidence level of the interval.
    ci : bool
        Compute the interval by test inversion (same weights for every null).
    batch : int, optional
        Replicates per chunk (memory cap); default keeps each chunk near 2**22 numbers.

    Returns
    -------
    WildBootResult

    Notes
    -----
    Fit ``b`` by OLS; impose H0 to get the restricted fit
    :math:`\tilde b = b - A e_j (b_j - \beta_0)/A_{jj}`, :math:`A = (X'X)^{-1}`, with
    residuals :math:`\tilde u`. Replicate ``b`` uses
    :math:`y^*_g = X_g \tilde b + v_{bg} \tilde u_g` and
    :math:`t^*_b = (b^*_j - \beta_0) / \mathrm{se}_{CR1}(b^*_j)`, with the CR1 factor
    :math:`G/(G-1) \cdot (n-1)/(n-p)` as Stata and ``wildboottest``. All ``t*`` follow from
    per-cluster score sums ``X_g'u_g`` and ``X_g'X_g A e_j`` (``G x p`` each) and one
    ``(B x G) @ (G x 2G)`` product (Roodman et al. 2019, section 5). The p-value is the
    symmetric two-sided ``#{b: |t*_b| > |t|} / B`` with ties (relative 1e-10) not counted
    (so it can be 0, printed as below ``1 / B`` by :func:`pvalue_text`):
    ``wildboottest``'s ``np.mean(abs(t) < abs(t_boot))`` and boottest's default symmetric
    p-value. Under enumeration it is exact. The interval is ``{beta_0 : p(beta_0) > 1 -
    level}``, found by doubling a bracket out from the estimate and ``brentq`` on each side;
    since ``t*`` is linear over the square root of a quadratic in ``beta_0`` each evaluation
    costs ``O(B)``.

    References
    ----------
    Cameron, Gelbach & Miller (2008), Review of Economics and Statistics 90(3).
    Roodman, MacKinnon, Nielsen & Webb (2019), Stata Journal 19(1) ("boottest").
    Webb (2023), Canadian Journal of Economics 56(3).
    MacKinnon, Nielsen & Webb (2023), Journal of Econometrics 232(2).
    """
    X, y, codes, G, j = _check_inputs(X, y, clusters, weights, term)
    check_option(weight_type, WILD_WEIGHTS, "weight_type")
    check_option(full_enumeration, ("auto", True, False), "full_enumeration")
    if isinstance(n_resamples, (bool, np.bool_)) or not isinstance(n_resamples,
                                                                   (int, np.integer)):
        raise DataError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    if n_resamples < 1:
        raise DataError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    null = check_finite(null, "`null`")
    level = check_level(level)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, (int, np.integer))
                              or batch < 1):
        raise DataError(f"`batch` must be a positive integer or None; got {batch!r}.")
    gen = check_rng(rng)
    fit = _Fit(X, y, codes, G)
    return _one_term(fit, j, null, weight_type, int(n_resamples), gen, full_enumeration, level,
                     ci, batch)


def _one_term(fit: _Fit, j: int, null: float, weight_type: str, n_resamples: int,
              gen: np.random.Generator, full_enumeration: bool | str, level: float, ci: bool,
              batch: int | None, V: np.ndarray | None = None) -> WildBootResult:
    G = fit.G
    enumerate_all = enumerates(weight_type, G, n_resamples, full_enumeration)
    if V is None or not enumerate_all:
        V = (weight_enumeration(weight_type, G) if enumerate_all
             else wild_weights(gen, n_resamples, G, weight_type))
    setup = _WildSetup(fit, j)
    chunk = int(batch) if batch is not None else max(1, 2 ** 22 // (3 * G))
    comp = setup.components(V, chunk)
    d = setup.estimate - null
    t_star = _t_star(comp, d, setup.ssc)
    statistic = d / setup.std_error if setup.std_error > 0 else float("nan")
    cross = _Crossings(comp, setup)
    p_value = cross.p_value(d)
    lo = hi = float("nan")
    if ci:
        lo = _invert(cross, setup, 1.0 - level, -1)
        hi = _invert(cross, setup, 1.0 - level, +1)
    return WildBootResult(estimate=setup.estimate, statistic=float(statistic),
                          p_value=p_value, ci_lower=lo, ci_upper=hi, n_resamples=V.shape[0],
                          enumerated=bool(enumerate_all), weight_type=weight_type,
                          t_star=t_star, std_error=setup.std_error, null=null, n_clusters=G,
                          level=level, term=j, nobs=fit.n)


def wild_cluster_bootstrap_terms(X: Any, y: Any, clusters: Any, *, weights: Any = None,
                                 weight_type: str = "rademacher", n_resamples: int = 9999,
                                 rng: int | np.random.Generator | None = None,
                                 level: float = 0.95, ci: bool = True
                                 ) -> list[WildBootResult]:
    """:func:`wild_cluster_bootstrap` of every coefficient (null 0), sharing one pass.

    The fit, the cluster score sums and the cluster Gram matrices are computed once, and an
    enumeration once; sampled weights are drawn term after term from the same generator, so
    the results equal calling :func:`wild_cluster_bootstrap` for ``term = 0, 1, ...`` in turn
    with one generator.
    """
    X, y, codes, G, _ = _check_inputs(X, y, clusters, weights, 0)
    check_option(weight_type, WILD_WEIGHTS, "weight_type")
    if isinstance(n_resamples, (bool, np.bool_)) or not isinstance(n_resamples,
                                                                   (int, np.integer)) \
            or n_resamples < 1:
        raise DataError(f"`n_resamples` must be a positive integer; got {n_resamples!r}.")
    level = check_level(level)
    return _all_terms(_Fit(X, y, codes, G), weight_type, int(n_resamples), check_rng(rng),
                      level, ci)


def _all_terms(fit: _Fit, weight_type: str, n_resamples: int, gen: np.random.Generator,
               level: float, ci: bool) -> list[WildBootResult]:
    shared = (weight_enumeration(weight_type, fit.G)
              if enumerates(weight_type, fit.G, n_resamples) else None)
    return [_one_term(fit, j, 0.0, weight_type, n_resamples, gen, "auto", level, ci, None,
                      V=shared) for j in range(fit.p)]


def wild_terms_of_fit(X: np.ndarray, resid: np.ndarray, beta: np.ndarray, XtX: np.ndarray,
                      codes: np.ndarray, G: int, *, weight_type: str, n_resamples: int,
                      rng: int | np.random.Generator | None, level: float
                      ) -> list[WildBootResult]:
    """:func:`wild_cluster_bootstrap_terms` of an unweighted OLS fit the caller has made.

    For callers that have validated ``X`` (finite, full rank), fitted ``beta`` with residuals
    ``resid`` and Gram matrix ``XtX = X'X``, and coded the clusters ``0..G-1`` (all present):
    the same replicates and results as :func:`wild_cluster_bootstrap_terms` on ``(X, X beta +
    resid, codes)``, without checking and refitting again.
    """
    check_option(weight_type, WILD_WEIGHTS, "weight_type")
    fit = _Fit.from_parts(X, resid, beta, XtX, codes, G)
    return _all_terms(fit, weight_type, int(n_resamples), check_rng(rng), check_level(level),
                      True)
