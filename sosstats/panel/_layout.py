"""Integer layout of a long panel frame, in O(n) for the usual sorted, balanced input.

Helpers of :mod:`sosstats.panel._design`: entity and wave codes, the row of each entity x wave,
whether a column is constant within entities, the right-hand side's model matrix (once per
entity when it can be) and entity means / within transformation of the balanced rows. All of
them avoid pandas group-bys and pivots: a long frame of two million rows
(``wide_to_long`` output, sorted by entity then wave) is laid out with a few vectorised passes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._formula import model_matrix
from sosstats.errors import DataError

#: functions whose value on a row depends on that row only (safe to evaluate per entity)
ROWWISE = frozenset({"C", "I", "Q"})


def entity_codes(values: pd.Series) -> tuple[np.ndarray, object]:
    """``pandas.factorize(values)`` (codes in order of first appearance), O(n) if sorted.

    Sorted integer ids (the output of ``wide_to_long``) are coded by one cumulative sum of the
    change points; anything else goes through :func:`pandas.factorize`. Both give the same
    codes and labels.
    """
    arr = values.to_numpy()
    if arr.dtype.kind in "iu" and arr.size > 1:
        step = np.diff(arr)
        if (step >= 0).all():
            start = np.empty(arr.size, dtype=bool)
            start[0] = True
            np.not_equal(step, 0, out=start[1:])
            codes = np.cumsum(start)
            codes -= 1
            return codes, arr[start]
    codes, labels = pd.factorize(values)
    return codes.astype(np.int64), labels


def category_order(values: pd.Series) -> list:
    """Categories of a categorical ``values`` that occur, in category order."""
    codes = values.cat.codes.to_numpy()
    cats = values.cat.categories
    if len(cats) <= 16:                       # a few waves: one comparison each, no copies
        return [c for k, c in enumerate(cats) if (codes == k).any()]
    counts = np.bincount(codes[codes >= 0].astype(np.intp), minlength=len(cats))
    return [c for c, k in zip(cats, counts) if k]


def wave_codes(values: pd.Series, waves: list) -> np.ndarray:
    """Position of each row's wave in ``waves`` (``-1`` if absent)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        if list(cats) == list(waves):         # every category occurs: codes are the positions
            return values.cat.codes.to_numpy()
        mapping = np.full(len(cats) + 1, -1, dtype=np.int64)   # last slot: code -1 (NaN)
        mapping[cats.get_indexer(waves)] = np.arange(len(waves))
        return mapping[values.cat.codes.to_numpy()]
    return pd.Index(waves).get_indexer(values).astype(np.int64)


@dataclass(frozen=True)
class Positions:
    """Where each entity x wave sits in the frame.

    ``pos`` is the (N, T) row of each entity x wave (``-1`` when missing), or ``None`` when
    the frame is exactly entity-major and complete (row ``i * T + t``); ``counts`` the (N, T)
    rows per cell (``None`` in the complete case, where every cell holds one row).
    """

    pos: np.ndarray | None
    counts: np.ndarray | None

    def rows(self, keep: np.ndarray | None, n_entities: int, n_waves: int) -> np.ndarray | None:
        """Rows of the kept entities (``keep`` indices, ``None`` for all), entity-major."""
        if keep is None and self.pos is None:
            return None
        cells = np.arange(n_entities * n_waves) if keep is None else grid_cells(keep, n_waves)
        return cells if self.pos is None else self.pos[cells]


def grid_cells(keep: np.ndarray, n_waves: int) -> np.ndarray:
    """Flat (entity, wave) cells ``keep[i] * T + t`` of the kept entities, entity-major.

    Filled one wave column at a time (a strided write), several times faster than the
    broadcast sum and ``ravel`` copy, or a 2-D fancy index of the grid.
    """
    cells = np.empty((keep.size, n_waves), dtype=np.int64)
    np.multiply(keep, n_waves, out=cells[:, 0])
    for t in range(1, n_waves):
        np.add(cells[:, 0], t, out=cells[:, t])
    return cells.ravel()


