"""Reshape two-wave (or multi-wave) family data between wide and long layouts.

Wide: one row per entity, wave-specific columns named ``{stub}{sep}{wave}`` (``sdq_t1``,
``sdq_t2``). Long: one row per entity x wave, with a ``time`` column holding the wave label and one
column per stub. Columns that are not wave-specific (``cohort``, ``la_code``) are time-invariant
and are repeated on every wave of the entity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sosstats._validate import as_list, check_columns, check_frame, check_unique
from sosstats.errors import DataError

__all__ = ["wide_to_long", "long_to_wide"]


def _infer_stubs(columns: Sequence[str], waves: Sequence[str], sep: str) -> list[str]:
    stubs: list[str] = []
    for col in columns:
        for wave in waves:
            suffix = f"{sep}{wave}"
            if isinstance(col, str) and col.endswith(suffix) and len(col) > len(suffix):
                stub = col[: -len(suffix)]
                if stub not in stubs:
                    stubs.append(stub)
    return stubs


def wide_to_long(data: pd.DataFrame, *, id: str, stubs: Sequence[str] | None = None,
                 waves: Sequence[str] = ("t1", "t2"), sep: str = "_",
                 time: str = "wave") -> pd.DataFrame:
    """Stack wave-specific columns ``{stub}{sep}{wave}`` into one row per entity x wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide frame, one row per entity (not modified).
    id : str
        Entity identifier column; must be unique.
    stubs : sequence of str, optional
        Names of the wave-specific variables (``"sdq"`` for ``sdq_t1``/``sdq_t2``). Default:
        every column prefix followed by ``sep`` and one of ``waves``.
    waves : sequence of str, default ``("t1", "t2")``
        Wave labels, in time order; at least two, no repeats.
    sep : str, default ``"_"``
        Separator between stub and wave label.
    time : str, default ``"wave"``
        Name of the new wave column: an ordered categorical with categories ``waves``.

    Returns
    -------
    pandas.DataFrame
        Long frame sorted by entity (in the order of ``data``) then wave, with columns ``id``,
        ``time``, the stubs, then the time-invariant columns. A stub observed at only some
        waves (``concerns_t2``) is NaN at the others.

    Raises
    ------
    DataError
        Missing ``id``, duplicate ids, fewer than two or repeated waves, a stub with no column,
        a ``time`` name that clashes with a column, or a stub that is also a column.

    Notes
    -----
    The inverse is :func:`long_to_wide`; ``long_to_wide(wide_to_long(d, ...), ...)`` returns the
    columns of ``d`` (the wide/long layouts of Singer & Willett 2003, ch. 2).
    """
    data = check_frame(data)
    check_columns(data, id, what="id column")
    check_unique(data, id)
    waves = [str(w) for w in waves]
    if len(waves) < 2 or len(set(waves)) != len(waves):
        raise DataError(f"`waves` must be two or more distinct labels; got {waves!r}.")
    stubs = as_list(stubs) if stubs is not None else _infer_stubs(list(data.columns), waves, sep)
    if not stubs:
        raise DataError(f"no wave-specific columns found: none ends in "
                        f"{', '.join(repr(sep + w) for w in waves)}.")
    if time in data.columns:
        raise DataError(f"`time` name {time!r} is already a column of `data`; choose another.")
    wave_cols: dict[str, list[str | None]] = {}
    for stub in stubs:
        if stub in data.columns:
            raise DataError(f"stub {stub!r} is also a column of `data`; rename it first.")
        cols = [f"{stub}{sep}{w}" if f"{stub}{sep}{w}" in data.columns else None for w in waves]
        if all(c is None for c in cols):
            raise DataError(f"stub {stub!r} has no column among "
                            f"{', '.join(repr(f'{stub}{sep}{w}') for w in waves)}.")
        wave_cols[stub] = cols
    used = {c for cols in wave_cols.values() for c in cols if c is not None}
    invariant = [c for c in data.columns if c not in used and c != id]
    n, n_waves = data.shape[0], len(waves)
    take = np.repeat(np.arange(n), n_waves)
    out = {id: data[id].to_numpy()[take]}
    out[time] = pd.Categorical.from_codes(np.tile(np.arange(n_waves), n), categories=waves,
                                          ordered=True)
    long = pd.DataFrame(out)
    for stub, cols in wave_cols.items():
        parts = []
        for col in cols:
            if col is None:
                parts.append(pd.Series(np.full(n, np.nan)))  # wave not recorded
            else:
                parts.append(data[col].reset_index(drop=True))
        stacked = pd.concat(parts, ignore_index=True)
        perm = np.tile(np.arange(n_waves), n) * n + take
        long[stub] = stacked.iloc[perm].reset_index(drop=True)
    for col in invariant:
        long[col] = data[col].iloc[take].reset_index(drop=True)
    return long


def _wave_order(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    try:
        return sorted(pd.unique(values.dropna()))
    except TypeError as exc:
        raise DataError(f"wave column {values.name!r} mixes types that cannot be ordered.") from exc


def long_to_wide(data: pd.DataFrame, *, id: str, time: str,
                 values: Sequence[str] | str | None = None, sep: str = "_") -> pd.DataFrame:
    """Spread a long frame (one row per entity x wave) to one row per entity.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame (not modified).
    id, time : str
        Entity and wave columns. Waves are ordered by the categories of an ordered categorical
        ``time``, otherwise sorted.
    values : str or sequence of str, optional
        Columns to spread into ``{value}{sep}{wave}``. Default: every column that varies within
        some entity. Every other column must be constant within entity and is kept once.
    sep : str, default ``"_"``
        Separator between value name and wave label.

    Returns
    -------
    pandas.DataFrame
        One row per entity, in order of first appearance: ``id``, the time-invariant columns,
        then ``{value}{sep}{wave}`` for each value and wave. A wave an entity lacks is NaN.

    Raises
    ------
    DataError
        Missing columns, a missing ``id`` or ``time`` value, duplicate entity x wave rows, or a
        column outside ``values`` that varies within an entity.

    Notes
    -----
    Inverse of :func:`wide_to_long`.
    """
    data = check_frame(data)
    check_columns(data, [id, time])
    for col in (id, time):
        if data[col].isna().any():
            raise DataError(f"column {col!r} has {int(data[col].isna().sum())} missing values.")
    dup = data.duplicated([id, time], keep=False)
    if dup.any():
        shown = ", ".join(map(str, pd.unique(data.loc[dup, id])[:10]))
        raise DataError(f"duplicate {id!r} x {time!r} rows for {id} {shown}.")
    others = [c for c in data.columns if c not in (id, time)]
    grouped = data.groupby(id, sort=False, observed=True)
    varying = [c for c in others if (grouped[c].nunique(dropna=False) > 1).any()]
    if values is None:
        values = varying
    else:
        values = check_columns(data, values, what="value column")
        bad = [c for c in varying if c not in values]
        if bad:
            raise DataError(f"column(s) {', '.join(map(repr, bad))} vary within {id!r} but are not "
                            "in `values`; add them to `values` or drop them.")
    invariant = [c for c in others if c not in values]
    order = _wave_order(data[time])
    wide = grouped[invariant].first() if invariant else grouped.size().to_frame().iloc[:, :0]
    wide = wide.reset_index()
    keys = wide[id]
    for value in values:
        for wave in order:
            sub = data.loc[data[time] == wave, [id, value]].set_index(id)[value]
            wide[f"{value}{sep}{wave}"] = sub.reindex(keys).to_numpy()
    return wide
