"""Input checks of the agreement statistics: rater columns to integer codes of ordered levels.

Private to :mod:`sosstats.survey.agreement`. Every message names the column(s) and the problem;
the caller's frame is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import (
    check_columns,
    check_frame,
    check_not_mixed,
    shown_values,
)
from sosstats.errors import DataError, DesignError


@dataclass(frozen=True)
class Ratings:
    """Ratings as codes: ``codes`` ``(n, m)`` ints (``-1`` missing) of ``levels`` in order."""

    codes: np.ndarray
    levels: tuple[Any, ...]
    scores: np.ndarray          # numeric value of each level (its position when not numeric)
    ordered: bool               # whether the order of the levels is known
    raters: tuple[str, ...]
    cluster: np.ndarray | None  # cluster codes 0..G-1 per row, or None
    n_clusters: int | None
    cluster_name: str | None
    n_rows: int


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _sort_levels(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _levels_of(data: pd.DataFrame, raters: Sequence[str], levels: Sequence[Any] | None,
               same_levels: bool) -> tuple[list[Any], bool]:
    """Return the levels in order and whether that order is meaningful."""
    cols = [data[r] for r in raters]
    cats = [isinstance(c.dtype, pd.CategoricalDtype) for c in cols]
    if levels is not None:
        lv = list(levels)
        if len(lv) == 0:
            raise DataError("`levels` is empty; give the possible ratings in order.")
        if len(set(map(repr, lv))) != len(lv):
            raise DataError(f"`levels` repeats a level: {shown_values(lv, 12)}.")
        for name, col in zip(raters, cols):
            present = pd.unique(col.dropna())
            unseen = [v for v in present if not pd.Series(lv, dtype=object).isin([v]).any()]
            if unseen:
                raise DataError(f"column {name!r} has value(s) {shown_values(unseen)} that "
                                f"are not in `levels` ({shown_values(lv, 12)}).")
        return lv, True
    if any(cats):
        if not all(cats):
            plain = [r for r, c in zip(raters, cats) if not c]
            raise DataError(f"column(s) {', '.join(map(repr, plain))} are not categorical "
                            "while the other rater columns are; make them all Categoricals "
                            "with the same categories, or pass `levels=`.")
        first = list(cols[0].cat.categories)
        for name, col in zip(raters[1:], cols[1:]):
            this = list(col.cat.categories)
            if this != first or col.cat.ordered != cols[0].cat.ordered:
                only_a = [v for v in first if v not in this]
                only_b = [v for v in this if v not in first]
                detail = "; ".join(
                    s for s in (f"{raters[0]!r} alone has {shown_values(only_a)}" if only_a
                                else "",
                                f"{name!r} alone has {shown_values(only_b)}" if only_b else "",
                                "the same levels in another order or ordering"
                                if not (only_a or only_b) else "") if s)
                raise DataError(f"rater columns {raters[0]!r} and {name!r} have different "
                                f"categories ({detail}); pass `levels=` with every possible "
                                "rating in order.")
        return first, bool(cols[0].cat.ordered)
    for name, col in zip(raters, cols):
        check_not_mixed(col, f"rater column {name!r}")
    seen = [list(pd.unique(c.dropna())) for c in cols]
    union = _sort_levels(list(pd.unique(pd.Series([v for s in seen for v in s],
                                                  dtype=object))))
    if same_levels:
        for name, s in zip(raters, seen):
            missing = [v for v in union if v not in s]
            if missing:
                others = [r for r in raters if r != name]
                raise DataError(f"the levels differ between coders: {name!r} never uses "
                                f"{shown_values(missing)}, which {', '.join(map(repr, others))} "
                                "use(s); pass `levels=` with every possible rating in order "
                                "(or ordered Categoricals with the same categories) if those "
                                "are valid ratings.")
    numeric = all(_is_numeric(c) for c in cols)
    return union, numeric


def prepare(data: Any, raters: Sequence[str], *, levels: Sequence[Any] | None,
            cluster: str | None, need_order: str | None, same_levels: bool,
            min_raters: int = 2) -> Ratings:
    """Check the frame and columns and code the ratings.

    ``need_order`` names what needs ordered levels (``"weights='linear'"``, the metric) or is
    None; ``same_levels`` refuses (without ``levels=``) coders whose sets of levels differ.
    """
    data = check_frame(data)
    if isinstance(raters, str):
        raise DataError(f"`raters` must be a list of at least {min_raters} column names; got "
                        f"the single name {raters!r}.")
    raters = list(raters)
    if len(raters) < min_raters:
        raise DataError(f"`raters` must name at least {min_raters} columns; got {len(raters)}.")
    if len(set(raters)) != len(raters):
        raise DataError(f"`raters` repeats a column: {', '.join(map(repr, raters))}.")
    check_columns(data, raters + ([cluster] if cluster is not None else []))
    lv, ordered = _levels_of(data, raters, levels, same_levels)
    if need_order is not None and not ordered and len(lv) > 2:
        raise DataError(f"{need_order} needs ordered levels, but the ratings in "
                        f"{', '.join(map(repr, raters))} are unordered text "
                        f"({shown_values(lv)}); pass `levels=` in order or use ordered "
                        "Categoricals.")
    index = pd.Index(lv)            # a numeric index when the levels are numbers (fast lookup)
    codes = np.column_stack([
        index.get_indexer(data[r].astype(object) if isinstance(data[r].dtype,
                                                                pd.CategoricalDtype)
                          else data[r]).astype(np.int64)
        for r in raters])
    if len(lv) < 2:
        raise DesignError(f"the rater columns {', '.join(map(repr, raters))} hold a single "
                          f"level ({shown_values(lv)}): agreement beyond chance is undefined; "
                          "pass `levels=` with every possible rating.")
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
           and np.isfinite(float(v)) for v in lv):
        scores = np.asarray(lv, dtype=float)
    else:
        scores = np.arange(len(lv), dtype=float)
    g = None
    n_g = None
    if cluster is not None:
        cl = data[cluster]
        if cl.isna().any():
            raise DataError(f"cluster column {cluster!r} has {int(cl.isna().sum())} missing "
                            "value(s); every case needs its cluster.")
        g, uniq = pd.factorize(cl, sort=True)
        n_g = len(uniq)
        if n_g < 2:
            raise DesignError(f"cluster column {cluster!r} has a single cluster "
                              f"({shown_values(uniq)}); clustered inference needs at least "
                              "two. Leave `cluster=None` to treat cases as independent.")
        g = g.astype(np.int64)
    return Ratings(codes=codes, levels=tuple(lv), scores=scores, ordered=ordered,
                   raters=tuple(raters), cluster=g, n_clusters=n_g, cluster_name=cluster,
                   n_rows=len(data))
