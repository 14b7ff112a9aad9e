"""Build the estimating arrays of :func:`sosstats.panel.change_model` from a long frame.

One formula ``y ~ x`` asks how the change in ``y`` between waves depends on ``x``. This module
turns it into the regression each method fits (see :mod:`sosstats.panel.change`):

* ``first_difference``: one row per entity, ``y_T2 - y_T1`` on ``[1, x]``; with more waves
  one row per entity and consecutive pair of waves (plm's ``fd``, optionally with a dummy per
  later change period);
* ``ancova``: one row per entity, ``y_T2`` on ``[1, y_T1, x]``;
* ``fixed_effects``: one row per entity x wave, within-entity demeaned ``y`` on wave dummies,
  time-invariant ``x`` times each later wave dummy and time-varying ``x``;
* ``random_effects`` / ``correlated_random_effects``: the same regressors plus a constant and the
  time-invariant main effects (and, for Mundlak's CRE, the entity means of time-varying ``x``),
  quasi-demeaned with the Swamy-Arora ``theta``.

A time-varying regressor enters FD and ANCOVA as its change ``x_T2 - x_T1``. The panel
methods' regressors and the Swamy-Arora transformation are in
:mod:`sosstats.panel._panel_methods`, multiple-membership shares in
:mod:`sosstats.panel._membership`, the integer layout of the long frame in
:mod:`sosstats.panel._layout`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sosstats._formula import split_formula
from sosstats._validate import (
    as_list,
    check_columns,
    check_frame,
    check_weights,
    shown_values,
)
from sosstats.errors import DataError, DesignError, SosstatsWarning
from sosstats.panel._layout import (
    category_order,
    entity_means,
    grid_cells,
    panel_layout,
    rhs_grid,
    wave_codes,
    within,
)
from sosstats.panel._membership import membership_matrix
from sosstats.panel._panel_methods import first_differences, panel_regressors, swamy_arora

METHODS = ("first_difference", "ancova", "fixed_effects", "random_effects",
           "correlated_random_effects")
TWO_WAVE = ("ancova",)
#: methods with one value of the weights and clusters per entity
PER_ENTITY = ("first_difference", "ancova")


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
    make_frame: Callable[[], pd.DataFrame]   # builds the estimating frame on first access
    n_entities: int
    n_dropped: int
    waves: list
    info: dict = field(default_factory=dict)
    gram: np.ndarray | None = None       # X' W X of the final X, when already computed

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The estimating frame (before any within / quasi-demeaning), built once."""
        return self.make_frame()


