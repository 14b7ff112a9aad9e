"""Build the estimating arrays of :func:`sosstats.panel.change_model` from a long frame.

One formula ``y ~ x`` asks how the change in ``y`` between waves depends on ``x``. This module
turns it into the regression each method fits (see :mod:`sosstats.panel.change`):

* ``first_difference``: one row per entity, ``y_T2 - y_T1`` on ``[1, x]``;
* ``ancova``: one row per entity, ``y_T2`` on ``[1, y_T1, x]``;
* ``fixed_effects``: one row per entity x wave, within-entity demeaned ``y`` on wave dummies,
  time-invariant ``x`` times each later wave dummy and time-varying ``x``;
* ``random_effects`` / ``correlated_random_effects``: the same regressors plus a constant and the
  time-invariant main effects (and, for Mundlak's CRE, the entity means of time-varying ``x``),
  quasi-demeaned with the Swamy-Arora ``theta``.

A time-varying regressor enters FD and ANCOVA as its change ``x_T2 - x_T1``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import as_list, check_columns, check_frame
from sosstats.errors import DataError, DesignError, SosstatsWarning

METHODS = ("first_difference", "ancova", "fixed_effects", "random_effects",
           "correlated_random_effects")
TWO_WAVE = ("first_difference", "ancova")


@dataclass(frozen=True, eq=False)
class Design:
    """Arrays of one fit: ``y`` on ``X`` (WLS with ``weights``), ready for the kernels."""

    y: np.ndarray
    X: np.ndarray
    terms: list[str]
    weights: np.ndarray | None
    clusters: np.ndarray | None          # (n,) or (n, 2) integer codes
    cluster_labels: list[np.ndarray]
    membership: Any                      # scipy.sparse (n, G) or None
    frame: pd.DataFrame
    n_entities: int
    n_dropped: int
    waves: list
    info: dict = field(default_factory=dict)


def parse_formula(formula: str) -> tuple[str, str]:
    """Split ``"y ~ rhs"``; the left-hand side must be a single column name."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise DataError(f"`formula` must look like 'y ~ x1 + x2'; got {formula!r}.")
    lhs, rhs = (part.strip() for part in formula.split("~"))
    if not re.fullmatch(r"[A-Za-z_][\w.]*", lhs):
        raise DataError(f"the outcome of `formula` must be one column name; got {lhs!r}.")
    return lhs, rhs or "1"


