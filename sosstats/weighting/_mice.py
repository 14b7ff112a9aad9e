r"""Numpy kernels of multiple imputation by chained equations (behind ``impute_chained``).

Columns are first encoded as float blocks (:func:`encode`); one chain then runs on a single
float matrix ``Z`` (rows x encoded columns) whose missing cells are overwritten in place, one
imputation model at a time (:func:`run_chain`). The three imputation models draw their
parameters from the (approximate) posterior given the observed rows, as in van Buuren (2018)
*Flexible Imputation of Missing Data*, 2nd ed., algorithms 3.1-3.3:

* ``"norm"``: Bayesian linear regression (Rubin 1987, p. 167): ``sigma*`` and ``beta*`` drawn
  from their posterior, then ``y* = x'beta* + sigma* e``;
* ``"pmm"``: predictive mean matching, type 1: donors are the ``k`` observed rows whose fitted
  value ``x'b`` is closest to ``x'beta*`` of the missing row, one taken at random;
* ``"logit"``: logistic regression, ``beta*`` drawn from the normal approximation of its
  posterior, then ``y* ~ Bernoulli(expit(x'beta*))``.

No Python loop runs over rows; the chain loops over sweeps and columns only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import expit, log_expit

from sosstats._validate import as_list, check_columns, check_not_mixed
from sosstats.errors import DataError

__all__ = ["Encoded", "MODELS", "Target", "check_target", "default_method", "encode",
           "resolve_predictors", "restore", "run_chain"]

MODELS = ("pmm", "norm", "logit")

#: Ridge added to the diagonal of X'X (relative), as ``mice``'s default ``ridge = 1e-5``.
RIDGE = 1e-5
#: Prior precision of each standardised logistic coefficient (a N(0, 10^2) prior).
LOGIT_PRIOR_PRECISION = 0.01


@dataclass(frozen=True)
class Encoded:
    """One column as a float block.

    ``kind`` is ``"numeric"``, ``"binary"`` (one 0/1 column) or ``"categorical"`` (dummies of
    ``categories[1:]``). ``restore`` says how imputed 0/1 or float values go back into the
    frame: ``"float"``, ``"bool"`` or ``"category"`` (1 means ``categories[1]``).
    """

    name: str
    kind: str
    block: np.ndarray
    missing: np.ndarray
    categories: tuple = ()
    restore: str = "float"


def _is_bool_values(values: pd.Series) -> bool:
    obs = values.dropna()
    return len(obs) > 0 and bool(obs.map(lambda v: isinstance(v, (bool, np.bool_))).all())


def encode(series: pd.Series) -> Encoded:
    """Encode a column: numeric as is, bool / 0-1 as binary, category / text as dummies.

    NaN cells stay NaN in the block (``missing`` marks them). Raises :class:`DataError` for
    other dtypes (dates, complex).
    """
    name = series.name
    check_not_mixed(series, f"column {name!r}")
    missing = series.isna().to_numpy()
    dtype = series.dtype
    is_object = pd.api.types.is_object_dtype(dtype)
    if pd.api.types.is_bool_dtype(dtype) or (is_object and _is_bool_values(series)):
        block = series.astype("float64").to_numpy(dtype=float, na_value=np.nan)[:, None]
        return Encoded(name, "binary", block, missing, (False, True), "bool")
    if (isinstance(dtype, pd.CategoricalDtype) or is_object
            or pd.api.types.is_string_dtype(dtype)):
        cat = series.astype("category") if not isinstance(dtype, pd.CategoricalDtype) else series
        present = set(cat.dropna().unique())
        cats = tuple(c for c in cat.cat.categories if c in present)
        codes = pd.Categorical(cat, categories=list(cats)).codes
        if len(cats) == 2:
            block = np.where(missing, np.nan, codes.astype(float))[:, None]
            return Encoded(name, "binary", block, missing, cats, "category")
        block = (codes[:, None] == np.arange(1, len(cats))[None, :]).astype(float)
        block[missing] = np.nan
        return Encoded(name, "categorical", block, missing, cats, "category")
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(values).any():
            raise DataError(f"column {name!r} has infinite values; imputation needs finite ones.")
        obs = values[~missing]
        kind = "binary" if obs.size and np.isin(obs, (0.0, 1.0)).all() else "numeric"
        return Encoded(name, kind, values[:, None], missing, (0.0, 1.0) if kind == "binary"
                       else (), "float")
    raise DataError(f"column {name!r} has dtype {dtype}, which cannot be imputed or used as a "
                    "predictor (numeric, bool, category or text columns only).")


# ------------------------------------------------------------------------- model draws

def _standardise(Xo: np.ndarray, Xm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale predictors on the observed rows; drop those constant there."""
    if Xo.shape[1] == 0:
        return np.ones((Xo.shape[0], 1)), np.ones((Xm.shape[0], 1))
    mu = Xo.mean(axis=0)
    sd = Xo.std(axis=0)
    keep = sd > 1e-12 * (1.0 + np.abs(mu))
    mu, sd = mu[keep], sd[keep]
    Xo = np.column_stack([np.ones(Xo.shape[0]), (Xo[:, keep] - mu) / sd])
    Xm = np.column_stack([np.ones(Xm.shape[0]), (Xm[:, keep] - mu) / sd])
    return Xo, Xm


