r"""Wild score bootstrap (Kline and Santos 2012) for one coefficient of a logit, one kernel.

The bootstrap perturbs the cluster sums of the *restricted* scores instead of re-estimating
the model, so each replicate costs one ``(B, G) @ (G,)`` product; with Rademacher weights and
``2**G`` small every sign vector is enumerated and the p-value is exact under the bootstrap.

Algorithm (:func:`wild_score_test`). Given, at the estimate restricted by H0:
``beta_k = beta_0``, the per-observation scores ``s_i`` (n, p) and the information ``H``
(p, p) (minus the Hessian of the log-likelihood), with nuisance parameters ``-k``:

1. the efficient score of ``beta_k`` per cluster, nuisance projected out,
   ``psi_g = sum_{i in g} (s_ik - H_{k,-k} H_{-k,-k}^{-1} s_{i,-k})`` (the restricted fit makes
   ``sum_i s_{i,-k} = 0``, so ``sum_g psi_g = sum_i s_ik``);
2. the cluster-robust score statistic ``t = sum_g psi_g / sqrt(sum_g psi_g^2)``;
3. replicate ``b`` with cluster weights ``v_bg``: ``t*_b = sum_g v_bg psi_g /
   sqrt(sum_g v_bg^2 psi_g^2)`` (the perturbed scores studentised by their own
   cluster-robust variance; with Rademacher weights the denominator is that of ``t``);
4. p-value: the symmetric two-sided ``#{b: |t*_b| > |t|} / B``, ties (relative ``1e-10``) not
   counted, as :func:`sosstats._kernels.wild.wild_cluster_bootstrap`; under enumeration the
   sign vector that reproduces the sample never counts and the smallest p-value is 0, which
   prints as ``< 1/B`` (:func:`sosstats._kernels.wild_result.pvalue_text`).

:func:`logit_wild_score_test` does the restricted (weighted) logit fit with the coefficient
held at ``null`` (an offset; Newton's method) and calls the kernel; :func:`logit_fit` is that
Newton fit, shared by :func:`sosstats.panel.conditional_logit`.

References
----------
Kline, P. and Santos, A. (2012). A score based approach to wild bootstrap inference. *Journal
of Econometric Methods* 1(1), 23-41.
Roodman, D., MacKinnon, J. G., Nielsen, M. O. and Webb, M. D. (2019). Fast and wild: bootstrap
inference in Stata using boottest. *Stata Journal* 19(1), 4-60 (section 7, the score
bootstrap).
Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. *Canadian
Journal of Economics* 56(3), 839-858.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from sosstats._kernels.cluster_cr2 import group_sum
from sosstats._kernels.cluster_inputs import as_float, cluster_codes
from sosstats._kernels.wild_weights import (
    _MAX_ENUMERATION_CLUSTERS,
    rademacher_enumeration,
    wild_weights,
)
from sosstats._validate import check_int, check_option, check_rng
from sosstats.errors import ConvergenceError, DataError, DesignError

__all__ = ["WildScoreTest", "wild_score_test", "logit_wild_score_test", "logit_fit"]

_TIE_RTOL = 1e-10


@dataclass(frozen=True)
class WildScoreTest:
    """Wild score bootstrap test of one coefficient.

    Attributes
    ----------
    statistic : float
        The cluster-robust score t statistic ``t``.
    p_value : float
        Share of replicates with ``|t*| > |t|`` (ties not counted).
    n_resamples : int
        ``B`` used (``2**G`` when enumerated).
    enumerated : bool
        All Rademacher sign vectors used.
    weight_type : str
        ``"rademacher"`` or ``"webb"``.
    n_clusters : int
        ``G``.
    term : int
        The coefficient tested.
    null : float
        Its value under H0.
    t_star : numpy.ndarray
        The ``B`` bootstrap statistics.
    """

    statistic: float
    p_value: float
    n_resamples: int
    enumerated: bool
    weight_type: str
    n_clusters: int
    term: int
    null: float
    t_star: np.ndarray = field(repr=False)


def _weights_matrix(g: int, weight_type: str, n_resamples: int, rng: Any,
                    full_enumeration: bool | str) -> tuple[np.ndarray, bool]:
    if full_enumeration is True:
        if weight_type != "rademacher":
            raise DesignError("full_enumeration=True needs weight_type='rademacher'; got "
                              f"{weight_type!r}.")
        if g > _MAX_ENUMERATION_CLUSTERS:
            raise DesignError(f"cannot enumerate 2**{g} sign vectors (G > "
                              f"{_MAX_ENUMERATION_CLUSTERS}); sample instead.")
        return rademacher_enumeration(g), True
    if (full_enumeration == "auto" and weight_type == "rademacher"
            and g <= _MAX_ENUMERATION_CLUSTERS and 2 ** g <= n_resamples):
        return rademacher_enumeration(g), True
    return wild_weights(check_rng(rng), n_resamples, g, weight_type), False


def wild_score_test(scores: Any, information: Any, clusters: Any, *, term: int,
                    null: float = 0.0, weight_type: str = "rademacher",
                    n_resamples: int = 9999, rng: int | np.random.Generator | None = None,
                    full_enumeration: bool | str = "auto") -> WildScoreTest:
    """Wild score bootstrap test from the restricted fit's scores and information.

    Parameters
    ----------
    scores : array_like
        (n, p) per-observation scores at the restricted estimate (weights included).
    information : array_like
        (p, p) information (minus the Hessian) at the restricted estimate.
    clusters : array_like
        (n,) cluster labels, ``G >= 2``.
    term : int
        The coefficient under test (column of ``scores``).
    null : float
        Its hypothesised value (recorded; the scores already embody it).
    weight_type : {"rademacher", "webb"}
        Cluster weight distribution.
    n_resamples : int
        ``B`` when sampling.
    rng : int, Generator or None
        Random source (unused when enumerating).
    full_enumeration : {"auto", True, False}
        ``"auto"`` enumerates the ``2**G`` Rademacher sign vectors when ``2**G <= n_resamples``.

    Returns
    -------
    WildScoreTest

    Notes
    -----
    See the module docstring for the algorithm.
    """
    s = as_float(scores, "scores", (1, 2))
    if s.ndim == 1:
        s = s[:, None]
    n, p = s.shape
    h = as_float(information, "information", (2,))
    if h.shape != (p, p):
        raise DesignError(f"`information` must be ({p}, {p}); got shape {h.shape}.")
    check_option(weight_type, ("rademacher", "webb"), "weight_type")
    check_option(full_enumeration, ("auto", True, False), "full_enumeration")
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    if isinstance(term, (bool, np.bool_)) or not isinstance(term, (int, np.integer)) \
            or not -p <= term < p:
        raise DataError(f"`term` must be an integer column index below {p}; got {term!r}.")
    k = int(term) % p
    codes, g = cluster_codes(clusters, n, np.ones(n, bool))
    rest = np.flatnonzero(np.arange(p) != k)
    proj = np.zeros(p)
    proj[k] = 1.0
    if rest.size:
        proj[rest] = -np.linalg.solve(h[np.ix_(rest, rest)], h[rest, k])
    psi = group_sum(codes, g, (s @ proj)[:, None])[:, 0]                # (G,)
    den = np.sqrt(np.sum(psi ** 2))
    if not den > 0:
        raise DesignError("the restricted scores are all zero: the score statistic is "
                          "undefined.")
    stat = float(psi.sum() / den)
    v, enumerated = _weights_matrix(g, weight_type, n_resamples, rng, full_enumeration)
    num = v @ psi
    var = (v ** 2) @ (psi ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = num / np.sqrt(var)
    thr = abs(stat) * (1.0 + _TIE_RTOL) + _TIE_RTOL
    pval = np.count_nonzero(num * num > thr * thr * var) / v.shape[0]
    return WildScoreTest(stat, float(pval), int(v.shape[0]), bool(enumerated), weight_type, g,
                         k, float(null), t_star)


def logit_fit(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
              offset: np.ndarray | None = None, *, maxiter: int = 100
              ) -> tuple[np.ndarray, np.ndarray]:
    r"""Maximum likelihood (weighted) logit by Newton's method: ``(beta, fitted p)``.

    Maximises :math:`\sum_i w_i [y_i \eta_i - \log(1 + e^{\eta_i})]`,
    :math:`\eta = X \beta + \text{offset}`, from :math:`\beta = 0`, with step halving when the
    log-likelihood falls; stops when the largest step is below ``1e-12`` relative (or
    absolute for small coefficients). ``X`` may have no columns (offset only). Raises
    :class:`~sosstats.errors.ConvergenceError` when it does not converge.
    """
    n, p = X.shape
    w = np.ones(n) if weights is None else weights
    off = np.zeros(n) if offset is None else offset
    beta = np.zeros(p)

    def loglik(b: np.ndarray) -> float:
        eta = X @ b + off
        return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))))

    ll = loglik(beta)
    for _ in range(maxiter if p else 0):
        prob = special.expit(X @ beta + off)
        score = X.T @ (w * (y - prob))
        info = (X * (w * prob * (1 - prob))[:, None]).T @ X
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError("the logit information matrix is singular.") from exc
        t = 1.0
        while True:
            new = beta + t * step
            ll_new = loglik(new)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t /= 2.0
        beta, ll = new, ll_new
        if np.all(np.abs(t * step) <= 1e-12 * np.maximum(np.abs(beta), 1.0)):
            break
    else:
        if p:
            raise ConvergenceError("the logit did not converge in "
                                   f"{maxiter} Newton steps.")
    return beta, special.expit(X @ beta + off)


def logit_wild_score_test(X: Any, y: Any, clusters: Any, *, term: int, null: float = 0.0,
                          weights: Any = None, weight_type: str = "rademacher",
                          n_resamples: int = 9999,
                          rng: int | np.random.Generator | None = None,
                          full_enumeration: bool | str = "auto") -> WildScoreTest:
    """Wild score bootstrap test of ``beta[term] = null`` in a (weighted) logit of ``y`` on ``X``.

    Fits the logit with ``beta[term]`` held at ``null`` (offset ``null * X[:, term]``), forms
    the restricted scores ``w_i (y_i - p_i) x_i`` and information ``X' diag(w p (1 - p)) X`` and
    calls :func:`wild_score_test`. ``X`` includes the intercept column; ``weights`` are prior
    (frequency or analytic) weights, zero allowed.
    """
    xa = as_float(X, "X", (1, 2))
    if xa.ndim == 1:
        xa = xa[:, None]
    n, p = xa.shape
    ya = as_float(y, "y", (1,))
    if ya.shape[0] != n or not np.isin(ya, (0.0, 1.0)).all():
        raise DataError(f"`y` must hold {n} values 0 or 1.")
    w = None
    if weights is not None:
        w = as_float(weights, "weights", (1,))
        if w.shape[0] != n or (w < 0).any():
            raise DataError(f"`weights` must be {n} non-negative values.")
    if isinstance(term, (bool, np.bool_)) or not isinstance(term, (int, np.integer)) \
            or not -p <= term < p:
        raise DataError(f"`term` must be an integer column index below {p}; got {term!r}.")
    k = int(term) % p
    rest = np.flatnonzero(np.arange(p) != k)
    _, prob = logit_fit(xa[:, rest], ya, w, offset=null * xa[:, k])
    ww = np.ones(n) if w is None else w
    scores = xa * (ww * (ya - prob))[:, None]
    info = (xa * (ww * prob * (1 - prob))[:, None]).T @ xa
    return wild_score_test(scores, info, clusters, term=k, null=null, weight_type=weight_type,
                           n_resamples=n_resamples, rng=rng, full_enumeration=full_enumeration)