def wave_order(values: pd.Series) -> list:
    """Waves in time order: categories of an ordered categorical, otherwise sorted values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        return [c for c in values.cat.categories if c in present]
    try:
        return sorted(pd.unique(values))
    except TypeError as exc:
        raise DataError(f"time column {values.name!r} mixes types that cannot be ordered."
                        ) from exc


def _rhs_matrix(rhs: str, data: pd.DataFrame) -> pd.DataFrame:
    from formulaic import model_matrix

    try:
        mm = model_matrix(rhs, data, na_action="ignore")
    except Exception as exc:  # formulaic raises many types; name the formula
        raise DataError(f"cannot build the right-hand side {rhs!r}: {exc}") from exc
    mm = pd.DataFrame(np.asarray(mm, dtype=float), columns=list(mm.columns))
    return mm.drop(columns=[c for c in mm.columns if c == "Intercept"])


def _entity_constant(grid: np.ndarray) -> np.ndarray:
    """(N, T, k) grid -> (k,) True where every entity has one value over the waves."""
    return np.all(np.ptp(grid, axis=1) == 0, axis=0)


def check_collinear(X: np.ndarray, terms: list[str], weights: np.ndarray | None,
                    why: str) -> None:
    """Raise :class:`DesignError` naming the first columns of ``X`` spanned by earlier ones."""
    w = np.ones(X.shape[0]) if weights is None else weights
    G = X.T @ (X * w[:, None])
    scale = np.sqrt(np.diag(G))
    bad = [t for t, s in zip(terms, scale) if not s > 0]
    if not bad:
        R = G / np.outer(scale, scale)
        for j in range(1, len(terms)):
            A, b = R[:j, :j], R[:j, j]
            resid = 1.0 - b @ np.linalg.lstsq(A, b, rcond=None)[0]
            if resid < 1e-10:
                bad.append(terms[j])
                break
    if bad:
        raise DesignError(f"regressor {', '.join(map(repr, bad))} {why}; drop it from the "
                          "formula.")


def _codes(values: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    if values.isna().any():
        raise DataError(f"{what} {values.name!r} has {int(values.isna().sum())} missing values.")
    codes, labels = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(labels)


def build_design(formula: str, data: pd.DataFrame, *, entity: str, time: str, method: str,
                 cluster: str | list[str] | None, weights: str | None, membership: Any,
                 missing: str) -> Design:
    """Validate the long frame and return the :class:`Design` of ``method``."""
    data = check_frame(data)
    outcome, rhs = parse_formula(formula)
    clusters_cols = as_list(cluster)
    if len(clusters_cols) > 2:
        raise DataError(f"`cluster` takes one column or two (two-way); got {clusters_cols!r}.")
    if membership is not None and clusters_cols:
        raise DataError("give `cluster=` or `membership=`, not both.")
    needed = [entity, time, outcome] + clusters_cols + ([weights] if weights else [])
    check_columns(data, needed)
    for col in (entity, time):
        if data[col].isna().any():
            raise DataError(f"column {col!r} has {int(data[col].isna().sum())} missing values.")
    if not (pd.api.types.is_numeric_dtype(data[outcome])
            and not pd.api.types.is_bool_dtype(data[outcome])):
        raise DataError(f"outcome {outcome!r} ({data[outcome].dtype}) must be numeric.")

    waves = wave_order(data[time])
    T = len(waves)
    if method in TWO_WAVE and T != 2:
        raise DataError(f"method {method!r} needs exactly two waves in {time!r}; found {T}: "
                        f"{waves!r}.")
    if T < 2:
        raise DataError(f"{time!r} has one wave ({waves!r}); change needs two or more.")
    ent_codes, ent_labels = pd.factorize(data[entity])
    wave_codes = pd.Index(waves).get_indexer(data[time])
    N = ent_labels.size
    key = ent_codes.astype(np.int64) * T + wave_codes
    counts = np.bincount(key, minlength=N * T)
    if (counts > 1).any():
        dups = ent_labels[np.flatnonzero(counts > 1) // T]
        raise DataError(f"duplicate {entity!r} x {time!r} rows for {entity} "
                        f"{', '.join(map(str, pd.unique(dups)[:10]))}.")
    has = counts.reshape(N, T) > 0
    if not has[:, 0].all():
        bad = ent_labels[~has[:, 0]]
        raise DataError(f"{bad.size} {entity} with no first wave ({waves[0]!r}) row: "
                        f"{', '.join(map(str, bad[:10]))}.")

    y_grid = np.full((N, T), np.nan)
    y_grid[ent_codes, wave_codes] = data[outcome].to_numpy(dtype=float)
    miss = np.isnan(y_grid)
    drop = miss.any(axis=1)
    n_dropped = int(drop.sum())
    if n_dropped:
        per_wave = ", ".join(f"{w!r}: {int(m)}" for w, m in zip(waves, miss.sum(axis=0)) if m)
        msg = (f"{n_dropped} of {N} {entity} have a missing {outcome!r} at a wave "
               f"({per_wave})")
        if missing == "raise":
            raise DataError(msg + "; use missing='drop' to drop them.")
        if n_dropped == N:
            raise DataError(msg + "; none is left.")
        warnings.warn(msg + "; they are dropped.", SosstatsWarning, stacklevel=3)
    keep_ent = np.flatnonzero(~drop)
    n_keep = keep_ent.size
    keep_rows = ~drop[ent_codes]
    sub = data.loc[keep_rows]
    e_new = np.full(N, -1)
    e_new[keep_ent] = np.arange(n_keep)
    sub_e = e_new[ent_codes[keep_rows]]
    sub_w = wave_codes[keep_rows]
    order = np.lexsort((sub_w, sub_e))           # rows sorted by entity then wave (balanced)
    sub = sub.iloc[order]
    sub_e, sub_w = sub_e[order], sub_w[order]

    mm = _rhs_matrix(rhs, sub)
    names = list(mm.columns)
    M = mm.to_numpy()
    nan_cols = [c for c, bad in zip(names, np.isnan(M).any(axis=0)) if bad]
    if nan_cols:
        raise DataError(f"regressor(s) {', '.join(map(repr, nan_cols))} have missing values in "
                        "the rows used; drop or impute them first.")
    M_grid = M.reshape(n_keep, T, -1)
    invariant = _entity_constant(M_grid)
    y = sub[outcome].to_numpy(dtype=float).reshape(n_keep, T)

    w_rows = None
    if weights is not None:
        w_rows = _check_weights(sub[weights], weights)
    cl_codes, cl_labels = [], []
    for col in clusters_cols:
        codes, labels = _codes(sub[col], "cluster column")
        cl_codes.append(codes)
        cl_labels.append(labels)

    one_row = method in TWO_WAVE
    if one_row:
        for name, arr in ([(weights, w_rows)] if weights else []) + list(zip(clusters_cols,
                                                                              cl_codes)):
            grid = arr.reshape(n_keep, T)
            if (np.ptp(grid, axis=1) != 0).any():
                raise DataError(f"column {name!r} varies within {entity}; method {method!r} "
                                "has one row per entity, so it must be constant within entity.")
        w_rows = None if w_rows is None else w_rows.reshape(n_keep, T)[:, 0]
        cl_codes = [c.reshape(n_keep, T)[:, 0] for c in cl_codes]
    if w_rows is not None and not w_rows.sum() > 0:
        raise DataError(f"weights {weights!r} are all zero.")

    ents = ent_labels[keep_ent]
    base = {entity: ents} if one_row else {entity: ents[sub_e], time: sub[time].to_numpy()}
    ti_names = [n for n, inv in zip(names, invariant) if inv]
    tv_names = [n for n, inv in zip(names, invariant) if not inv]
    info: dict[str, Any] = {"outcome": outcome, "time_invariant": ti_names,
                            "time_varying": tv_names}
    if one_row:
        x0 = M_grid[:, 0, :]
        dx = M_grid[:, 1, :] - M_grid[:, 0, :]
        Xr = np.where(invariant, x0, dx)
        if method == "first_difference":
            yy, terms = y[:, 1] - y[:, 0], ["Intercept"] + names
            X = np.column_stack([np.ones(n_keep), Xr])
            dep = f"{outcome}_change"
        else:
            lag = f"{outcome}[{waves[0]}]"
            yy, terms = y[:, 1], ["Intercept", lag] + names
            X = np.column_stack([np.ones(n_keep), y[:, 0], Xr])
            dep = f"{outcome}[{waves[1]}]"
        check_collinear(X, terms, w_rows, "is collinear with the other regressors "
                        "(constant, or a combination of others)")
        frame = pd.DataFrame({**base, dep: yy, **dict(zip(terms, X.T))})
    else:
        yy = y.reshape(-1)
        X, terms = _panel_regressors(M, names, invariant, sub_w, waves, time, method)
        if method == "correlated_random_effects" and tv_names:
            means = _entity_means(M[:, ~invariant], sub_e, n_keep, w_rows)[sub_e]
            X = np.column_stack([X, means])
            terms = terms + [f"mean({n})" for n in tv_names]
        frame = pd.DataFrame({**base, outcome: yy, **dict(zip(terms, X.T))})
        if method == "fixed_effects":
            Xd = X - _entity_means(X, sub_e, n_keep, w_rows)[sub_e]
            check_collinear(Xd, terms, w_rows, "is removed by the entity fixed effects "
                            "(constant within entities, or collinear with the wave effects)")
            yd = yy - _entity_means(yy[:, None], sub_e, n_keep, w_rows)[sub_e, 0]
            X, yy = Xd, yd
        else:
            check_collinear(X, terms, w_rows, "is collinear with the other regressors")
            X, yy, info_re = _swamy_arora(X, yy, sub_e, n_keep, w_rows)
            info.update(info_re)
    if weights is not None:
        frame[weights] = w_rows
    for col, codes, labels in zip(clusters_cols, cl_codes, cl_labels):
        frame[col] = labels[codes]
    clusters = None
    if len(cl_codes) == 1:
        clusters = cl_codes[0]
    elif len(cl_codes) == 2:
        clusters = np.column_stack(cl_codes)
    member = None
    if membership is not None:
        member, labels = _membership(membership, ents, entity)
        cl_labels = [labels]
        if not one_row:
            member = member[sub_e]
    elif clusters is None:                      # default: cluster by entity
        clusters = np.arange(n_keep) if one_row else sub_e.copy()
        cl_labels = [np.asarray(ents)]
    info["cluster_by"] = clusters_cols or (["membership"] if membership is not None
                                           else [entity])
    info["entity_codes"] = np.arange(n_keep) if one_row else sub_e
    return Design(y=yy, X=X, terms=terms, weights=w_rows, clusters=clusters,
                  cluster_labels=cl_labels, membership=member, frame=frame,
                  n_entities=n_keep, n_dropped=n_dropped, waves=waves, info=info)


def _check_weights(values: pd.Series, name: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        raise DataError(f"weights {name!r} ({values.dtype}) must be numeric.")
    w = values.to_numpy(dtype=float)
    if np.isnan(w).any():
        raise DataError(f"weights {name!r} have {int(np.isnan(w).sum())} missing values in the "
                        "rows used.")
    if (w < 0).any() or np.isinf(w).any():
        raise DataError(f"weights {name!r} have {int(((w < 0) | np.isinf(w)).sum())} negative "
                        "or infinite values.")
    return w


def _entity_means(X: np.ndarray, e: np.ndarray, n: int, w: np.ndarray | None) -> np.ndarray:
    """(n_entities, k) (weighted) means of the columns of ``X`` by entity code ``e``."""
    w = np.ones(X.shape[0]) if w is None else w
    den = np.bincount(e, weights=w, minlength=n)
    num = np.column_stack([np.bincount(e, weights=w * col, minlength=n) for col in X.T]) \
        if X.shape[1] else np.zeros((n, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den[:, None]


def _panel_regressors(M: np.ndarray, names: list[str], invariant: np.ndarray,
                      wave: np.ndarray, waves: list, time: str,
                      method: str) -> tuple[np.ndarray, list[str]]:
    cols, terms = [], []
    re_like = method != "fixed_effects"
    if re_like:
        cols.append(np.ones(M.shape[0]))
        terms.append("Intercept")
        cols += [M[:, j] for j in np.flatnonzero(invariant)]
        terms += [names[j] for j in np.flatnonzero(invariant)]
    for t in range(1, len(waves)):
        cols.append((wave == t).astype(float))
        terms.append(f"{time}[{waves[t]}]")
    for t in range(1, len(waves)):
        for j in np.flatnonzero(invariant):
            cols.append(M[:, j] * (wave == t))
            terms.append(f"{names[j]}:{time}[{waves[t]}]")
    cols += [M[:, j] for j in np.flatnonzero(~invariant)]
    terms += [names[j] for j in np.flatnonzero(~invariant)]
    return np.column_stack(cols), terms


def _swamy_arora(X: np.ndarray, y: np.ndarray, e: np.ndarray, n: int,
                 w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Quasi-demean ``X`` and ``y`` with the Swamy-Arora variance components.

    As linearmodels' ``RandomEffects`` (and plm's ``random.method="swar"`` for balanced
    panels): sigma2_e from the within regression (df ``n - N - rank_within``), sigma2_u from
    the between regression of entity means (df ``N - rank_between``), minus sigma2_e over the
    harmonic mean of the entity sizes; ``theta_i = 1 - sqrt(s2e / (T_i s2u + s2e))``.
    """
    wv = np.ones(y.size) if w is None else w
    rw = np.sqrt(wv)
    xbar = _entity_means(X, e, n, w)
    ybar = _entity_means(y[:, None], e, n, w)[:, 0]
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


