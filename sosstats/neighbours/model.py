"""Statistical nearest neighbours: weighted Euclidean distance on standardised LA features.

:class:`StatisticalNeighbours` holds a specification (features, weights, k, standardisation,
LAs to keep apart); :meth:`StatisticalNeighbours.fit` returns a frozen :class:`FittedNeighbours`.
:func:`from_published` wraps a published list (DfE's ten neighbours) in the same result type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sosstats._kernels.distance import STANDARDIZE_METHODS, distances, standardize_params
from sosstats._validate import (
    as_list,
    check_codes,
    check_columns,
    check_frame,
    check_int,
    check_numeric_columns,
    check_option,
    check_unique,
)
from sosstats.errors import DataError, DesignError
from sosstats.neighbours.ranking import NeighbourRanking
from sosstats.neighbours.stability import NeighbourOverlap, neighbour_recovery, neighbour_stability

__all__ = ["StatisticalNeighbours", "FittedNeighbours", "from_published", "CLOSENESS_BANDS",
           "CLOSENESS_QUANTILES"]

#: band labels, closest first (DfE's wording)
CLOSENESS_BANDS = ("Extremely close", "Very close", "Close", "Somewhat close", "Not close")
#: quantiles of all pairwise LA distances that separate the bands (our rule, not DfE's). Chosen
#: so that a fit on seven LAIT context measures (2019) puts about DfE's 2021 shares of the ten
#: neighbours in each band (6%, 60%, 19%, 9%, 7%); see docs/neighbours.md
CLOSENESS_QUANTILES = (0.005, 0.09, 0.17, 0.25)


def _codes(values: Any, what: str, known: pd.Index | None = None) -> tuple[str, ...]:
    codes = tuple(check_codes(values, what))
    if known is not None:
        missing = [c for c in codes if c not in known]
        if missing:
            raise DataError(f"`{what}` LA codes not in the data: {', '.join(missing)}.")
    return codes


def _check_weights(weights: Any, features: list[str]) -> np.ndarray:
    if weights is None:
        w = np.ones(len(features))
    elif isinstance(weights, (Mapping, pd.Series)):
        keys = [str(key) for key in weights.keys()]
        unknown = [key for key in keys if key not in features]
        missing = [f for f in features if f not in keys]
        if unknown or missing:
            raise DataError("`weights` keys must be the features: "
                            + (f"unknown {', '.join(map(repr, unknown))}; " if unknown else "")
                            + (f"missing {', '.join(map(repr, missing))}" if missing else ""))
        w = np.array([weights[f] for f in features], dtype=float)
    else:
        w = np.asarray(list(weights), dtype=float)
        if w.shape != (len(features),):
            raise DataError(f"`weights` has {w.size} values for {len(features)} features.")
    bad = [f for f, x in zip(features, w) if not (np.isfinite(x) and x >= 0)]
    if bad:
        raise DataError(f"`weights` must be finite and non-negative; bad for "
                        f"{', '.join(map(repr, bad))}.")
    if w.sum() <= 0:
        raise DataError("`weights` are all zero.")
    return w / w.sum()


def _bands(d: np.ndarray, edges: np.ndarray) -> np.ndarray:
    labels = np.asarray(CLOSENESS_BANDS, dtype=object)
    out = labels[np.searchsorted(edges, d, side="left")]
    return np.where(np.isnan(d), None, out)


class StatisticalNeighbours:
    r"""Statistical nearest-neighbour model (DfE / CIPFA style).

    Parameters
    ----------
    features : list of str
        Numeric LA-level columns (context measures such as child poverty, FSM, EAL).
    weights : dict or sequence of float, optional
        Non-negative feature weights (a dict needs every feature); normalised to sum to 1.
        ``None``: equal weights. :func:`learn_weights` estimates them from outcomes.
    k : int
        Neighbours per LA (DfE: 10, CIPFA: 15).
    standardize : {"zscore", "robust", "range", "none"}
        How features are put on a common scale before weighting.
    exclude : list of str, optional
        LA codes kept out of each other's comparison groups (the pilots): each still gets
        ``k`` neighbours, never another excluded LA.
    contaminated : list of str, optional
        LA codes that never serve as anyone's neighbour (using a similar practice model).

    Notes
    -----
    With standardised features :math:`z_{ij} = (x_{ij} - c_j) / s_j` and weights
    :math:`w_j \ge 0`, :math:`\sum_j w_j = 1`, the distance between LAs ``a`` and ``b`` is

    .. math:: d(a, b) = \sqrt{\sum_j w_j (z_{aj} - z_{bj})^2},

    a root weighted mean squared difference in standard-deviation units. Each LA's
    neighbours are the ``k`` eligible LAs with the smallest distance (ties: smaller LA code).
    This is the distance of DfE's children's services model (NFER, Benton et al. 2007) and of
    CIPFA's nearest-neighbour model; see ``docs/neighbours.md``.

    References
    ----------
    Benton, T., Chamberlain, T., Wilson, R. and Teeman, D. (2007). *The development of the
    Children's Services Statistical Neighbour Benchmarking Model*. NFER, Slough.
    """

    def __init__(self, features: Sequence[str], *, weights: Any = None, k: int = 10,
                 standardize: str = "zscore", exclude: Sequence[str] | None = None,
                 contaminated: Sequence[str] | None = None) -> None:
        self.features = features
        self.weights = weights
        self.k = k
        self.standardize = standardize
        self.exclude = exclude
        self.contaminated = contaminated

    def __repr__(self) -> str:
        return (f"StatisticalNeighbours(features={as_list(self.features)!r}, k={self.k}, "
                f"standardize={self.standardize!r})")

    def fit(self, las: pd.DataFrame, *, id: str = "la_code") -> FittedNeighbours:
        """Compute distances and neighbours for the LAs in ``las`` (one row per LA).

        Returns
        -------
        FittedNeighbours
            A new frozen result; the model and ``las`` are not modified.
        """
        check_frame(las, "las")
        features = as_list(self.features)
        if not features:
            raise DataError("`features` is empty.")
        dup = sorted({f for f in features if features.count(f) > 1})
        if dup:
            raise DataError(f"`features` repeats {', '.join(map(repr, dup))}.")
        check_columns(las, [id], what="id column", name="las")
        if las[id].isna().any():
            raise DataError(f"`las` has missing values in the id column {id!r}.")
        check_unique(las, id, name="las")
        check_option(self.standardize, STANDARDIZE_METHODS, "standardize")
        k = check_int(self.k, "k", minimum=1)
        w = _check_weights(self.weights, features)
        codes = las[id].astype(str).to_numpy(dtype=object)
        x = check_numeric_columns(las, features, what="feature", name="las", allow_nan=True,
                                  labels=codes)
        nan = np.isnan(x)
        if nan.any():
            parts = [f"{f!r} for {', '.join(codes[nan[:, j]][:10])}"
                     for j, f in enumerate(features) if nan[:, j].any()]
            raise DataError(f"feature values missing: {'; '.join(parts)}.")
        known = pd.Index(codes)
        exclude = _codes(self.exclude, "exclude", known)
        contaminated = _codes(self.contaminated, "contaminated", known)
        center, scale = standardize_params(x, self.standardize)
        flat = [f for f, s in zip(features, scale) if not s > 0]
        if flat:
            raise DataError(f"feature {', '.join(map(repr, flat))} has zero spread "
                            f"({self.standardize!r} scale); it cannot inform the distance.")
        n = len(codes)
        is_ex = known.isin(exclude)
        is_con = known.isin(contaminated)
        # eligible neighbours of LA i: the others, less contaminated LAs, less (for an excluded
        # LA) the other excluded LAs
        n_elig = np.where(is_ex, n - (is_ex | is_con).sum(),
                          n - 1 - is_con.sum() + is_con)
        if k >= n_elig.min():
            worst = codes[n_elig == n_elig.min()][:5]
            raise DesignError(f"k={k} is not smaller than the number of eligible neighbours "
                              f"({int(n_elig.min())}) of LA {', '.join(worst)}; lower k or "
                              "exclude fewer LAs.")
        # work in code order so that ties are broken by LA code, whatever the row order
        perm = np.argsort(codes, kind="stable")
        z = (x - center) / scale
        d = distances(z, weights=w)
        ranking = NeighbourRanking.from_distances(codes[perm], d[np.ix_(perm, perm)])
        pos = np.empty(n, dtype=np.intp)
        pos[perm] = np.arange(n)  # pos[i]: position in the ranking of input row i
        nb = np.full((n, k), -1, dtype=np.intp)
        nd = np.full((n, k), np.nan)
        ex_r, con_r = is_ex[perm], is_con[perm]
        for rows, mask in ((np.flatnonzero(~is_ex), con_r), (np.flatnonzero(is_ex), ex_r | con_r)):
            if len(rows):
                nb[rows], nd[rows] = ranking.select(pos[rows], k, mask)
        iu = np.triu_indices(n, 1)
        edges = np.quantile(d[iu], CLOSENESS_QUANTILES)
        table = pd.DataFrame({"la_code": np.repeat(codes, k), "neighbour": ranking.ids[nb.ravel()],
                              "rank": np.tile(np.arange(1, k + 1), n), "distance": nd.ravel()})
        table["closeness"] = _bands(table["distance"].to_numpy(), edges)
        return FittedNeighbours(
            neighbours_=table,
            distances_=pd.DataFrame(d, index=pd.Index(codes, name=id), columns=codes),
            ranking=ranking, features=tuple(features),
            weights=pd.Series(w, index=features, name="weight"),
            center=pd.Series(center, index=features, name="center"),
            scale=pd.Series(scale, index=features, name="scale"),
            k=k, exclude=exclude, contaminated=contaminated, standardize=self.standardize,
            closeness_edges=pd.Series(edges, index=list(CLOSENESS_BANDS[:-1]),
                                      name="max_distance"),
            source="fitted", id=id)

    @classmethod
    def from_published(cls, table: pd.DataFrame, *, k: int = 10, **kwargs: Any
                       ) -> FittedNeighbours:
        """Wrap a published neighbour list; see :func:`from_published`."""
        return from_published(table, k=k, **kwargs)


@dataclass(frozen=True, eq=False)
class FittedNeighbours:
    """Statistical neighbours of every LA: fitted by :class:`StatisticalNeighbours` or published.

    Attributes
    ----------
    neighbours_ : pandas.DataFrame
        ``la_code, neighbour, rank, distance, closeness``: ``k`` rows per LA (fewer for a
        published list once exclusions remove some), exclusions applied.
    distances_ : pandas.DataFrame or None
        ``n x n`` weighted Euclidean distances on the standardised features (None if published).
    ranking : NeighbourRanking
        Every LA's full ranking (``complete=True`` when fitted), before exclusions.
    features, weights, center, scale, k, exclude, contaminated, standardize
        The specification and the standardisation used.
    closeness_edges : pandas.Series
        Largest distance of each band but the last (quantiles of all pairwise distances).
    source : {"fitted", "published"}
    id : str
        Name of the LA code column of the input.
    """

    neighbours_: pd.DataFrame
    distances_: pd.DataFrame | None
    ranking: NeighbourRanking
    features: tuple[str, ...]
    weights: pd.Series
    center: pd.Series
    scale: pd.Series
    k: int
    exclude: tuple[str, ...]
    contaminated: tuple[str, ...]
    standardize: str | None
    closeness_edges: pd.Series
    source: str
    id: str = "la_code"

    def __repr__(self) -> str:
        n = self.neighbours_["la_code"].nunique()
        what = f"features={list(self.features)}" if self.features else "published list"
        return (f"FittedNeighbours({self.source}, {n} LAs, k={self.k}, {what}, "
                f"{len(self.exclude)} excluded, {len(self.contaminated)} contaminated)")

    def neighbours_of(self, la: str) -> pd.DataFrame:
        """Neighbours of one LA (rows of :attr:`neighbours_`); DataError if unknown."""
        rows = self.neighbours_[self.neighbours_["la_code"] == str(la)]
        if rows.empty:
            raise DataError(f"LA {la} has no neighbours in this fit.")
        return rows.reset_index(drop=True)

    def stability(self, other: FittedNeighbours, *, k: int | None = None) -> NeighbourOverlap:
        """Overlap of neighbour sets with another fit (e.g. another year).

        See :func:`~sosstats.neighbours.stability.neighbour_stability`.
        """
        return neighbour_stability(self, other, k=k)

    def recovery(self, published: Any, *, k: int | None = None) -> NeighbourOverlap:
        """How many of a published list's first ``k`` neighbours this fit's ``k`` contain."""
        return neighbour_recovery(self, published, k=k)

    def plot(self, la: str | None = None, *, kind: str = "bar", ax: Any = None,
             names: Any = None, show_names: bool = True) -> Any:
        """Draw one LA's neighbours.

        ``kind="bar"``: the LA's neighbours' distances, coloured by closeness band.
        ``kind="map"``: all LAs on a 2-D classical-MDS map of :attr:`distances_`, with ``la``
        and its neighbours highlighted. LAs are named ("Bristol", not "E06000023"), falling
        back to the code.

        Parameters
        ----------
        la : str, optional
            The LA's code (needed for ``kind="bar"``).
        kind : {"bar", "map"}
            What to draw.
        ax : matplotlib Axes, optional
            Axes to draw into; by default a new figure.
        names : mapping or DataFrame, optional
            Extra code -> name pairs (or a frame with ``la_code`` and ``la_name``).
        show_names : bool
            Label LAs by name (default) or by code.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        from sosstats._plotting import la_names, new_axes

        def label(codes: Any) -> list[str]:
            codes = [str(c) for c in codes]
            return la_names(codes, names=names) if show_names else codes

        check_option(kind, ("bar", "map"), "kind")
        if kind == "bar" and la is None:
            raise DataError("`la` is needed for kind='bar'.")
        if kind == "map" and self.distances_ is None:
            raise DataError("a published list has no distances to map; use kind='bar'.")
        ax = new_axes(ax, figsize=(7, 4.5))
        if kind == "bar":
            rows = self.neighbours_of(la)
            colours = dict(zip(CLOSENESS_BANDS, plt.cm.viridis(np.linspace(0, 0.9, 5))))
            ax.barh(label(rows["neighbour"])[::-1], rows["distance"][::-1],
                    color=[colours.get(c, "grey") for c in rows["closeness"][::-1]])
            ax.set_xlabel("distance (weighted, standardised units)")
            ax.set_title(f"Statistical neighbours of {label([la])[0]}")
            return ax
        d2 = self.distances_.to_numpy() ** 2
        n = d2.shape[0]
        j = np.eye(n) - 1.0 / n
        vals, vecs = np.linalg.eigh(-0.5 * j @ d2 @ j)
        xy = vecs[:, -2:][:, ::-1] * np.sqrt(np.maximum(vals[-2:][::-1], 0))
        ax.scatter(xy[:, 0], xy[:, 1], s=12, color="lightgrey")
        if la is not None:
            codes = self.distances_.index.astype(str)
            nb = codes.isin(self.neighbours_of(la)["neighbour"])
            me = codes == str(la)
            ax.scatter(xy[nb, 0], xy[nb, 1], s=25, color="tab:blue", label="neighbours")
            ax.scatter(xy[me, 0], xy[me, 1], s=60, color="tab:red", label=label([la])[0])
            ax.legend()
        ax.set_xlabel("MDS 1")
        ax.set_ylabel("MDS 2")
        return ax


