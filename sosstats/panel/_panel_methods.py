"""Regressors of the multi-wave panel methods and the random-effects transformation.

For :func:`sosstats.panel.change_model` with ``fixed_effects``, ``random_effects`` and
``correlated_random_effects`` on the balanced, entity-major rows built by
:mod:`sosstats.panel._design`: wave dummies and interactions (:func:`panel_regressors`), and
Swamy-Arora variance components with the quasi-demeaning of random effects
(:func:`swamy_arora`).
"""

from __future__ import annotations

import numpy as np

from sosstats.errors import DesignError
from sosstats.panel._layout import entity_means


def panel_regressors(M: np.ndarray, names: list[str], invariant: np.ndarray, n: int,
                      waves: list, time: str, method: str, time_effects: bool = True
                      ) -> tuple[np.ndarray, list[str]]:
    """Regressors of the panel methods on the balanced entity-major rows (Fortran order).

    Wave dummies, time-invariant ``x`` times each later wave dummy and time-varying ``x``;
    for random effects also a constant and the time-invariant main effects. Columns are
    filled wave by wave with strided writes (row ``i * T + t`` is entity ``i``, wave ``t``).
    ``time_effects=False`` leaves out the wave dummies and the interactions (plm's
    ``effect="individual"``): only time-varying ``x`` (and, for random effects, the constant
    and the time-invariant main effects).
    """
    T = len(waves)
    inv = np.flatnonzero(invariant)
    tv = np.flatnonzero(~invariant)
    re_like = method != "fixed_effects"
    if not time_effects and not re_like and inv.size:
        raise DesignError(f"regressor(s) {', '.join(repr(names[j]) for j in inv)} are constant "
                          "within entities: without wave effects (time_effects=False) the "
                          "entity fixed effects absorb them. Keep time_effects=True to ask how "
                          "the change depends on them, or drop them.")
    later = range(1, T) if time_effects else range(0)
    terms = (["Intercept"] + [names[j] for j in inv] if re_like else [])
    terms += [f"{time}[{waves[t]}]" for t in later]
    terms += [f"{names[j]}:{time}[{waves[t]}]" for t in later for j in inv]
    terms += [names[j] for j in tv]
    X = np.zeros((n * T, len(terms)), order="F")
    c = 0
    if re_like:
        X[:, 0] = 1.0
        c = 1
        for j in inv:
            X[:, c] = M[:, j]
            c += 1
    for t in later:
        X[t::T, c] = 1.0
        c += 1
    for t in later:
        for j in inv:
            X[t::T, c] = M[t::T, j]
            c += 1
    for j in tv:
        X[:, c] = M[:, j]
        c += 1
    return X, terms


def first_differences(M: np.ndarray, names: list[str], invariant: np.ndarray, y: np.ndarray,
                      n: int, waves: list, time: str, time_effects: bool
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Changes between consecutive waves, ``T - 1`` rows per entity (entity-major).

    Row ``(i, t)``, ``t = 1..T-1``, is ``y_it - y_i,t-1`` on an intercept (the mean change into
    the second wave), with ``time_effects`` a dummy for each later change period (the change
    into wave ``t`` against the first change), time-invariant ``x_i`` as levels (how the change
    depends on them, as with two waves) and time-varying ``x`` as ``x_it - x_i,t-1``. With only
    time-varying regressors and ``time_effects=False`` this is plm's ``model = "fd"``.
    """
    T = len(waves)
    grid = M.reshape(n, T, -1)
    level = grid[:, 1:, :]
    change = grid[:, 1:, :] - grid[:, :-1, :]
    Xr = np.where(invariant, level, change).reshape(n * (T - 1), -1)
    dy = (y[:, 1:] - y[:, :-1]).reshape(-1)
    periods = range(2, T) if time_effects else range(0)
    cols = [np.ones(n * (T - 1))]
    for t in periods:
        d = np.zeros((n, T - 1))
        d[:, t - 1] = 1.0
        cols.append(d.reshape(-1))
    X = np.column_stack(cols + [Xr])
    terms = ["Intercept"] + [f"{time}[{waves[t]}]" for t in periods] + list(names)
    return X, dy, terms


def swamy_arora(X: np.ndarray, y: np.ndarray, n: int, T: int,
                 w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Quasi-demean ``X`` and ``y`` with the Swamy-Arora variance components.

    As linearmodels' ``RandomEffects`` (and plm's ``random.method="swar"`` for balanced
    panels): sigma2_e from the within regression (df ``n - N - rank_within``), sigma2_u from
    the between regression of entity means (df ``N - rank_between``), minus sigma2_e over the
    harmonic mean of the entity sizes; ``theta_i = 1 - sqrt(s2e / (T_i s2u + s2e))``.
    """
    wv = np.ones(y.size) if w is None else w
    rw = np.sqrt(wv)
    e = np.repeat(np.arange(n), T)               # balanced, entity-major rows
    xbar = entity_means(X, n, T, w)
    ybar = entity_means(y[:, None], n, T, w)[:, 0]
    xd = rw[:, None] * (X - xbar[e])
    yd = rw * (y - ybar[e])
    norm = np.sqrt(((rw[:, None] * X) ** 2).sum(0))
    norm[norm == 0] = 1.0
    rank_within = np.linalg.matrix_rank(xd / norm)
    gm_x = (wv[:, None] * X).sum(0) / wv.sum()
    gm_y = (wv * y).sum() / wv.sum()
    xd = xd + rw[:, None] * gm_x
    yd = yd + rw * gm_y
    b = np.linalg.lstsq(xd, yd, rcond=None)[0]
    weps = yd - xd @ b
    bb, _, rank_between, _ = np.linalg.lstsq(xbar, ybar, rcond=None)
    wu = ybar - xbar @ bb
    t = np.bincount(e, minlength=n).astype(float)
    df_within = y.size - n - rank_within
    df_between = n - rank_between
    if df_within <= 0 or df_between <= 0:
        raise DesignError("random effects: too few observations to estimate the variance "
                          f"components (within df {df_within}, between df {df_between}).")
    s2e = float(weps @ weps) / df_within
    t_bar = n / (1.0 / t).sum()
    s2u = max(0.0, float(wu @ wu) / df_between - s2e / t_bar)
    theta = 1.0 - np.sqrt(s2e / (t * s2u + s2e))
    Xs = X - theta[e, None] * xbar[e]
    ys = y - theta[e] * ybar[e]
    return Xs, ys, {"sigma2_e": s2e, "sigma2_u": s2u, "theta": theta,
                    "rho": s2u / (s2u + s2e) if s2u + s2e > 0 else np.nan}