def wave_order(values: pd.Series) -> list:
    """Waves in time order: categories of an ordered categorical, otherwise sorted values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return category_order(values)
    try:
        return sorted(pd.unique(values))
    except TypeError as exc:
        raise DataError(f"time column {values.name!r} mixes types that cannot be ordered."
                        ) from exc


def check_collinear(X: np.ndarray, terms: list[str], weights: np.ndarray | None,
                    why: str) -> np.ndarray:
    """Raise :class:`DesignError` naming the first columns of ``X`` spanned by earlier ones.

    Returns the Gram matrix ``X' W X`` (reused by the fit and its bread).
    """
    G = X.T @ (X if weights is None else X * weights[:, None])
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
    return G


def _codes(values: pd.Series, what: str, rows: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize(values[rows], sort=True)``; categorical codes relabelled in O(n)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        raw = values.cat.codes.to_numpy()
        raw = raw if rows is None else raw[rows]
        if (raw < 0).any():
            raise DataError(f"{what} {values.name!r} has {int((raw < 0).sum())} missing "
                            "values.")
        present = np.bincount(raw, minlength=len(values.cat.categories)) > 0
        labels = np.asarray(values.cat.categories[present])
        if present.all():
            return raw, labels                   # small ints; build_design widens them last
        relabel = np.cumsum(present) - 1
        return relabel[raw], labels
    values = values if rows is None else values.take(rows)
    if values.isna().any():
        raise DataError(f"{what} {values.name!r} has {int(values.isna().sum())} missing values.")
    codes, labels = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(labels)


def build_design(formula: str, data: pd.DataFrame, *, entity: str, time: str, method: str,
                 cluster: str | list[str] | None, weights: str | None, membership: Any,
                 missing: str, time_effects: bool = True) -> Design:
    """Validate the long frame and return the :class:`Design` of ``method``."""
    data = check_frame(data)
    outcome, rhs = split_formula(formula, example="sdq ~ C(cohort) + C(experience)")
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
    w_codes = wave_codes(data[time], waves)
    ent_codes, ent_labels, N, layout = panel_layout(data[entity], w_codes, T)
    if layout.counts is not None:
        counts = layout.counts
        if (counts > 1).any():
            dups = ent_labels[np.flatnonzero(counts.ravel() > 1) // T]
            raise DataError(f"duplicate {entity!r} x {time!r} rows for {entity} "
                            f"{', '.join(map(str, pd.unique(dups)[:10]))}.")
        has = counts > 0
        if not has[:, 0].all():
            bad = ent_labels[~has[:, 0]]
            raise DataError(f"{bad.size} {entity} with no first wave ({waves[0]!r}) row: "
                            f"{', '.join(map(str, bad[:10]))}.")
        y_grid = np.full((N, T), np.nan)
        y_grid[ent_codes, w_codes] = data[outcome].to_numpy(dtype=float)
    else:                                        # sorted entity-major, complete: no scatter
        y_grid = data[outcome].to_numpy(dtype=float).reshape(N, T)
    inf_cells = np.isinf(y_grid)
    if inf_cells.any():
        bad = ent_labels[inf_cells.any(axis=1)]
        raise DataError(f"outcome {outcome!r} has infinite values for {bad.size} {entity}: "
                        f"{', '.join(map(str, bad[:10]))}.")
    miss = [np.isnan(y_grid[:, t]) for t in range(T)]
    drop = np.logical_or.reduce(miss)
    n_dropped = int(np.count_nonzero(drop))
    if n_dropped:
        per_wave = ", ".join(f"{w!r}: {np.count_nonzero(m)}" for w, m in zip(waves, miss)
                             if m.any())
        msg = (f"{n_dropped} of {N} {entity} have a missing {outcome!r} at a wave "
               f"({per_wave})")
        if missing == "raise":
            raise DataError(msg + "; use missing='drop' to drop them.")
        if n_dropped == N:
            raise DataError(msg + "; none is left.")
        warnings.warn(msg + "; they are dropped.", SosstatsWarning, stacklevel=3)
    keep_ent = np.flatnonzero(~drop)
    n_keep = keep_ent.size
    # rows of the kept entities, entity-major then wave (kept entities have every wave)
    rows = layout.rows(keep_ent if n_dropped else None, N, T)

    def take(col: str) -> pd.Series:
        return data[col] if rows is None else data[col].take(rows)

    M, names, invariant = rhs_grid(rhs, data, rows, take, n_keep, T)
    y = y_grid.reshape(-1)[grid_cells(keep_ent, T)].reshape(n_keep, T) if n_dropped \
        else y_grid.copy()

    w_rows = None
    if weights is not None:
        w_rows = check_weights(take(weights), f"weights {weights!r}",   # a fresh copy
                               require_positive_sum=False)
    cl_codes, cl_labels = [], []
    for col in clusters_cols:
        codes, labels = _codes(data[col], "cluster column", rows)
        cl_codes.append(codes)
        cl_labels.append(labels)

    one_row = method == "ancova" or (method == "first_difference" and T == 2)
    fd_rows = method == "first_difference" and T > 2      # T - 1 changes per entity
    per_entity = method in PER_ENTITY
    if w_rows is not None and not per_entity:
        weightless = (w_rows.reshape(n_keep, T) == 0).all(axis=1)
        if weightless.any():
            bad = ent_labels[keep_ent[weightless]]
            raise DataError(f"weights {weights!r} are zero at every wave for {bad.size} "
                            f"{entity}: {', '.join(map(str, bad[:10]))}; {method} cannot "
                            "demean them. Drop those entities (they carry no information).")
    if per_entity:
        for name, arr in ([(weights, w_rows)] if weights else []) + list(zip(clusters_cols,
                                                                              cl_codes)):
            grid = arr.reshape(n_keep, T)
            if (grid[:, 1:] != grid[:, :1]).any():
                raise DataError(f"column {name!r} varies within {entity}; method {method!r} "
                                "uses changes of each entity, so it must be constant within "
                                "entity.")
        reps = T - 1 if fd_rows else 1
        w_rows = None if w_rows is None else np.repeat(w_rows.reshape(n_keep, T)[:, 0], reps)
        cl_codes = [np.repeat(c.reshape(n_keep, T)[:, 0], reps) for c in cl_codes]
    cl_codes = [np.ascontiguousarray(c, dtype=np.int64) for c in cl_codes]
    if w_rows is not None and not w_rows.sum() > 0:
        raise DataError(f"weights {weights!r} are all zero.")
    if w_rows is not None:
        for col, codes, labels in zip(clusters_cols, cl_codes, cl_labels):
            total = np.bincount(codes, weights=w_rows, minlength=len(labels))
            present = np.bincount(codes, minlength=len(labels)) > 0
            empty = np.flatnonzero(present & (total <= 0))
            if empty.size:
                raise DataError(f"weights {weights!r} are zero in every row of cluster "
                                f"{shown_values(labels[empty], 10)} of {col!r}: "
                                "that cluster has no data, and dropping it silently would "
                                "change G. Drop its rows, or give them positive weights.")

    ents = ent_labels[keep_ent]

    def sub_e() -> np.ndarray:                   # entity code of each kept row
        return np.repeat(np.arange(n_keep), T - 1 if fd_rows else T)

    time_col = data[time]                        # copy-on-write: the caller's edits don't leak
    ti_names = [n for n, inv in zip(names, invariant) if inv]
    tv_names = [n for n, inv in zip(names, invariant) if not inv]
    gram = None
    info: dict[str, Any] = {"outcome": outcome, "time_invariant": ti_names,
                            "time_varying": tv_names}
    if one_row:
        M_grid = M.reshape(n_keep, T, -1)
        x0 = M_grid[:, 0, :]
        Xr = x0 if invariant.all() else np.where(invariant, x0, M_grid[:, 1, :] - x0)
        if method == "first_difference":
            yy, terms = y[:, 1] - y[:, 0], ["Intercept"] + names
            X = np.column_stack([np.ones(n_keep), Xr])
            dep = f"{outcome}_change"
        else:
            lag = f"{outcome}[{waves[0]}]"
            yy, terms = y[:, 1], ["Intercept", lag] + names
            X = np.column_stack([np.ones(n_keep), y[:, 0], Xr])
            dep = f"{outcome}[{waves[1]}]"
        gram = check_collinear(X, terms, w_rows, "is collinear with the other regressors "
                               "(constant, or a combination of others)")
        frame_cols = (dep, yy, X)
    elif fd_rows:
        X, yy, terms = first_differences(M, names, invariant, y, n_keep, waves, time,
                                         time_effects)
        gram = check_collinear(X, terms, w_rows, "is collinear with the other regressors "
                               "(constant, or a combination of others)")
        frame_cols = (f"{outcome}_change", yy, X)
    else:
        yy = y.reshape(-1)
        X, terms = panel_regressors(M, names, invariant, n_keep, waves, time, method,
                                    time_effects)
        if method == "correlated_random_effects" and tv_names:
            means = np.repeat(entity_means(M[:, ~invariant], n_keep, T, w_rows), T, axis=0)
            X = np.column_stack([X, means])
            terms = terms + [f"mean({n})" for n in tv_names]
        frame_cols = (outcome, yy, X)
        if method == "fixed_effects":
            info["undemeaned_X"] = X             # for the dummy-variable CR2 form
            Xd = within(X, n_keep, T, w_rows)
            gram = check_collinear(Xd, terms, w_rows, "is removed by the entity fixed effects "
                                   "(constant within entities, or collinear with the wave "
                                   "effects)")
            info["undemeaned_y"] = yy
            X, yy = Xd, within(yy[:, None], n_keep, T, w_rows)[:, 0]
        else:
            check_collinear(X, terms, w_rows, "is collinear with the other regressors")
            X, yy, info_re = swamy_arora(X, yy, n_keep, T, w_rows)
            info.update(info_re)

    def make_frame() -> pd.DataFrame:
        dep, dep_values, X0 = frame_cols
        if one_row:
            base = {entity: ents}
        elif fd_rows:                            # each change is labelled by its later wave
            later = (time_col if rows is None else time_col.take(rows)).to_numpy()
            base = {entity: ents[sub_e()],
                    time: later.reshape(n_keep, T)[:, 1:].reshape(-1)}
        else:
            base = {entity: ents[sub_e()],
                    time: (time_col if rows is None else time_col.take(rows)).to_numpy()}
        frame = pd.DataFrame({**base, dep: dep_values, **dict(zip(terms, X0.T))})
        if weights is not None:
            frame[weights] = w_rows
        for col, codes, labels in zip(clusters_cols, cl_codes, cl_labels):
            frame[col] = labels[codes]
        return frame
    clusters = None
    if len(cl_codes) == 1:
        clusters = cl_codes[0]
    elif len(cl_codes) == 2:
        clusters = np.column_stack(cl_codes)
    member = None
    if membership is not None:
        member, labels = membership_matrix(membership, ents, entity)
        cl_labels = [labels]
        if not one_row:
            member = member[sub_e()]
    elif clusters is None:                      # default: cluster by entity
        clusters = np.arange(n_keep) if one_row else sub_e()
        cl_labels = [np.asarray(ents)]
    info["cluster_by"] = clusters_cols or (["membership"] if membership is not None
                                           else [entity])
    return Design(y=yy, X=X, terms=terms, weights=w_rows, clusters=clusters,
                  cluster_labels=cl_labels, membership=member, make_frame=make_frame,
                  n_entities=n_keep, n_dropped=n_dropped, waves=waves, info=info, gram=gram)