def from_published(table: pd.DataFrame, *, k: int = 10, id: str = "la_code",
                   neighbour: str = "neighbour", rank: str = "rank",
                   exclude: Sequence[str] | None = None,
                   contaminated: Sequence[str] | None = None) -> FittedNeighbours:
    """Wrap a published neighbour list (one row per LA x ranked neighbour) as a fit.

    Parameters
    ----------
    table : pandas.DataFrame
        Such as ``load_statistical_neighbours(model="2021")``: columns ``id``, ``neighbour``,
        ``rank`` and optionally ``closeness`` and ``distance``. One model only.
    k : int
        Neighbours kept per LA (at most the longest published list).
    exclude, contaminated : list of str, optional
        As for :class:`StatisticalNeighbours`; a published list cannot be refilled, so an LA
        may keep fewer than ``k`` neighbours.

    Returns
    -------
    FittedNeighbours
        ``ranking.complete`` is False and ``distances_`` is None.
    """
    check_frame(table, "table")
    check_columns(table, [id, neighbour, rank], what="neighbour-list column", name="table")
    if "model" in table and table["model"].nunique() > 1:
        models = ", ".join(map(str, table["model"].unique()))
        raise DataError(f"`table` holds several models ({models}); pick one.")
    k = check_int(k, "k", minimum=1)
    dist_col = "distance" if "distance" in table else None
    ranking = NeighbourRanking.from_table(table, id=id, neighbour=neighbour, rank=rank,
                                          distance=dist_col)
    if k > ranking.order.shape[1]:
        raise DesignError(f"k={k} but the published list has at most {ranking.order.shape[1]} "
                          "neighbours per LA.")
    known = pd.Index(ranking.ids)
    exclude = _codes(exclude, "exclude", known)
    contaminated = _codes(contaminated, "contaminated", known)
    is_ex, is_con = known.isin(exclude), known.isin(contaminated)
    has = np.flatnonzero((ranking.order >= 0).any(axis=1))
    nb = np.full((len(known), k), -1, dtype=np.intp)
    nd = np.full((len(known), k), np.nan)
    for rows in (has[~is_ex[has]], has[is_ex[has]]):
        if len(rows):
            mask = is_con | (is_ex if is_ex[rows[0]] else False)
            nb[rows], nd[rows] = ranking.select(rows, k, mask)
    i, r = np.nonzero(nb[has] >= 0)
    out = pd.DataFrame({"la_code": ranking.ids[has[i]], "neighbour": ranking.ids[nb[has][i, r]],
                        "rank": r + 1, "distance": nd[has][i, r]})
    if "closeness" in table:
        lab = pd.DataFrame({"la_code": table[id].astype(str).to_numpy(),
                            "neighbour": table[neighbour].astype(str).to_numpy(),
                            "closeness": table["closeness"].to_numpy()})
        out = out.merge(lab.drop_duplicates(["la_code", "neighbour"]),
                        on=["la_code", "neighbour"], how="left")
    else:
        out["closeness"] = None
    return FittedNeighbours(
        neighbours_=out, distances_=None, ranking=ranking, features=(),
        weights=pd.Series(dtype=float, name="weight"), center=pd.Series(dtype=float),
        scale=pd.Series(dtype=float), k=k, exclude=exclude, contaminated=contaminated,
        standardize=None, closeness_edges=pd.Series(dtype=float, name="max_distance"),
        source="published", id=id)
