"""Response-propensity models: a logit or probit of response on the covariate design.

Used by the logit / probit methods of :func:`sosstats.weighting.attrition_weights` and by the
likelihood-ratio test of :func:`sosstats.weighting.nonresponse_tests`: drop the columns that
carry no information, detect separation, fit with statsmodels.
"""

from __future__ import annotations

import warnings

import numpy as np

from sosstats.errors import DataError, SosstatsWarning

__all__ = ["fit_propensity", "independent_columns",
           "separating_columns"]


def separating_columns(X: np.ndarray, r: np.ndarray, names: list[str]
                       ) -> tuple[list[str], list[str]]:
    """Covariates that separate response completely (fatal) or quasi-completely (warn)."""
    complete, quasi = [], []
    for j, name in enumerate(names):
        x = X[:, j]
        x1, x0 = x[r], x[~r]
        if np.ptp(x) == 0:
            continue
        if x1.max() < x0.min() or x0.max() < x1.min():
            complete.append(name)
        elif x1.max() <= x0.min() or x0.max() <= x1.min():
            quasi.append(name)
    return complete, quasi


def independent_columns(X: np.ndarray) -> np.ndarray:
    """Columns of ``X`` not constant and not linear in the intercept and the columns before.

    Within a cell a category can be absent (its dummy is all zero) or the only one left (its
    dummy equals the intercept); such columns carry no information and are dropped. The
    diagonal of R in the QR decomposition of ``[1, X]`` is the part of each column orthogonal
    to those before it.
    """
    if X.shape[1] == 0:
        return np.zeros(0, bool)
    Z = np.column_stack([np.ones(len(X)), X])
    scale = np.linalg.norm(Z, axis=0)
    keep = np.ones(Z.shape[1], bool)
    for _ in range(Z.shape[1]):          # repeat until the kept columns are independent
        R = np.linalg.qr(Z[:, keep], mode="r")
        small = np.abs(np.diag(R)) <= 1e-10 * np.maximum(scale[keep], 1.0)
        if not small.any():
            break
        keep[np.flatnonzero(keep)[np.argmax(small)]] = False
    return keep[1:]


def fit_propensity(X: np.ndarray, r: np.ndarray, names: list[str], *, link: str,
                   label: str = "") -> np.ndarray:
    """Fitted response probabilities from a logit or probit model with an intercept.

    Constant columns are dropped. A covariate that separates respondents from non-respondents
    completely raises :class:`DataError`; quasi-complete separation gives a
    :class:`SosstatsWarning` naming it (its fitted probabilities go to 0 or 1).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    keep = independent_columns(X)
    X = X[:, keep]
    names = [n for n, k in zip(names, keep) if k]
    where = f" in cell {label}" if label else ""
    complete, quasi = separating_columns(X, r, names)
    if complete:
        raise DataError(f"covariate(s) {', '.join(map(repr, complete))} perfectly predict "
                        f"response{where}; response probabilities of 0 or 1 give infinite "
                        "weights: drop or coarsen them.")
    if quasi:
        warnings.warn(f"covariate(s) {', '.join(map(repr, quasi))} quasi-perfectly predict "
                      f"response{where}: some fitted response probabilities are near 0 or 1.",
                      SosstatsWarning, stacklevel=4)
    Z = np.column_stack([np.ones(len(r)), X])
    model = (sm.Logit if link == "logit" else sm.Probit)(r.astype(float), Z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (PerfectSeparationWarning, ConvergenceWarning,
                                         HessianInversionWarning, RuntimeWarning))
        try:
            res = model.fit(method="newton", tol=1e-12, maxiter=200, disp=0)
        except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
            raise DataError(f"the response model{where} cannot be fitted ({exc}); check "
                            f"covariates {', '.join(map(repr, names))} for separation or "
                            "collinearity.") from None
    p = np.asarray(res.predict(Z), dtype=float)
    if np.any(p[r] <= 1e-12):
        warnings.warn(f"some respondents{where} have fitted response probability ~0; their "
                      "weights are huge (consider trim= or max_deff=).", SosstatsWarning,
                      stacklevel=4)
    return p