def positions(ent: np.ndarray, wave: np.ndarray, n_entities: int, n_waves: int) -> Positions:
    """Lay out the rows by entity x wave with one ``bincount``."""
    key = ent * n_waves + wave
    counts = np.bincount(key[wave >= 0], minlength=n_entities * n_waves)
    pos = np.full(n_entities * n_waves, -1, dtype=np.int64)
    pos[key[wave >= 0]] = np.flatnonzero(wave >= 0)
    return Positions(pos, counts.reshape(n_entities, n_waves))


def panel_layout(ids: pd.Series, wave: np.ndarray, n_waves: int
                 ) -> tuple[np.ndarray | None, object, int, Positions]:
    """Entity codes (``None`` when not needed), entity labels, their number and positions.

    The usual long frame (integer ids in increasing order, each with its ``n_waves`` rows in
    wave order, as :func:`sosstats.panel.wide_to_long` returns) is recognised with three
    vectorised comparisons and needs no codes at all; any other frame is factorised and laid
    out with one ``bincount``. Labels are in order of first appearance either way.
    """
    arr = ids.to_numpy()
    n = arr.size
    if arr.dtype.kind in "iu" and n % n_waves == 0:
        grid = arr.reshape(-1, n_waves)
        first = grid[:, 0]
        if ((first[1:] > first[:-1]).all() and (grid[:, 1:] == first[:, None]).all()
                and (wave.reshape(-1, n_waves) == np.arange(n_waves, dtype=wave.dtype)).all()):
            return None, first.copy(), first.size, Positions(None, None)
    codes, labels = entity_codes(ids)
    n_entities = len(labels)
    return codes, labels, n_entities, positions(codes, wave, n_entities, n_waves)


def constant_within(values: pd.Series, n_entities: int, n_waves: int) -> bool | None:
    """Whether a column (rows entity-major, balanced) is constant within every entity.

    ``None`` when this cannot be told cheaply and exactly (missing values, or a dtype other
    than numeric, boolean or categorical): the caller then takes the general path.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        arr = values.cat.codes.to_numpy()
        if (arr < 0).any():
            return None
    elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_extension_array_dtype(dtype):
            return None
        arr = values.to_numpy()
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            return None
    else:
        return None
    grid = arr.reshape(n_entities, n_waves)
    return bool((grid[:, 1:] == grid[:, :1]).all())


@functools.lru_cache(maxsize=256)
def _required(rhs: str) -> tuple[str, ...] | None:
    """Variables formulaic reads for ``rhs`` (parsed once per formula), None if it fails."""
    try:
        from formulaic import Formula

        return tuple(sorted(str(v) for v in Formula(rhs).required_variables))
    except Exception:  # the general path reports formula errors
        return None


def rhs_variables(rhs: str, columns: pd.Index) -> list[str] | None:
    """Columns a right-hand side reads, or ``None`` unless it is evaluable entity by entity.

    ``None`` when the formula calls a function outside ``C``, ``I``, ``Q`` (a stateful transform
    such as ``scale`` or ``poly`` would see another sample on one row per entity) or reads a
    name that is not a column. Every identifier of the formula that names a column is kept.
    """
    calls = set(re.findall(r"([A-Za-z_][\w.]*)\s*\(", rhs))
    if not calls <= ROWWISE:
        return None
    names = _required(rhs)
    if names is None or not all(name in columns for name in names):
        return None
    # names that formulaic would otherwise resolve elsewhere (``exp2`` is also numpy's) are
    # columns first: keep every identifier of the formula that names a column
    tokens = set(re.findall(r"[A-Za-z_][\w.]*", rhs)) - calls
    return sorted(set(names) | {t for t in tokens if t in columns})


def simple_terms(rhs: str, data: pd.DataFrame) -> list[str] | None:
    """Columns of a right-hand side that is a plain sum of numeric columns, else ``None``.

    ``"x1 + x2"`` (optionally with ``1``) where every ``x`` is a numeric, non-boolean column:
    its model matrix is those columns as floats, in the order written (what formulaic gives),
    so it needs no formula machinery. Anything else (``C()``, interactions, transforms,
    booleans, repeats) returns ``None``.
    """
    names = []
    for token in (t.strip() for t in rhs.split("+")):
        if token == "1":
            continue
        if not re.fullmatch(r"[A-Za-z_]\w*", token) or token not in data.columns \
                or token in names:
            return None
        dtype = data[token].dtype
        if (not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                or pd.api.types.is_extension_array_dtype(dtype)
                or pd.api.types.is_complex_dtype(dtype)):
            return None
        names.append(token)
    return names


def entity_constant(grid: np.ndarray) -> np.ndarray:
    """(N, T, k) grid -> (k,) True where every entity has one value over the waves."""
    return ~(grid[:, 1:, :] != grid[:, :1, :]).any(axis=(0, 1))


def rhs_grid(rhs: str, data: pd.DataFrame, rows: np.ndarray | None, take: Any,
              n_keep: int, T: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Model matrix of ``rhs`` on the kept rows (entity-major), its names and invariance.

    When every column the formula reads is constant within entities (the usual case: family
    characteristics), the formula is materialised once on one row per entity and repeated
    over the waves; otherwise on every row. Both give the same matrix.
    """
    simple = simple_terms(rhs, data)
    if simple is not None:                     # "x1 + x2" of numeric columns: no formulaic
        M = np.empty((n_keep * T, len(simple)))
        for j, col in enumerate(simple):
            values = data[col].to_numpy()
            M[:, j] = values if rows is None else values[rows]
        check_nan(M, simple)
        return M, simple, entity_constant(M.reshape(n_keep, T, -1))
    names_used = rhs_variables(rhs, data.columns)
    if names_used is not None and all(constant_within(take(c), n_keep, T)
                                      for c in names_used):
        first = (np.arange(n_keep) * T) if rows is None else rows[::T]
        ent = data[names_used].take(first)
        M_ent, names, _ = model_matrix(rhs, ent, na_action="ignore", intercept=False)
        check_nan(M_ent, names)
        return np.repeat(M_ent, T, axis=0), names, np.ones(len(names), dtype=bool)
    cols = list(data.columns) if names_used is None else names_used
    sub = data[cols] if rows is None else data[cols].take(rows)
    M, names, _ = model_matrix(rhs, sub, na_action="ignore", intercept=False)
    check_nan(M, names)
    return M, names, entity_constant(M.reshape(n_keep, T, -1))