def _membership(membership: Any, ents: np.ndarray, entity: str) -> tuple[Any, np.ndarray]:
    """Shares matrix (n_entities, G) from a long (entity id, cluster id, weight) table."""
    from scipy import sparse

    if not isinstance(membership, pd.DataFrame) or membership.shape[1] != 3:
        raise DataError("`membership` must be a DataFrame with three columns: entity id, "
                        "cluster id, weight (share of contact).")
    m_ent, m_cl, m_w = (membership.iloc[:, j] for j in range(3))
    if m_ent.isna().any() or m_cl.isna().any():
        raise DataError("`membership` has missing entity or cluster ids.")
    w = _check_weights(m_w, str(membership.columns[2]))
    pos = pd.Index(ents).get_indexer(m_ent)
    used = pos >= 0
    present = np.zeros(ents.size, bool)
    present[pos[used]] = True
    if not present.all():
        lost = ents[~present]
        raise DataError(f"{lost.size} {entity} have no row in `membership`: "
                        f"{', '.join(map(str, lost[:10]))}.")
    codes, labels = pd.factorize(m_cl[used], sort=True)
    mat = sparse.csr_matrix((w[used], (pos[used], codes)), shape=(ents.size, labels.size))
    tot = np.asarray(mat.sum(axis=1)).ravel()
    if not (tot > 0).all():
        raise DataError(f"`membership` weights sum to zero for {int((tot <= 0).sum())} {entity}.")
    mat = sparse.diags(1.0 / tot) @ mat
    return mat.tocsr(), np.asarray(labels)
