r"""Weighted (pseudo-)maximum likelihood of canonical-link GLMs, batched over weight columns.

Plain numpy arrays in and out, for :mod:`sosstats.survey.regression`. One weight column is the
full-sample fit of ``svyglm``; ``B`` columns at once are the refits of a replicate design
(R survey's ``svyglm.svyrep.design``), solved together: every Newton step is one
``(B, p, p)`` batch of solves, no Python loop over replicates.

The pseudo-log-likelihood of a canonical-link exponential family with prior (sampling)
weights :math:`w_i` is :math:`\ell(\beta) = \sum_i w_i \{y_i \eta_i - b(\eta_i)\}`,
:math:`\eta = X\beta`, with :math:`b(\eta) = \eta^2/2` (gaussian, identity link),
:math:`\log(1 + e^\eta)` (binomial, logit link) and :math:`e^\eta` (Poisson, log link). Its
score is :math:`X' W (y - \mu)` and its negative Hessian :math:`X' \operatorname{diag}(w\,
V(\mu)) X` (canonical link: ``dmu/deta = V(mu)``), so Newton's method is Fisher scoring
(IRLS); :math:`\ell` is concave, and Newton with step halving on :math:`\ell` converges from
R's starting values (``mustart``: ``(w y + 1/2) / (w + 1)`` for the binomial, ``y + 0.1`` for
the Poisson, one weighted least-squares step on the working response). Quasi-families share
the fit (only the dispersion, which design-based variances do not use, differs).

References
----------
McCullagh, P. and Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed., ch. 2.
Binder, D. A. (1983). On the variances of asymptotically normal estimators from complex
surveys. *International Statistical Review* 51(3), 279-292.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from sosstats.errors import ConvergenceError, DesignError

__all__ = ["FAMILIES", "Family", "family_of", "fit_glm"]


@dataclass(frozen=True)
class Family:
    """A canonical-link family: its name, link and variance function."""

    name: str
    link: str
    base: str            # "gaussian", "binomial" or "poisson": the likelihood used
    quasi: bool

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """Inverse link ``mu(eta)``."""
        if self.base == "gaussian":
            return eta
        if self.base == "binomial":
            return special.expit(eta)
        return np.exp(np.minimum(eta, 700.0))

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """Variance function ``V(mu)`` (= ``dmu/deta``, the link being canonical)."""
        if self.base == "gaussian":
            return np.ones_like(mu)
        if self.base == "binomial":
            return mu * (1.0 - mu)
        return mu

    def loglik(self, y: np.ndarray, eta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Weighted log-likelihood kernel per weight column: ``sum_i w (y eta - b(eta))``."""
        if self.base == "gaussian":
            b = 0.5 * eta * eta
        elif self.base == "binomial":
            b = np.logaddexp(0.0, eta)
        else:
            b = np.exp(np.minimum(eta, 700.0))
        return np.sum(w * (y[:, None] * eta - b), axis=0)

    def start_eta(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """R's ``mustart`` on the link scale, per weight column (n, B)."""
        if self.base == "gaussian":
            return np.broadcast_to(y[:, None], w.shape).astype(float)
        if self.base == "binomial":
            mu = (w * y[:, None] + 0.5) / (w + 1.0)
            return special.logit(mu)
        return np.log(np.broadcast_to(y[:, None] + 0.1, w.shape))


FAMILIES = {
    "gaussian": Family("gaussian", "identity", "gaussian", False),
    "binomial": Family("binomial", "logit", "binomial", False),
    "quasibinomial": Family("quasibinomial", "logit", "binomial", True),
    "poisson": Family("poisson", "log", "poisson", False),
    "quasipoisson": Family("quasipoisson", "log", "poisson", True),
}


def family_of(name: str) -> Family:
    """Return the :class:`Family` called ``name`` (a key of :data:`FAMILIES`)."""
    return FAMILIES[name]


def _solve(info: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched ``info^{-1} rhs`` after symmetric column scaling (a well-conditioned solve)."""
    d = np.sqrt(np.einsum("bii->bi", info))
    if not (d > 0).all():
        raise DesignError("a column of the model matrix carries no information (all zero in "
                          "the rows with a positive weight): drop it.")
    scaled = info / (d[:, :, None] * d[:, None, :])
    try:
        return np.linalg.solve(scaled, (rhs / d)[:, :, None])[:, :, 0] / d
    except np.linalg.LinAlgError as exc:
        raise DesignError("the model matrix is rank deficient in the weighted fit: its "
                          "columns are collinear; drop one.") from exc


def _information(X: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """``X' diag(wv[:, b]) X`` for each column ``b``: (B, p, p)."""
    if wv.shape[1] == 1:
        xs = X * np.sqrt(wv[:, :1])         # weights are >= 0; xs' xs is one BLAS syrk
        return (xs.T @ xs)[None]
    return np.einsum("nb,np,nq->bpq", wv, X, X, optimize=True)


def fit_glm(X: np.ndarray, y: np.ndarray, W: np.ndarray, family: Family, *,
            beta0: np.ndarray | None = None, maxiter: int = 100,
            rtol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    r"""Maximise the weighted pseudo-log-likelihood for each column of ``W``.

    Parameters
    ----------
    X : numpy.ndarray
        (n, p) model matrix.
    y : numpy.ndarray
        (n,) outcome.
    W : numpy.ndarray
        (n, B) non-negative weights, one fit per column.
    family : Family
        The family (canonical link).
    beta0 : numpy.ndarray, optional
        (p,) starting values for every column (the full-sample estimate, for replicates);
        default: one weighted least-squares step from R's ``mustart``.
    maxiter : int
        Newton steps at most.
    rtol : float
        Convergence: every coefficient's step below ``rtol`` times ``max(|beta|, 1)``.

    Returns
    -------
    beta : numpy.ndarray
        (B, p) estimates.
    mu : numpy.ndarray
        (n, B) fitted means.

    Raises
    ------
    DesignError
        A rank-deficient weighted design.
    ConvergenceError
        No convergence in ``maxiter`` steps (separation in a logit, for example).
    """
    n, p = X.shape
    B = W.shape[1]
    if beta0 is not None:
        beta = np.tile(np.asarray(beta0, dtype=float), (B, 1))
    else:
        eta0 = family.start_eta(y, W)
        mu0 = family.mean(eta0)
        v0 = family.variance(mu0)
        z = eta0 + (y[:, None] - mu0) / v0
        wv = W * v0
        rhs = np.einsum("nb,np->bp", wv * z, X) if B > 1 else ((wv * z)[:, 0] @ X)[None]
        beta = _solve(_information(X, wv), rhs)
    if family.base == "gaussian":
        # weighted least squares: the start is the solution up to rounding; one refinement
        # step (the exact score, the same information) removes that
        info = _information(X, W)
        resid = W * (y[:, None] - X @ beta.T)
        score = resid.T @ X if B > 1 else (resid[:, 0] @ X)[None]
        beta = beta + _solve(info, score)
        return beta, X @ beta.T
    eta = X @ beta.T
    ll = family.loglik(y, eta, W)
    active = np.ones(B, bool)
    for _ in range(maxiter):
        mu = family.mean(eta)
        v = family.variance(mu)
        resid = W * (y[:, None] - mu)
        score = resid.T @ X if B > 1 else (resid[:, 0] @ X)[None]
        step = _solve(_information(X, W * v), score)
        step[~active] = 0.0
        t = np.ones(B)
        while True:                      # step halving, per column, on the concave ll
            new = beta + t[:, None] * step
            eta_new = X @ new.T
            ll_new = family.loglik(y, eta_new, W)
            bad = ~(ll_new >= ll - 1e-12 * np.abs(ll)) & (t > 1e-10)
            if not bad.any():
                break
            t[bad] /= 2.0
        beta, eta, ll = new, eta_new, ll_new
        done = np.all(np.abs(t[:, None] * step) <= rtol * np.maximum(np.abs(beta), 1.0),
                      axis=1)
        active &= ~done
        if not active.any():
            return beta, family.mean(eta)
    raise ConvergenceError(f"the {family.name} fit did not converge in {maxiter} Newton steps "
                           "(with a logit, a term that perfectly predicts the outcome: "
                           "separation).")
