r"""Posterior computations in numpy: draws, linear predictor, replicated data, predictions.

Everything here works on the posterior draws stacked as ``(S, ...)`` arrays and on the
uncollapsed data rows, so posterior predictive checks and predictions are the same whether or
not the likelihood was collapsed into binomial counts. Draws are processed in chunks to bound
memory on large data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit, gammaln

from sosstats.multilevel._design import Design, Rows

__all__ = ["stack", "draw_subset", "linear_predictor", "level_contribution", "simulate",
           "mean_response", "latent_residual_variance", "log_likelihood", "STATS"]

CHUNK = 100


def stack(posterior: Any, name: str, idx: np.ndarray | None = None) -> np.ndarray:
    """Draws of ``name`` as ``(S, ...)`` (chains concatenated), optionally the draws ``idx``."""
    arr = np.asarray(posterior[name].values, dtype=float)
    arr = arr.reshape((-1,) + arr.shape[2:])
    return arr if idx is None else arr[idx]


def draw_subset(n_total: int, ndraws: int | None) -> np.ndarray:
    """Evenly spaced draw indices (all when ``ndraws`` is None or not smaller than the total)."""
    if ndraws is None or ndraws >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, ndraws).round().astype(int))


def level_contribution(design: Design, posterior: Any, name: str, rows: Rows,
                       idx: np.ndarray) -> np.ndarray:
    """Random-intercept (and slope) contribution of level ``name`` to each row, ``(S, n)``."""
    lev = design.level(name)
    u = stack(posterior, f"u_{name}", idx)
    if lev.kind == "membership":
        gi, w = lev.row_membership()
        out = np.einsum("snk,nk->sn", u[:, gi], w)
    else:
        out = u[:, rows.codes[name]]
    for s in design.slopes:
        if s.level == name:
            v = stack(posterior, f"slope_u_{s.level}_{s.term}", idx)
            out = out + v[:, rows.codes[name]] * rows.X[:, s.column]
    return out


def linear_predictor(design: Design, posterior: Any, rows: Rows, idx: np.ndarray, *,
                     exclude: tuple[str, ...] = (), groups: bool = True) -> np.ndarray:
    """Linear predictor ``(S, n)`` at the draws ``idx`` for ``rows`` (uncollapsed design).

    ``groups=False`` gives the fixed part only; ``exclude`` leaves out the named levels.
    """
    if design.terms:
        beta = stack(posterior, "beta", idx)
        eta = beta @ rows.X.T
    else:
        eta = np.zeros((idx.size, rows.n))
    if groups:
        for lev in design.levels:
            if lev.name not in exclude:
                eta = eta + level_contribution(design, posterior, lev.name, rows, idx)
    return eta


def _ordinal_probs(eta: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Category probabilities ``(S, n, K)`` of the cumulative logit model."""
    cum = expit(cut[:, None, :] - eta[:, :, None])
    ones = np.ones(cum.shape[:2] + (1,))
    zeros = np.zeros(cum.shape[:2] + (1,))
    return np.diff(np.concatenate([zeros, cum, ones], axis=2), axis=2)