def _linear_draw(Xo: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares ``b`` and a posterior draw ``(beta*, sigma*)`` (mice's ``.norm.draw``)."""
    xtx = Xo.T @ Xo
    xtx[np.diag_indices_from(xtx)] *= 1.0 + RIDGE
    fac = cho_factor(xtx, lower=True)
    coef = cho_solve(fac, Xo.T @ y)
    resid = y - Xo @ coef
    df = max(y.size - Xo.shape[1], 1)
    sigma = float(np.sqrt(resid @ resid / rng.chisquare(df)))
    z = rng.standard_normal(Xo.shape[1])
    # xtx = L L' so L^{-T} z has covariance (X'X)^{-1}
    beta = coef + sigma * solve_triangular(fac[0], z, lower=True, trans="T")
    return coef, beta, sigma


def draw_norm(Xo: np.ndarray, y: np.ndarray, Xm: np.ndarray, rng: np.random.Generator,
              donors: int, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bayesian linear regression imputation (``"norm"``); returns (draws, coefficients)."""
    coef, beta, sigma = _linear_draw(Xo, y, rng)
    return Xm @ beta + sigma * rng.standard_normal(Xm.shape[0]), coef


def draw_pmm(Xo: np.ndarray, y: np.ndarray, Xm: np.ndarray, rng: np.random.Generator,
             donors: int, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean matching, type 1 (``"pmm"``): observed values of random near donors.

    Observed fitted values are sorted (ties in random order); for each missing row the ``k``
    nearest lie in the window of ``2k`` sorted positions around its insertion point, so the
    search is one ``searchsorted`` and one ``argpartition`` over an ``(n_mis, 2k)`` array.
    """
    coef, beta, _ = _linear_draw(Xo, y, rng)
    yhat_obs = Xo @ coef
    yhat_mis = Xm @ beta
    n_obs, n_mis = y.size, Xm.shape[0]
    k = min(donors, n_obs)
    order = np.lexsort((rng.random(n_obs), yhat_obs))
    sorted_hat = yhat_obs[order]
    pos = np.searchsorted(sorted_hat, yhat_mis)
    cand = pos[:, None] + np.arange(-k, k)[None, :]
    valid = (cand >= 0) & (cand < n_obs)
    cand = np.clip(cand, 0, n_obs - 1)
    dist = np.where(valid, np.abs(sorted_hat[cand] - yhat_mis[:, None]), np.inf)
    nearest = np.argpartition(dist, k - 1, axis=1)[:, :k]
    rows = np.arange(n_mis)
    pick = nearest[rows, rng.integers(0, k, size=n_mis)]
    return y[order[cand[rows, pick]]], coef


def _logit_objective(Xo: np.ndarray, y: np.ndarray, beta: np.ndarray,
                     prior: np.ndarray) -> float:
    eta = Xo @ beta
    return float(y @ log_expit(eta) + (1 - y) @ log_expit(-eta) - 0.5 * beta @ (prior * beta))


def logit_fit(Xo: np.ndarray, y: np.ndarray, start: np.ndarray | None = None,
              max_iter: int = 100, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mode and Hessian of a logistic regression with a weak normal prior.

    Newton-Raphson with step halving on the penalised log-likelihood; the prior (precision
    ``0.01`` on each standardised slope, none on the intercept) keeps the mode finite under
    complete separation. ``start`` (the previous sweep's mode) saves iterations.
    """
    p = Xo.shape[1]
    prior = np.full(p, LOGIT_PRIOR_PRECISION)
    prior[0] = 0.0
    if y.min() == y.max():  # no information about the intercept either: keep it finite
        prior[0] = LOGIT_PRIOR_PRECISION
    beta = start.copy() if start is not None and start.shape == (p,) else np.zeros(p)
    obj = _logit_objective(Xo, y, beta, prior)
    for _ in range(max_iter):
        mu = expit(Xo @ beta)
        grad = Xo.T @ (y - mu) - prior * beta
        hess = (Xo * (mu * (1 - mu))[:, None]).T @ Xo + np.diag(prior)
        step = cho_solve(cho_factor(hess + 1e-12 * np.eye(p)), grad)
        for _ in range(30):
            new = _logit_objective(Xo, y, beta + step, prior)
            if new >= obj - 1e-12 * abs(obj):
                break
            step = step / 2
        beta, obj = beta + step, new
        if np.max(np.abs(step)) < tol:
            break
    mu = expit(Xo @ beta)
    hess = (Xo * (mu * (1 - mu))[:, None]).T @ Xo + np.diag(prior)
    return beta, hess


def draw_logit(Xo: np.ndarray, y: np.ndarray, Xm: np.ndarray, rng: np.random.Generator,
               donors: int, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression imputation with a parameter draw (``"logit"``)."""
    beta, hess = logit_fit(Xo, y, start)
    fac = cho_factor(hess + 1e-12 * np.eye(hess.shape[0]), lower=True)
    z = rng.standard_normal(beta.size)
    beta_star = beta + solve_triangular(fac[0], z, lower=True, trans="T")
    prob = expit(Xm @ beta_star)
    return (rng.random(Xm.shape[0]) < prob).astype(float), beta


DRAWS = {"pmm": draw_pmm, "norm": draw_norm, "logit": draw_logit}


# ------------------------------------------------------------------------------ chain

@dataclass(frozen=True)
class Target:
    """One incomplete column: its encoded column in ``Z``, predictor columns and model."""

    name: str
    column: int
    predictors: np.ndarray
    method: str
    missing: np.ndarray


def run_chain(Z0: np.ndarray, targets: list[Target], *, n_iter: int, donors: int,
              rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Run one chain of chained equations and return its final imputations.

    Parameters
    ----------
    Z0 : numpy.ndarray
        Encoded data, shape ``(n, W)``, NaN in the cells to impute (not modified).
    targets : list of Target
        Imputation models, visited in order in each sweep.
    n_iter : int
        Number of sweeps.
    donors : int
        Donor pool size of ``"pmm"``.
    rng : numpy.random.Generator
        The chain's random source.

    Returns
    -------
    draws : list of numpy.ndarray
        Per target, the imputed values of its missing rows after the last sweep.
    trace : numpy.ndarray
        Shape ``(n_iter, n_targets, 2)``: mean and standard deviation of each target's imputed
        values after each sweep (convergence diagnostics).
    """
    Z = Z0.copy()
    for t in targets:  # start from random draws of the observed values
        obs = Z[~t.missing, t.column]
        Z[t.missing, t.column] = rng.choice(obs, size=int(t.missing.sum()))
    trace = np.empty((n_iter, len(targets), 2))
    modes: list[np.ndarray | None] = [None] * len(targets)  # warm starts of the logit fits
    for it in range(n_iter):
        for j, t in enumerate(targets):
            X = Z[:, t.predictors]
            Xo, Xm = _standardise(X[~t.missing], X[t.missing])
            y = Z[~t.missing, t.column]
            draw, modes[j] = DRAWS[t.method](Xo, y, Xm, rng, donors, modes[j])
            Z[t.missing, t.column] = draw
            trace[it, j] = draw.mean(), draw.std()
    return [Z[t.missing, t.column].copy() for t in targets], trace


# ------------------------------------------------------------------------- validation

def restore(values: np.ndarray, enc: Encoded, original: pd.Series) -> Any:
    """Imputed float / 0-1 values back in the column's own type (bool, categories, float)."""
    if enc.restore == "bool":
        return values.astype(bool)
    if enc.restore == "category":
        cats = original.cat.categories if isinstance(original.dtype, pd.CategoricalDtype) \
            else list(enc.categories)
        ordered = bool(getattr(original.dtype, "ordered", False))
        labels = np.asarray(enc.categories, dtype=object)[values.astype(int)]
        return pd.Categorical(labels, categories=cats, ordered=ordered)
    return values


def resolve_predictors(columns: list[str], predictors: Any, data: pd.DataFrame) -> dict:
    """Predictor list per column from ``predictors`` (None, list or dict; see the API)."""
    if isinstance(predictors, Mapping):
        unknown = [k for k in predictors if k not in columns]
        if unknown:
            raise DataError(f"`predictors` has keys {', '.join(map(repr, unknown))} that are not "
                            "in `columns`.")
        out = {c: [o for o in columns if o != c] for c in columns}
        for c, preds in predictors.items():
            preds = as_list(preds)
            if c in preds:
                raise DataError(f"`predictors[{c!r}]` includes {c!r} itself.")
            out[c] = list(dict.fromkeys(preds))
    else:
        common = as_list(predictors)
        out = {c: list(dict.fromkeys([p for p in common + columns if p != c])) for c in columns}
    check_columns(data, sorted({p for ps in out.values() for p in ps}), what="predictor")
    return out


def default_method(enc: Encoded) -> str:
    """``"logit"`` for binary columns, ``"pmm"`` otherwise."""
    return "logit" if enc.kind == "binary" else "pmm"


def check_target(name: str, enc: Encoded, method: str, n_obs: int) -> None:
    """Raise :class:`DataError` when ``method`` cannot impute column ``name``."""
    if enc.kind == "categorical":
        raise DataError(f"column {name!r} is categorical with {len(enc.categories)} categories; "
                        "only numeric and binary columns can be imputed (code it as numbers "
                        "for 'pmm').")
    if method not in MODELS:
        raise DataError(f"method for {name!r} must be one of {', '.join(map(repr, MODELS))}; "
                        f"got {method!r}.")
    if method == "logit" and enc.kind != "binary":
        raise DataError(f"method 'logit' needs a binary column; {name!r} takes other values "
                        "than 0/1.")
    if enc.restore != "float" and method != "logit":
        raise DataError(f"column {name!r} is {'boolean' if enc.restore == 'bool' else 'a '}"
                        f"{'' if enc.restore == 'bool' else 'two-category categorical'}; "
                        f"impute it with 'logit', not {method!r}.")
    if n_obs == 0:
        raise DataError(f"column {name!r} is entirely missing; there is nothing to fit its "
                        "imputation model to.")
    obs = enc.block[~enc.missing, 0]
    if n_obs < 2 or (enc.kind == "binary" and obs.min() == obs.max()):
        raise DataError(f"column {name!r} has {n_obs} observed value(s), all equal to "
                        f"{obs[0]:g}; its imputation model cannot be fitted." if n_obs
                        else f"column {name!r} has too few observed values.")