def check_nan(M: np.ndarray, names: list[str]) -> None:
    nan_cols = [c for c, bad in zip(names, np.isnan(M).any(axis=0)) if bad]
    if nan_cols:
        raise DataError(f"regressor(s) {', '.join(map(repr, nan_cols))} have missing values in "
                        "the rows used; drop or impute them first.")


def entity_means(X: np.ndarray, n: int, T: int, w: np.ndarray | None) -> np.ndarray:
    """(n, k) (weighted) means of the columns of ``X`` by entity.

    Rows are entity-major with ``T`` rows per entity (the balanced layout of
    :func:`build_design`), so each column's entity sums are ``T`` strided additions of
    length ``n``: no group-by, no gather.
    """
    k = X.shape[1]
    out = np.empty((n, k))
    den = None
    if w is not None:
        w2 = w.reshape(n, T)
        den = w2[:, 0].copy()
        for t in range(1, T):
            den += w2[:, t]
    for j in range(k):
        col = (X[:, j] if w is None else X[:, j] * w).reshape(n, T)
        num = col[:, 0].copy()
        for t in range(1, T):
            num += col[:, t]
        if den is None:
            out[:, j] = num / float(T)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, j] = num / den
    return out


def within(X: np.ndarray, n: int, T: int, w: np.ndarray | None) -> np.ndarray:
    """Within (entity-demeaned) columns of ``X``: ``x_it - xbar_i`` (weighted means).

    Returned in Fortran order (columns contiguous), wave by wave with strided writes.
    """
    k = X.shape[1]
    means = entity_means(X, n, T, w)
    out = np.empty((n * T, k), order="F")
    for j in range(k):
        for t in range(T):
            np.subtract(X[t::T, j], means[:, j], out=out[t::T, j])
    return out