def simulate(design: Design, posterior: Any, idx: np.ndarray, rng: np.random.Generator,
             stat: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``stat`` of data replicated from the posterior at draws ``idx`` (one value per draw).

    ``stat`` maps an ``(S, n)`` array of replicated outcomes to ``(S,)``.
    """
    rows = design.rows
    fam = design.family
    out = []
    for start in range(0, idx.size, CHUNK):
        part = idx[start:start + CHUNK]
        eta = linear_predictor(design, posterior, rows, part)
        if fam == "gaussian":
            sigma = stack(posterior, "sigma", part)[:, None]
            yrep = eta + sigma * rng.standard_normal(eta.shape)
        elif fam == "bernoulli":
            yrep = (rng.random(eta.shape) < expit(eta)).astype(float)
        elif fam == "binomial":
            yrep = rng.binomial(rows.trials[None, :], expit(eta)).astype(float)
        elif fam == "poisson":
            yrep = rng.poisson(np.exp(eta)).astype(float)
        elif fam == "negative_binomial":
            alpha = stack(posterior, "alpha", part)[:, None]
            lam = rng.gamma(alpha, np.exp(eta) / alpha)
            yrep = rng.poisson(lam).astype(float)
        else:
            cut = stack(posterior, "cutpoints", part)
            cum = expit(cut[:, None, :] - eta[:, :, None])
            yrep = (rng.random(eta.shape)[:, :, None] > cum).sum(axis=2).astype(float)
        out.append(np.asarray(stat(yrep), dtype=float))
    return np.concatenate(out)


def mean_response(design: Design, beta: np.ndarray, X: np.ndarray,
                  cut: np.ndarray | None = None) -> np.ndarray:
    """Mean over rows of the response-scale prediction, per draw: ``(S,)`` or ``(S, K)``.

    Group effects are set to zero (a typical group); for the ordinal family the result holds
    the probability of each category.
    """
    out = []
    for start in range(0, beta.shape[0], CHUNK):
        eta = beta[start:start + CHUNK] @ X.T
        fam = design.family
        if fam == "gaussian":
            out.append(eta.mean(axis=1))
        elif fam in ("bernoulli", "binomial"):
            out.append(expit(eta).mean(axis=1))
        elif fam in ("poisson", "negative_binomial"):
            out.append(np.exp(eta).mean(axis=1))
        else:
            out.append(_ordinal_probs(eta, cut[start:start + CHUNK]).mean(axis=1))
    return np.concatenate(out)


def latent_residual_variance(design: Design, posterior: Any, level_var: np.ndarray) -> np.ndarray:
    r"""Level-1 variance per draw on the scale of the linear predictor.

    Gaussian: :math:`\sigma^2`. Logit and cumulative logit: :math:`\pi^2/3` (the variance of
    the standard logistic; Snijders & Bosker 2012, sec. 17.3; Goldstein, Browne & Rasbash 2002).
    Log link (Nakagawa, Johnson & Schielzeth 2017, *J. R. Soc. Interface* 14: 20170213,
    lognormal approximation): Poisson :math:`\ln(1 + 1/\lambda)`, negative binomial
    :math:`\ln(1 + 1/\lambda + 1/\alpha)`, with
    :math:`\lambda = \overline{\exp(x_i^\top\beta)}\,\exp(\tfrac12\sum_l\sigma_l^2)`.
    ``level_var`` is ``(S,)``: the sum of the level variances per draw.
    """
    fam = design.family
    if fam == "gaussian":
        return stack(posterior, "sigma") ** 2
    if fam in ("bernoulli", "binomial", "ordinal"):
        return np.full(level_var.shape, np.pi ** 2 / 3)
    beta = stack(posterior, "beta")
    lam = np.concatenate([np.exp(beta[s:s + CHUNK] @ design.rows.X.T).mean(axis=1)
                          for s in range(0, beta.shape[0], CHUNK)])
    lam = lam * np.exp(0.5 * level_var)
    extra = 1.0 / stack(posterior, "alpha") if fam == "negative_binomial" else 0.0
    return np.log1p(1.0 / lam + extra)


def _prop_zero(y: np.ndarray) -> np.ndarray:
    return (y == 0).mean(axis=1)


STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda y: y.mean(axis=1),
    "sd": lambda y: y.std(axis=1, ddof=1),
    "min": lambda y: y.min(axis=1),
    "max": lambda y: y.max(axis=1),
    "median": lambda y: np.median(y, axis=1),
    "prop_zero": _prop_zero,
}


def log_likelihood(design: Design, posterior: Any, idx: np.ndarray) -> np.ndarray:
    """Pointwise log-likelihood ``(S, n)`` of every data row (uncollapsed, unweighted)."""
    from scipy import stats

    rows = design.rows
    fam = design.family
    y = rows.y
    out = []
    for start in range(0, idx.size, CHUNK):
        part = idx[start:start + CHUNK]
        eta = linear_predictor(design, posterior, rows, part)
        if fam == "gaussian":
            sigma = stack(posterior, "sigma", part)[:, None]
            ll = stats.norm.logpdf(y, eta, sigma)
        elif fam == "bernoulli":
            ll = -np.logaddexp(0.0, np.where(y == 1, -eta, eta))
        elif fam == "binomial":
            n = rows.trials
            log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
            ll = log_choose - y * np.logaddexp(0.0, -eta) - (n - y) * np.logaddexp(0.0, eta)
        elif fam == "poisson":
            ll = stats.poisson.logpmf(y, np.exp(eta))
        elif fam == "negative_binomial":
            alpha = stack(posterior, "alpha", part)[:, None]
            ll = stats.nbinom.logpmf(y, alpha, alpha / (alpha + np.exp(eta)))
        else:
            probs = _ordinal_probs(eta, stack(posterior, "cutpoints", part))
            ll = np.log(np.take_along_axis(probs, np.broadcast_to(
                y[None, :, None], probs.shape[:2] + (1,)), axis=2)[..., 0])
        out.append(ll)
    return np.concatenate(out, axis=0)
