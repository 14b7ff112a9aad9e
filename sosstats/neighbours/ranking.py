"""A neighbour ranking: for each unit, the other units in order of closeness.

Everything in :mod:`sosstats.neighbours` that needs "the k nearest neighbours of LA i, leaving out
these LAs" works on a :class:`NeighbourRanking`. It comes either from fitted distances (every
unit ranks every other unit, ``complete=True``) or from a published list such as DfE's ten
statistical neighbours (``complete=False``: excluding a listed neighbour leaves fewer than ``k``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._results import TableResult
from sosstats._validate import check_columns, check_frame, check_int
from sosstats.errors import DataError, DesignError

__all__ = ["NeighbourRanking", "as_ranking", "resolve_k", "describe_neighbours", "DEFAULT_K"]

#: neighbours per LA when neither ``k`` nor a fitted model's ``k`` says otherwise (DfE lists 10)
DEFAULT_K = 10


@dataclass(frozen=True, eq=False)
class NeighbourRanking(TableResult):
    """Ranked neighbours of every unit, as integer positions into ``ids``.

    A table result: ``tidy()`` is :meth:`to_frame` (``la_code, neighbour, rank, distance``).

    Attributes
    ----------
    ids : numpy.ndarray
        Unit codes, shape ``(n,)``.
    order : numpy.ndarray
        ``order[i, r]`` is the position in ``ids`` of unit i's neighbour of rank ``r + 1``;
        ``-1`` pads rows with fewer neighbours. Shape ``(n, m)``.
    distance : numpy.ndarray
        Distances matching ``order`` (NaN where unknown, as for published lists).
    complete : bool
        True when every row ranks all other units (so exclusions can be refilled).
    """

    ids: np.ndarray
    order: np.ndarray
    distance: np.ndarray
    complete: bool

    method = "neighbour ranking"

    def _table(self, level: float | None) -> pd.DataFrame:
        self._fit_level(level)
        return self.to_frame().set_index(["la_code", "rank"])

    def _notes(self) -> list[str]:
        kind = ("every unit ranks every other" if self.complete
                else "a published list: exclusions are not refilled")
        return [f"{self.n_units} units; up to {self.order.shape[1]} ranked neighbours each "
                f"({kind})."]

    @property
    def n_units(self) -> int:
        """Number of ranked units."""
        return len(self.ids)

    def positions(self, codes: Any, *, what: str = "LA") -> np.ndarray:
        """Integer positions of ``codes`` in :attr:`ids`; DesignError naming any unknown code."""
        lookup = pd.Index(self.ids)
        arr = np.asarray(list(codes) if not isinstance(codes, str) else [codes], dtype=object)
        pos = lookup.get_indexer(arr)
        if (pos < 0).any():
            missing = ", ".join(map(str, arr[pos < 0]))
            raise DesignError(f"{what} {missing} not found among the ranked units "
                              "(not in the data, or not in the neighbour list).")
        return pos.astype(np.intp)

    def select(self, rows: np.ndarray, k: int, excluded: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Return the first ``k`` neighbours of each unit in ``rows`` that are not ``excluded``.

        Parameters
        ----------
        rows : array of int
            Positions of the units whose neighbours are wanted.
        k : int
            Neighbours to keep per unit.
        excluded : bool array of shape ``(n,)``, optional
            Units that may not serve as neighbours (a unit is never its own neighbour).

        Returns
        -------
        (neighbours, distance) : tuple of arrays of shape ``(len(rows), k)``
            Positions (``-1`` where fewer than ``k`` remain) and their distances.
        """
        rows = np.asarray(rows, dtype=np.intp)
        order = self.order[rows]
        dist = self.distance[rows]
        valid = order >= 0
        if excluded is not None:
            valid &= ~np.asarray(excluded, dtype=bool)[np.where(valid, order, 0)]
        valid &= order != rows[:, None]
        # rank among the kept neighbours; keep the first k of them
        kept_rank = np.cumsum(valid, axis=1)
        keep = valid & (kept_rank <= k)
        out = np.full((len(rows), k), -1, dtype=np.intp)
        out_d = np.full((len(rows), k), np.nan)
        r, c = np.nonzero(keep)
        slot = kept_rank[r, c] - 1
        out[r, slot] = order[r, c]
        out_d[r, slot] = dist[r, c]
        return out, out_d

    def original_rank(self, rows: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        """Rank (1-based) of each selected neighbour in its unit's full list, before exclusions.

        ``neighbours`` is the first output of :meth:`select` for ``rows``; ``-1`` stays ``-1``.
        """
        order = self.order[np.asarray(rows, dtype=np.intp)]
        nb = np.asarray(neighbours, dtype=np.intp)
        eq = order[:, None, :] == nb[:, :, None]
        return np.where(nb >= 0, eq.argmax(axis=2) + 1, -1)

    def to_frame(self, k: int | None = None) -> pd.DataFrame:
        """Tidy table ``la_code, neighbour, rank, distance`` (first ``k`` ranks)."""
        m = self.order.shape[1] if k is None else min(k, self.order.shape[1])
        order = self.order[:, :m]
        i, r = np.nonzero(order >= 0)
        return pd.DataFrame({"la_code": self.ids[i], "neighbour": self.ids[order[i, r]],
                             "rank": r + 1, "distance": self.distance[i, r]})

    @classmethod
    def from_distances(cls, ids: Any, distances: np.ndarray) -> NeighbourRanking:
        """Rank every unit's neighbours by a full ``(n, n)`` distance matrix (stable ties)."""
        ids = np.asarray(ids, dtype=object)
        d = np.array(distances, dtype=float, copy=True)
        np.fill_diagonal(d, np.inf)
        order = np.argsort(d, axis=1, kind="stable")[:, :-1]
        dist = np.take_along_axis(d, order, axis=1)
        return cls(ids=ids, order=order.astype(np.intp), distance=dist, complete=True)

    @classmethod
    def from_table(cls, table: pd.DataFrame, *, id: str = "la_code",
                   neighbour: str = "neighbour", rank: str = "rank",
                   distance: str | None = "distance") -> NeighbourRanking:
        """Build from a tidy neighbour list (one row per unit x ranked neighbour).

        ``rank`` must be numeric (not text, which would sort ``"10"`` before ``"2"``), whole
        and at least 1; ranks need not be consecutive (only their order is used). A DataError
        names the column and an example LA when a rank is bad, when two neighbours share a
        rank, when a neighbour is listed twice for an LA, or when an LA lists itself.
        """
        check_frame(table, "neighbours")
        cols = check_columns(table, [id, neighbour, rank], what="neighbour-list column",
                             name="neighbours")
        if table[cols].isna().any().any():
            raise DataError(f"neighbour list has missing values in {', '.join(cols)}.")
        src_codes = table[id].astype(str).to_numpy(dtype=object)
        dst_codes = table[neighbour].astype(str).to_numpy(dtype=object)
        ranks = _check_ranks(table[rank], rank, src_codes)

        def _fail(bad: np.ndarray, problem: str) -> None:
            if bad.any():
                shown = ", ".join(map(str, pd.unique(src_codes[bad])[:10]))
                raise DataError(f"neighbour list {problem} for LA {shown}.")

        keys = pd.DataFrame({"src": src_codes, "dst": dst_codes, "rank": ranks})
        _fail(keys.duplicated(["src", "rank"], keep=False).to_numpy(),
              f"has more than one neighbour at the same {rank!r}")
        _fail(keys.duplicated(["src", "dst"], keep=False).to_numpy(),
              f"lists the same {neighbour!r} more than once")
        _fail(src_codes == dst_codes, f"has an LA as its own {neighbour!r}")
        codes = pd.unique(pd.concat([table[id], table[neighbour]], ignore_index=True)
                          .astype(str))
        ids = np.asarray(codes, dtype=object)
        lookup = pd.Index(ids)
        src = lookup.get_indexer(src_codes)
        dst = lookup.get_indexer(dst_codes)
        tab = pd.DataFrame({"src": src, "dst": dst, "rank": ranks,
                            "dist": (table[distance].to_numpy(float)
                                     if distance is not None and distance in table
                                     else np.nan)})
        tab = tab.sort_values(["src", "rank"], kind="stable")
        slot = tab.groupby("src").cumcount().to_numpy()
        m = int(slot.max()) + 1 if len(slot) else 0
        order = np.full((len(ids), m), -1, dtype=np.intp)
        dist = np.full((len(ids), m), np.nan)
        order[tab["src"].to_numpy(), slot] = tab["dst"].to_numpy()
        dist[tab["src"].to_numpy(), slot] = tab["dist"].to_numpy()
        return cls(ids=ids, order=order, distance=dist, complete=False)


def _check_ranks(col: pd.Series, name: str, src: np.ndarray) -> np.ndarray:
    """Ranks as float: numeric (not bool or text), finite, whole and >= 1, or a DataError."""
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if not numeric and col.dtype == object:  # e.g. Python ints after a concat
        numeric = all(isinstance(v, (int, float, np.integer, np.floating))
                      and not isinstance(v, (bool, np.bool_)) for v in col)
    def show(v: Any) -> str:
        return repr(v.item() if isinstance(v, np.generic) else v)

    if not numeric:
        i = next((j for j, v in enumerate(col) if isinstance(v, (str, bool, np.bool_))), 0)
        hint = (" (text ranks would sort '10' before '2'; convert them with pd.to_numeric)"
                if isinstance(col.iloc[i], str) else "")
        raise DataError(f"neighbour-list column {name!r} must be numeric; got {col.dtype}, "
                        f"e.g. {show(col.iloc[i])} for LA {src[i]}{hint}.")
    r = col.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(r) | (r != np.round(r)) | (r < 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"neighbour-list column {name!r} must hold whole numbers >= 1; got "
                        f"{show(col.iloc[i])} for LA {src[i]} ({int(bad.sum())} such value(s)).")
    return r


def as_ranking(neighbours: Any, *, id: str = "la_code") -> NeighbourRanking:
    """Turn what a user passes as ``neighbours`` into a :class:`NeighbourRanking`.

    Accepted: a ranking; a fitted statistical-neighbour model (anything with a ``ranking``
    attribute, such as the result of ``StatisticalNeighbours.fit``); a tidy table with columns
    ``id``, ``neighbour``, ``rank`` (and optionally ``distance``), such as
    ``load_statistical_neighbours()`` or ``fitted.neighbours_``.
    """
    if isinstance(neighbours, NeighbourRanking):
        return neighbours
    ranking = getattr(neighbours, "ranking", None)
    if isinstance(ranking, NeighbourRanking):
        return ranking
    if isinstance(neighbours, pd.DataFrame):
        return NeighbourRanking.from_table(neighbours, id=id)
    raise DataError("`neighbours` must be a fitted StatisticalNeighbours result or a table "
                    f"with columns {id!r}, 'neighbour' and 'rank'; got "
                    f"{type(neighbours).__name__}.")


def barred_codes(neighbours: Any) -> tuple[str, ...]:
    """LA codes that a fitted neighbour model bars from every comparison group.

    A :class:`~sosstats.neighbours.model.FittedNeighbours` (fitted, or built from a published
    list) records the LAs flagged as ``contaminated`` (using a similar practice model): they are
    never anyone's neighbour, nor a donor, nor drawn as a pseudo-pilot. Functions that accept a
    fitted model as ``neighbours`` add these codes to their own ``exclude``. Tables and plain
    rankings bar nothing.
    """
    if isinstance(neighbours, (pd.DataFrame, NeighbourRanking)):
        return ()
    return tuple(str(c) for c in getattr(neighbours, "contaminated", ()) or ())


def resolve_k(neighbours: Any, k: Any, *, name: str = "k") -> int:
    """Neighbours per treated LA: ``k`` if given, else a fitted model's ``k``, else 10.

    A fitted model (:class:`~sosstats.neighbours.model.FittedNeighbours`, fitted or from a
    published list) defines each LA's comparison group as its first ``fitted.k`` neighbours, so
    that is the default. An explicit ``k`` wins but may not exceed the fitted ``k`` (the model
    was not asked for more neighbours): a :class:`~sosstats.errors.DesignError` names both.
    Plain rankings and tables have no ``k`` of their own; the default is then
    :data:`DEFAULT_K`.
    """
    fitted_k = None
    if not isinstance(neighbours, (pd.DataFrame, NeighbourRanking)):
        fitted_k = getattr(neighbours, "k", None)
    if k is None:
        return int(fitted_k) if fitted_k is not None else DEFAULT_K
    k = check_int(k, name, minimum=1)
    if fitted_k is not None and k > int(fitted_k):
        raise DesignError(f"`{name}` = {k} is larger than the k = {fitted_k} the neighbour model "
                          f"was fitted with; refit it with k={k} or pass {name} <= {fitted_k} "
                          f"(or leave {name} out to use {fitted_k}).")
    return k


def describe_neighbours(neighbours: Any) -> str:
    """A short label of the neighbour model a result was computed with (for its notes).

    A fitted model names its features (or says it is a published list); a table with a single
    ``model`` value (``load_statistical_neighbours``) gives that label; otherwise a generic
    "neighbour table" / "neighbour ranking".
    """
    if isinstance(neighbours, NeighbourRanking):
        return "neighbour ranking"
    if isinstance(neighbours, pd.DataFrame):
        if "model" in neighbours.columns and neighbours["model"].nunique() == 1:
            return str(neighbours["model"].iloc[0])
        return "neighbour table"
    source = getattr(neighbours, "source", None)
    features = tuple(getattr(neighbours, "features", ()) or ())
    if source == "fitted" and features:
        shown = ", ".join(features[:4]) + (f" and {len(features) - 4} more"
                                           if len(features) > 4 else "")
        return f"StatisticalNeighbours fitted on {shown}"
    if source == "published":
        return "published neighbour list"
    return type(neighbours).__name__
